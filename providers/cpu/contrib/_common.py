"""Shared helpers of the com.microsoft kernels: the domain name, per-tensor quantization
parameters and float32 requantization as onnxruntime's MLAS does it."""

from __future__ import annotations

import numpy as np

from ..quantization import int_range

#: The domain every kernel of this package registers in.
MS = "com.microsoft"

#: The 8-bit types the QLinear contrib operators take.
INT8_TYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def scalar_param(value: np.ndarray | None, what: str, op: str, default: float | None = None) -> np.ndarray:
    """A per-tensor scale or zero point (a scalar or a 1-element tensor) as a 0-d array; an absent
    optional one is `default` (0-d float), an absent required one an error."""
    if value is None:
        if default is None:
            raise ValueError(f"{op}: input {what} is required")
        return np.asarray(default, np.float32)
    v = np.asarray(value)
    if v.size != 1:
        raise ValueError(f"{op}: {what} must be a scalar (per-tensor quantization), got shape {v.shape}")
    return v.reshape(())


def zero_point(value: np.ndarray | None, dtype: np.dtype, what: str, op: str) -> np.ndarray:
    """A per-tensor zero point of the quantized input's type (0 when absent), as a 0-d float32."""
    if value is None:
        return np.zeros((), np.float32)
    v = scalar_param(value, what, op)
    if v.dtype != dtype:
        raise ValueError(f"{op}: {what} has dtype {v.dtype} but the quantized tensor is {dtype}")
    return v.astype(np.float32)


def check_8bit(x: np.ndarray, what: str, op: str) -> np.dtype:
    """The dtype of an 8-bit quantized input; any other type is an error naming the input."""
    if x.dtype not in INT8_TYPES:
        raise ValueError(f"{op}: {what} must be int8 or uint8, got {x.dtype}")
    return x.dtype


def float_scale(value: np.ndarray | None, what: str, op: str) -> np.ndarray:
    """A per-tensor float scale as a 0-d float32."""
    v = scalar_param(value, what, op)
    if v.dtype.kind != "f":
        raise ValueError(f"{op}: {what} must be a float tensor, got {v.dtype}")
    return v.astype(np.float32)


def requantize(y: np.ndarray, y_zero: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Real-valued (already divided by the output scale) float32 `y` as `dtype`: round half to
    even, add the zero point, saturate."""
    lo, hi = int_range(dtype)
    with np.errstate(invalid="ignore"):
        q = np.rint(y) + y_zero
        np.clip(q, lo, hi, out=q)
    return np.asarray(np.nan_to_num(q, nan=0.0).astype(dtype))


def dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """scale * (x - zero) in float32, the value an 8-bit tensor stands for."""
    return (x.astype(np.float32) - zero) * scale
