"""Kernels of the com.microsoft domain: the contrib operators onnxruntime's own tools emit.

`quantized` (DynamicQuantizeMatMul, MatMulIntegerToFloat, QGemm and the QLinear element-wise
operators of quantize_static's QOperator format), `quantized_pool` (QLinearAveragePool,
QLinearGlobalAveragePool), `quantized_lstm` (DynamicQuantizeLSTM, what quantize_dynamic makes of
an LSTM), `quantized_weights` (MatMulNBits, GatherBlockQuantized), `activation` (Gelu family,
BiasAdd), `normalization` (SkipLayerNormalization family, EmbedLayerNormalization), `attention`
(Attention, QAttention, MultiHeadAttention, GroupQueryAttention, RotaryEmbedding) and `fused`
(FusedMatMul, FusedConv, FusedGemm, NhwcConv).
onnx has no schemas for this domain, so a kernel's version is the model's opset for it (1).
"""

from __future__ import annotations

from . import activation, attention, fused, normalization, quantized, quantized_lstm, quantized_pool, quantized_weights

__all__ = ["activation", "attention", "fused", "normalization", "quantized", "quantized_lstm", "quantized_pool",
           "quantized_weights"]
