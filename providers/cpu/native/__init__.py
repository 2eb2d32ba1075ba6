"""Native float32 kernels of the CPU provider, compiled C called through ctypes.

They are registered as `impl="native"` overrides of the numpy kernels, which stay the reference
and the fallback (other dtypes, a missing library, shapes the C code does not cover); the
partition notes "kernel native" on the nodes they run. Families: depthwise and small-group 2-D
(and 1-D) convolution with a fused bias / residual / activation epilogue (`Conv` and the CPU
provider's `FusedConv`), one-input-channel convolution as one GEMM over strided frames,
elementwise activations, and max / average / global pooling. See docs/cpu-native.md.
"""

from __future__ import annotations

from . import activation, conv, pool
from .activation import silu
from .library import unavailable_reason

__all__ = ["activation", "conv", "pool", "silu", "unavailable_reason"]
