"""Native float32 kernels of the CPU provider, compiled C called through ctypes.

They are registered as `impl="native"` overrides of the numpy kernels, which stay the reference
and the fallback (other dtypes, a missing library, shapes the C code does not cover); the
partition notes "kernel native" on the nodes they run. Families: depthwise and small-group 2-D
(and 1-D) convolution with a fused bias / residual / activation epilogue (`Conv` and the CPU
provider's `FusedConv`), one-input-channel convolution as one GEMM over strided frames, dense and 1x1
convolution and MatMul / Gemm with a constant B and few rows (`gemm`) by the packed SGEMM of csrc/sgemm.c,
elementwise activations (and com.microsoft BiasGelu: `bias_gelu`), max / average / global pooling,
Softmax / LogSoftmax, LayerNormalization, SkipLayerNormalization and the CPU fusion's FusedAffine
(`normalization`), Resize and Upsample over the last two axes (`resize`), and the integer GEMM of the
quantized operators
(`quantized`: MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv, DynamicQuantizeLinear,
MatMulIntegerToFloat, DynamicQuantizeMatMul), and the LSTM recurrences (`rnn`: LSTM and
DynamicQuantizeLSTM, every time step of a direction in one C call). See docs/cpu-native.md.
"""

from __future__ import annotations

from . import activation, bias_gelu, conv, gemm, normalization, pool, quantized, resize, rnn, softmax
from .activation import silu
from .library import unavailable_reason

__all__ = ["activation", "bias_gelu", "conv", "gemm", "normalization", "pool", "quantized", "resize", "rnn", "silu",
           "softmax", "unavailable_reason"]
