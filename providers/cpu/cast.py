"""Cast and CastLike: numeric casts (incl. the ml_dtypes float8 / float4 / int4 / int2 families),
saturation for float8 targets, float8e8m0 with its rounding modes, and string <-> number.

`cast_to(x, dtype, saturate, round_mode)` is the one conversion routine; QuantizeLinear uses it too.
"""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np
import onnx

from ep_runtime.graph import onnx_dtype_to_numpy

from .registry import kernel

#: Float8 types whose Cast honours `saturate`: out-of-range values clip to +-max instead of inf/NaN.
FLOAT8_SATURATING = frozenset(np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
                                                     ml_dtypes.float8_e5m2, ml_dtypes.float8_e5m2fnuz))
FLOAT8E8M0 = np.dtype(ml_dtypes.float8_e8m0fnu)
#: ml_dtypes' narrow floats (numpy reports kind "V" for them).
ML_FLOATS = FLOAT8_SATURATING | {np.dtype(t) for t in (ml_dtypes.bfloat16, ml_dtypes.float8_e8m0fnu,
                                                       ml_dtypes.float4_e2m1fn)}
ROUND_MODES = ("up", "down", "nearest")


def is_float(dtype: np.dtype) -> bool:
    """numpy floats and the ml_dtypes narrow floats."""
    return dtype.kind == "f" or dtype in ML_FLOATS


def _as_float32(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(np.float32)


def to_float8e8m0(x: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    """Float8 E8M0 (a bare power-of-two exponent, no sign): the float32 exponent of |x|, rounded
    by the mantissa per `round_mode`; NaN and +-inf become NaN (0xFF); with `saturate` rounding
    never goes past the largest finite value 2**127."""
    if round_mode not in ROUND_MODES:
        raise ValueError(f"Cast: round_mode must be one of {list(ROUND_MODES)}, got {round_mode!r}")
    bits = np.ascontiguousarray(_as_float32(x)).view(np.uint32)
    exponent = ((bits >> 23) & 0xFF).astype(np.uint16)
    mantissa = bits & 0x7FFFFF
    special = exponent == 0xFF
    if round_mode == "up":
        up = mantissa != 0
    elif round_mode == "nearest":
        # the guard bit set and anything beyond it (or a non-zero exponent, the tie rule) rounds up
        up = ((mantissa & 0x400000) != 0) & (((mantissa & 0x3FFFFF) != 0) | (exponent > 0))
    else:
        up = np.zeros(bits.shape, dtype=bool)
    up &= ~special
    if saturate:
        up &= exponent != 0xFE
    out = np.where(special, np.uint16(0xFF), exponent + up)
    return out.astype(np.uint8).view(FLOAT8E8M0).reshape(np.shape(x))


def cast_to(x: np.ndarray, dtype: np.dtype, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """`x` converted to `dtype` with ONNX Cast semantics (the input itself when the dtype matches)."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind == "O":  # to string
        return _to_strings(x)
    if x.dtype.kind == "O":  # from string
        return _from_strings(x, dtype)
    if dtype == FLOAT8E8M0:
        return to_float8e8m0(x, saturate, round_mode)
    if dtype in FLOAT8_SATURATING:
        f = _as_float32(x) if x.dtype != np.float64 else x
        if saturate:
            info = ml_dtypes.finfo(dtype)
            f = np.clip(f, float(info.min), float(info.max))  # NaN stays NaN
        return np.asarray(f.astype(dtype))
    if dtype in ML_FLOATS and x.dtype.kind not in "fc":
        x = x if x.dtype.kind in "iub" else _as_float32(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype)


def _to_strings(x: np.ndarray) -> np.ndarray:
    if is_float(x.dtype):
        flat = x.reshape(-1)
        vals = flat if x.dtype.kind == "f" else _as_float32(flat)
        return np.array([_float_str(v) for v in vals], dtype=object).reshape(x.shape)
    return x.astype(str).astype(object)


def _from_strings(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    try:
        return _parse_strings(x, dtype)
    except ValueError as e:
        raise ValueError(f"Cast: cannot convert a string to {dtype}: {e}") from None


def _parse_strings(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "b":
        return np.array([_str_bool(s) for s in x.reshape(-1)], dtype=bool).reshape(x.shape)
    strs = x.astype(str)
    if dtype.kind in "iu":
        try:
            return strs.astype(dtype)
        except (ValueError, OverflowError):  # "1e3", "3.0": parse as float, then truncate
            return cast_to(strs.astype(np.float64), dtype)
    return cast_to(strs.astype(np.float64) if dtype.kind != "f" else strs.astype(dtype), dtype)


def _float_str(v: Any) -> str:
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "INF" if f > 0 else "-INF"
    return str(v)  # numpy's shortest round-trip repr of the value in its own precision


def _str_bool(s: Any) -> bool:
    t = str(s).strip().lower()
    return t not in ("", "0", "false") and not (t.replace(".", "", 1).isdigit() and float(t) == 0)


def _target(to: int | str | None) -> np.dtype:
    if to is None:
        raise ValueError("Cast: the 'to' attribute is required")
    if isinstance(to, str):  # opset 1 wrote the type name
        to = onnx.TensorProto.DataType.Value(to.upper())
    return onnx_dtype_to_numpy(to)


@kernel("Cast", since=1, until=18)
def Cast_1(x: np.ndarray, *, to: int | str | None = None) -> np.ndarray:
    return cast_to(x, _target(to))


@kernel("Cast", since=19, until=23)
def Cast_19(x: np.ndarray, *, saturate: int = 1, to: int | None = None) -> np.ndarray:
    return cast_to(x, _target(to), bool(saturate))


@kernel("Cast", since=24)
def Cast(x: np.ndarray, *, round_mode: str = "up", saturate: int = 1, to: int | None = None) -> np.ndarray:
    return cast_to(x, _target(to), bool(saturate), round_mode)


@kernel("CastLike", since=15, until=18)
def CastLike_15(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    return cast_to(x, target.dtype)


@kernel("CastLike", since=19, until=23)
def CastLike_19(x: np.ndarray, target: np.ndarray, *, saturate: int = 1) -> np.ndarray:
    return cast_to(x, target.dtype, bool(saturate))


@kernel("CastLike", since=24)
def CastLike(x: np.ndarray, target: np.ndarray, *, round_mode: str = "up", saturate: int = 1) -> np.ndarray:
    return cast_to(x, target.dtype, bool(saturate), round_mode)
