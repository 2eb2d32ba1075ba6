"""Quantized pooling of the com.microsoft domain: QLinearAveragePool and QLinearGlobalAveragePool
(NCHW, or NHWC with channels_last=1). The average is taken of the dequantized values in float32
and requantized with the output's scale and zero point."""

from __future__ import annotations

from math import prod

import numpy as np

from ep_runtime.op_shapes import avg_pool_counts, pool_geometry, window_slices

from ..conv import pad_spatial
from ..quantization import int_range
from ..registry import kernel
from ._common import MS, check_8bit, dequantize, float_scale, requantize, zero_point


def _to_channels_first(x: np.ndarray, channels_last: int, op: str) -> np.ndarray:
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have rank >= 3 (N, C, spatial...), got shape {x.shape}")
    if channels_last not in (0, 1):
        raise ValueError(f"{op}: channels_last must be 0 or 1, got {channels_last}")
    return np.moveaxis(x, -1, 1) if channels_last else x


def _from_channels_first(y: np.ndarray, channels_last: int) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(y, 1, -1)) if channels_last else y


@kernel("QLinearAveragePool", 1, domain=MS)
def QLinearAveragePool(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray | None, y_scale: np.ndarray,
                       y_zero_point: np.ndarray | None = None, *, auto_pad: str = "NOTSET", ceil_mode: int = 0,
                       channels_last: int = 0, count_include_pad: int = 0, kernel_shape: list[int] | None = None,
                       pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    """quantize(AveragePool(dequantize(x))) with AveragePool's geometry attributes, in float32: the
    window sum divided by its count (the whole kernel with count_include_pad, as onnxruntime
    counts), then round(mean / y_scale + y_zero_point)."""
    op = "QLinearAveragePool"
    dtype = check_8bit(x, "X", op)
    xs, xz = float_scale(x_scale, "x_scale", op), zero_point(x_zero_point, dtype, "x_zero_point", op)
    ys, yz = float_scale(y_scale, "y_scale", op), zero_point(y_zero_point, dtype, "y_zero_point", op)
    xf = dequantize(_to_channels_first(x, channels_last, op), xs, xz)
    geometry = pool_geometry(xf.shape, op, kernel_shape, strides, None, pads, auto_pad, ceil_mode)
    # one vectorized add per kernel tap, in row-major tap order: the float32 sum onnxruntime forms
    padded = pad_spatial(xf, geometry.begin, geometry.end_buf)
    total = np.zeros(xf.shape[:2] + tuple(geometry.out), np.float32)
    for offsets in np.ndindex(*kernel_shape):
        total += padded[(slice(None), slice(None)) + window_slices(offsets, geometry.dilations, geometry.strides,
                                                                    geometry.out)]
    count = None if count_include_pad else avg_pool_counts(
        xf.shape[2:], kernel_shape, geometry.strides, geometry.dilations, geometry.begin, geometry.end, geometry.out, 0)
    mean = total / (np.float32(prod(kernel_shape)) if count is None else count.astype(np.float32))
    lo, hi = int_range(dtype)
    q = np.clip(np.rint(mean / ys + yz), lo, hi)
    return _from_channels_first(np.asarray(q.astype(dtype)), channels_last)


@kernel("QLinearGlobalAveragePool", 1, domain=MS)
def QLinearGlobalAveragePool(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray, y_scale: np.ndarray,
                             y_zero_point: np.ndarray, *, channels_last: int = 0) -> np.ndarray:
    """The mean over all spatial positions per (N, C), requantized: the exact integer sum minus
    the zero point's share, times x_scale / (y_scale * positions) in float32."""
    op = "QLinearGlobalAveragePool"
    dtype = check_8bit(x, "X", op)
    xc = _to_channels_first(x, channels_last, op)
    xs, xz = float_scale(x_scale, "x_scale", op), zero_point(x_zero_point, dtype, "x_zero_point", op)
    ys, yz = float_scale(y_scale, "y_scale", op), zero_point(y_zero_point, dtype, "y_zero_point", op)
    axes = tuple(range(2, xc.ndim))
    size = int(np.prod(xc.shape[2:], dtype=np.int64))
    acc = xc.sum(axis=axes, keepdims=True, dtype=np.int64) - np.int64(xz) * size
    multiplier = xs / (ys * np.float32(max(size, 1)))
    return _from_channels_first(requantize(acc.astype(np.float32) * multiplier, yz, dtype), channels_last)
