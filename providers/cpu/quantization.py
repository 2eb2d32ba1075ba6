"""Quantization kernels: QuantizeLinear, DequantizeLinear (per tensor, per axis, blocked),
DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv.

Quantized values are integers (int2...int32, ml_dtypes int4/uint4/int2/uint2) or narrow floats
(float8 families, float4 e2m1). Integer arithmetic (matmul, conv) is done exactly in float64, where
BLAS is fast: products of 8/16-bit values summed over any realistic reduction length stay below
2**53. Rounding to integers is half-to-even, then saturating to the output type's range.
"""

from __future__ import annotations

from collections.abc import Sequence

import ml_dtypes
import numpy as np

from ep_runtime.graph import onnx_dtype_to_numpy
from ep_runtime.op_shapes import normalize_axis

from .cast import FLOAT8_SATURATING, cast_to, is_float
from .conv import conv
from .registry import kernel

FLOAT4 = np.dtype(ml_dtypes.float4_e2m1fn)
#: The ml_dtypes sub-byte integers (numpy reports kind "V" for them).
SUB_BYTE_INTS = frozenset(np.dtype(t) for t in (ml_dtypes.int4, ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2))
QUANT_INTS = frozenset(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16)) | SUB_BYTE_INTS


def is_int(dtype: np.dtype) -> bool:
    """numpy integers and the ml_dtypes sub-byte integers."""
    return dtype.kind in "iu" or dtype in SUB_BYTE_INTS


def int_range(dtype: np.dtype) -> tuple[int, int]:
    info = ml_dtypes.iinfo(dtype) if dtype in SUB_BYTE_INTS else np.iinfo(dtype)
    return int(info.min), int(info.max)


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def quant_param(value: np.ndarray, shape: Sequence[int], axis: int, block_size: int, op: str,
                what: str) -> np.ndarray:
    """A scale or zero point shaped to broadcast against an input of `shape`: a scalar (per
    tensor), a 1-D tensor along `axis` (per axis), or, with `block_size`, a tensor of the input's
    rank whose `axis` dim is ceil(shape[axis] / block_size) (blocked)."""
    value = np.asarray(value)
    rank = len(shape)
    if block_size:
        if block_size < 0:
            raise ValueError(f"{op}: block_size must be positive, got {block_size}")
        ax = normalize_axis(axis, rank, op)
        want = tuple(-(-d // block_size) if i == ax else d for i, d in enumerate(shape))
        if value.shape != want:
            raise ValueError(f"{op}: blocked {what} of shape {value.shape} does not match input shape "
                             f"{tuple(shape)} with block_size={block_size} on axis {axis} (expected {want})")
        return np.repeat(value, block_size, axis=ax)[(slice(None),) * ax + (slice(0, shape[ax]),)]
    if value.ndim == 0 or value.size == 1 and value.ndim == 1:
        return value.reshape(())
    if value.ndim != 1:
        raise ValueError(f"{op}: {what} must be a scalar or a 1-D tensor (or set block_size), got shape {value.shape}")
    ax = normalize_axis(axis, rank, op)
    if value.shape[0] != shape[ax]:
        raise ValueError(f"{op}: {what} has {value.shape[0]} elements but the input has {shape[ax]} "
                         f"along axis {axis} (shape {tuple(shape)})")
    return value.reshape([-1 if i == ax else 1 for i in range(rank)])


def saturate_to(y: np.ndarray, dtype: np.dtype, saturate: bool = True) -> np.ndarray:
    """Real values `y` stored as quantized `dtype`: integers round half to even and clip to the
    type's range; float8 casts round to nearest even, clipping to +-max when `saturate`."""
    if is_int(dtype):
        lo, hi = int_range(dtype)
        with np.errstate(invalid="ignore"):
            q = np.clip(np.rint(y), lo, hi)
        return np.asarray(np.nan_to_num(q, nan=0.0).astype(np.int64).astype(dtype))
    return np.asarray(cast_to(np.asarray(y), dtype, saturate))


# --------------------------------------------------------------------------- QuantizeLinear


def _quantized_dtype(zero_point: np.ndarray | None, output_dtype: int, op: str) -> np.dtype:
    dtype = np.dtype(np.uint8) if not output_dtype else onnx_dtype_to_numpy(output_dtype)
    if zero_point is not None:
        if output_dtype and zero_point.dtype != dtype:
            raise ValueError(f"{op}: output_dtype {dtype} differs from the zero point's dtype {zero_point.dtype}")
        dtype = zero_point.dtype
    if dtype not in QUANT_INTS and dtype not in FLOAT8_SATURATING and dtype != FLOAT4:
        raise ValueError(f"{op}: {dtype} is not a quantized type (int2/4/8/16, uint2/4/8/16, float8, float4)")
    return dtype


def quantize_linear(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None = None, *, axis: int = 1,
                    saturate: int = 1, block_size: int = 0, output_dtype: int = 0,
                    precision: int = 0) -> np.ndarray:
    """y = saturate(round(x / scale) + zero_point); float8 outputs are x / scale cast (RNE)."""
    op = "QuantizeLinear"
    dtype = _quantized_dtype(zero_point, output_dtype, op)
    scale = quant_param(scale, x.shape, axis, block_size, op, "y_scale")
    if precision:
        work = onnx_dtype_to_numpy(precision)
    elif x.dtype.kind == "f" and scale.dtype.kind == "f":
        work = np.result_type(x.dtype, scale.dtype)
    else:
        work = np.dtype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = x.astype(work) / scale.astype(work)
    if is_int(dtype):
        y = np.rint(y.astype(np.float64))
        if zero_point is not None:
            y = y + _f64(quant_param(zero_point, x.shape, axis, block_size, op, "y_zero_point"))
        return saturate_to(y, dtype)
    if dtype == FLOAT4 and zero_point is not None:
        y = y.astype(np.float32) + _f64(quant_param(zero_point, x.shape, axis, block_size, op, "y_zero_point"))
    return saturate_to(y, dtype, bool(saturate))


@kernel("QuantizeLinear", since=10, until=12, attributes={})
@kernel("QuantizeLinear", since=13, until=18, attributes={"axis": 1})
@kernel("QuantizeLinear", since=19, until=20, attributes={"axis": 1, "saturate": 1})
@kernel("QuantizeLinear", since=21, until=22,
        attributes={"axis": 1, "block_size": 0, "output_dtype": 0, "saturate": 1})
@kernel("QuantizeLinear", since=23)
def QuantizeLinear(x: np.ndarray, y_scale: np.ndarray, y_zero_point: np.ndarray | None = None, *,
                   axis: int = 1, block_size: int = 0, output_dtype: int = 0, precision: int = 0,
                   saturate: int = 1) -> np.ndarray:
    """Each version's attributes are declared at its registration; the ones it lacks keep their defaults
    (per-tensor scales before 13, saturation before 19)."""
    return quantize_linear(x, y_scale, y_zero_point, axis=axis, saturate=saturate, block_size=block_size,
                           output_dtype=output_dtype, precision=precision)


# --------------------------------------------------------------------------- DequantizeLinear


def dequantize_linear(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None = None, *, axis: int = 1,
                      block_size: int = 0, output_dtype: int = 0) -> np.ndarray:
    """y = (x - zero_point) * scale, in float32, returned in the scale's dtype (or output_dtype)."""
    op = "DequantizeLinear"
    if not (is_int(x.dtype) or x.dtype in FLOAT8_SATURATING or x.dtype == FLOAT4):
        raise ValueError(f"{op}: input of dtype {x.dtype} is not a quantized type")
    if zero_point is not None and zero_point.dtype != x.dtype:
        raise ValueError(f"{op}: zero point dtype {zero_point.dtype} differs from the input's {x.dtype}")
    if not is_float(scale.dtype):
        raise ValueError(f"{op}: x_scale must be a float tensor, got {scale.dtype}")
    out = onnx_dtype_to_numpy(output_dtype) if output_dtype else scale.dtype
    # int32 inputs need more than float32's 24 bits to stay exact
    work = np.float64 if x.dtype.itemsize >= 4 else np.float32
    dx = x.astype(work)
    if zero_point is not None:
        zp = quant_param(zero_point, x.shape, axis, block_size, op, "x_zero_point").astype(work)
        if x.dtype in FLOAT8_SATURATING and np.any(zp != 0):
            raise ValueError(f"{op}: a float8 zero point must be 0")
        dx = dx - zp
    y = dx * quant_param(scale, x.shape, axis, block_size, op, "x_scale").astype(np.float32)
    return np.asarray(y.astype(out))


@kernel("DequantizeLinear", since=10, until=12, attributes={})
@kernel("DequantizeLinear", since=13, until=20, attributes={"axis": 1})
@kernel("DequantizeLinear", since=21, until=22, attributes={"axis": 1, "block_size": 0})
@kernel("DequantizeLinear", since=23)
def DequantizeLinear(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray | None = None, *,
                     axis: int = 1, block_size: int = 0, output_dtype: int = 0) -> np.ndarray:
    """Each version's attributes are declared at its registration; the ones it lacks keep their defaults."""
    return dequantize_linear(x, x_scale, x_zero_point, axis=axis, block_size=block_size, output_dtype=output_dtype)


# --------------------------------------------------------------------------- DynamicQuantizeLinear


@kernel("DynamicQuantizeLinear", since=11, multi_output=True)
def DynamicQuantizeLinear(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 quantization over the range [min(x, 0), max(x, 0)]: (y, y_scale, y_zero_point)."""
    if x.dtype != np.float32:
        raise ValueError(f"DynamicQuantizeLinear: input must be float32, got {x.dtype}")
    hi = np.float32(max(0.0, float(x.max()))) if x.size else np.float32(0)
    lo = np.float32(min(0.0, float(x.min()))) if x.size else np.float32(0)
    scale = np.float32(1.0) if hi == lo else np.float32(hi - lo) / np.float32(255)
    zero_point = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
    y = np.clip(np.rint(x / scale) + zero_point, 0, 255)
    return (np.asarray(y.astype(np.uint8)), np.asarray(scale, dtype=np.float32),
            np.asarray(zero_point, dtype=np.uint8))


# --------------------------------------------------------------------------- integer MatMul / Conv


def _row_param(value: np.ndarray | None, a: np.ndarray, op: str, what: str) -> np.ndarray:
    """An A-side zero point / scale: a scalar or one value per row of A (axis -2)."""
    if value is None:
        return np.zeros(())
    v = np.asarray(value)
    if v.size == 1:
        return _f64(v.reshape(()))
    if a.ndim >= 2 and v.ndim == 1 and v.shape[0] == a.shape[-2]:
        return _f64(v)[:, None]
    if a.ndim >= 2 and v.ndim == a.ndim and v.shape[-1] == 1:
        return _f64(v)
    raise ValueError(f"{op}: {what} of shape {v.shape} is neither a scalar nor one value per row of A {a.shape}")


def _col_param(value: np.ndarray | None, b: np.ndarray, op: str, what: str) -> np.ndarray:
    """A B-side zero point / scale: a scalar or one value per column of B (last axis)."""
    if value is None:
        return np.zeros(())
    v = np.asarray(value)
    if v.size == 1:
        return _f64(v.reshape(()))
    if v.shape[-1] != b.shape[-1]:
        raise ValueError(f"{op}: {what} of shape {v.shape} is neither a scalar nor one value per column of B {b.shape}")
    return _f64(v)


def _int_matmul(a: np.ndarray, b: np.ndarray, a_zero: np.ndarray, b_zero: np.ndarray, op: str) -> np.ndarray:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{op}: inputs must have rank >= 1, got shapes {a.shape} and {b.shape}")
    try:
        return np.matmul(_f64(a) - a_zero, _f64(b) - b_zero)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be multiplied") from None


@kernel("MatMulInteger", since=10)
def MatMulInteger(a: np.ndarray, b: np.ndarray, a_zero_point: np.ndarray | None = None,
                  b_zero_point: np.ndarray | None = None) -> np.ndarray:
    """(A - a_zero_point) @ (B - b_zero_point) in int32."""
    op = "MatMulInteger"
    if not (is_int(a.dtype) and is_int(b.dtype)):
        raise ValueError(f"{op}: inputs must be integers, got {a.dtype} and {b.dtype}")
    y = _int_matmul(a, b, _row_param(a_zero_point, a, op, "a_zero_point"),
                    _col_param(b_zero_point, b, op, "b_zero_point"), op)
    return np.asarray(y.astype(np.int64).astype(np.int32))


def _requantize(acc: np.ndarray, multiplier: np.ndarray, y_zero_point: np.ndarray | None,
                default: np.dtype) -> np.ndarray:
    """acc * multiplier + y_zero_point stored as the zero point's type (or `default`)."""
    y = acc * multiplier
    dtype = default
    if y_zero_point is not None:
        dtype = y_zero_point.dtype
        if is_int(dtype):
            y = y + _f64(y_zero_point)
    return saturate_to(y, dtype)


def _scale_ratio(x_scale: np.ndarray, w_scale: np.ndarray, y_scale: np.ndarray) -> np.ndarray:
    """x_scale * w_scale / y_scale in the scales' own precision (as ONNX's reference computes it)."""
    return _f64(np.asarray(x_scale) * np.asarray(w_scale) / np.asarray(y_scale))


def _qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point,
                    acc: np.ndarray | None = None) -> np.ndarray:
    """QLinearMatMul; `acc`, when given, is the exact integer product (A - a_zp) @ (B - b_zp) as float64
    (a native kernel's), requantized as this kernel's own would be."""
    op = "QLinearMatMul"
    if acc is None:
        acc = _int_matmul(a, b, _row_param(a_zero_point, a, op, "a_zero_point"),
                          _col_param(b_zero_point, b, op, "b_zero_point"), op)
    a_s = np.asarray(a_scale)
    a_s = a_s.reshape(()) if a_s.size == 1 else a_s.reshape(a_s.shape + (1,) * (a_s.ndim == 1))
    b_s = np.asarray(b_scale)
    b_s = b_s.reshape(()) if b_s.size == 1 else b_s
    y_s = np.asarray(y_scale).reshape(())
    return _requantize(acc, _scale_ratio(a_s, b_s, y_s), y_zero_point, a.dtype)


@kernel("QLinearMatMul", since=10)
def QLinearMatMul(a: np.ndarray, a_scale: np.ndarray, a_zero_point: np.ndarray, b: np.ndarray,
                  b_scale: np.ndarray, b_zero_point: np.ndarray, y_scale: np.ndarray,
                  y_zero_point: np.ndarray) -> np.ndarray:
    """Quantized matmul: dequantize A and B, multiply, requantize with y_scale / y_zero_point."""
    return _qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point)


def _per_channel(value: np.ndarray | None, m: int, rank: int, op: str, what: str) -> np.ndarray:
    """A weight-side scalar or per-output-channel (M,) parameter, broadcastable to W or Y."""
    if value is None:
        return np.zeros(())
    v = np.asarray(value)
    if v.size == 1:
        return _f64(v.reshape(()))
    if v.ndim != 1 or v.shape[0] != m:
        raise ValueError(f"{op}: {what} must be a scalar or have one value per output channel ({m}), "
                         f"got shape {v.shape}")
    return _f64(v).reshape((m,) + (1,) * (rank - 1))


def _x_zero(value: np.ndarray | None, op: str) -> np.ndarray:
    if value is None:
        return np.zeros(())
    v = np.asarray(value)
    if v.size != 1:
        raise ValueError(f"{op}: x_zero_point must be a scalar (per-tensor), got shape {v.shape}")
    return _f64(v.reshape(()))


def _int_conv(x: np.ndarray, w: np.ndarray, x_zero: np.ndarray, w_zero: np.ndarray, b: np.ndarray | None,
              op: str, **attrs) -> np.ndarray:
    if not (is_int(x.dtype) and is_int(w.dtype)):
        raise ValueError(f"{op}: X and W must be integers, got {x.dtype} and {w.dtype}")
    if w.ndim < 3:
        raise ValueError(f"{op}: W must have rank >= 3, got shape {w.shape}")
    return conv(_f64(x) - x_zero, _f64(w) - w_zero, None if b is None else _f64(b), **attrs)


@kernel("ConvInteger", since=10)
def ConvInteger(x: np.ndarray, w: np.ndarray, x_zero_point: np.ndarray | None = None,
                w_zero_point: np.ndarray | None = None, *, auto_pad: str = "NOTSET",
                dilations: list[int] | None = None, group: int = 1, kernel_shape: list[int] | None = None,
                pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    """(X - x_zero_point) conv (W - w_zero_point) in int32."""
    op = "ConvInteger"
    y = _int_conv(x, w, _x_zero(x_zero_point, op),
                  _per_channel(w_zero_point, w.shape[0] if w.ndim else 0, w.ndim, op, "w_zero_point"), None, op,
                  auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape, pads=pads,
                  strides=strides)
    return np.asarray(y.astype(np.int64).astype(np.int32))


@kernel("QLinearConv", since=10)
def QLinearConv(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray, w: np.ndarray, w_scale: np.ndarray,
                w_zero_point: np.ndarray, y_scale: np.ndarray, y_zero_point: np.ndarray,
                b: np.ndarray | None = None, *, auto_pad: str = "NOTSET", dilations: list[int] | None = None,
                group: int = 1, kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                strides: list[int] | None = None) -> np.ndarray:
    """Quantized convolution: integer conv of the zero-point-shifted X and W plus the int32 bias,
    requantized by x_scale * w_scale / y_scale (w_scale may be per output channel)."""
    op = "QLinearConv"
    m = w.shape[0] if w.ndim else 0
    acc = _int_conv(x, w, _x_zero(x_zero_point, op), _per_channel(w_zero_point, m, w.ndim, op, "w_zero_point"),
                    b, op, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                    pads=pads, strides=strides)
    return qlinear_conv_requantize(acc, x, w, x_scale, w_scale, y_scale, y_zero_point)


def qlinear_conv_requantize(acc: np.ndarray, x: np.ndarray, w: np.ndarray, x_scale: np.ndarray, w_scale: np.ndarray,
                            y_scale: np.ndarray, y_zero_point: np.ndarray | None) -> np.ndarray:
    """QLinearConv's output from the exact integer convolution plus bias `acc` (float64): requantized by
    x_scale * w_scale / y_scale (w_scale may be per output channel) to y_zero_point's type."""
    op = "QLinearConv"
    m = w.shape[0] if w.ndim else 0
    ws = np.asarray(w_scale)
    if ws.size != 1:
        if ws.ndim != 1 or ws.shape[0] != m:
            raise ValueError(f"{op}: w_scale must be a scalar or have one value per output channel ({m}), "
                             f"got shape {ws.shape}")
        ws = ws.reshape((m,) + (1,) * (x.ndim - 2))
    else:
        ws = ws.reshape(())
    ratio = _scale_ratio(np.asarray(x_scale).reshape(()), ws, np.asarray(y_scale).reshape(()))
    return _requantize(acc, ratio, y_zero_point, x.dtype)

