"""Quantization parameters of the int8 operators, fixed at lowering time.

The C kernels requantize int32 accumulators without floating point, as CMSIS-NN and gemmlowp do:
the real multiplier `in_scale * w_scale / out_scale` (computed in float32, as onnxruntime does) is
a Q31 `mult` in [2^30, 2^31) and a power-of-two `shift` (`csrc/ep_quant.h`).
"""

from __future__ import annotations

import math

import numpy as np

from .shapes import Ctx, Unsupported, const_input

#: shift range the kernels accept (csrc/ep_quant.h)
MIN_SHIFT, MAX_SHIFT = -31, 30


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(mult, shift) with real == mult * 2^(shift - 31) to Q31 precision; (0, 0) for 0 or a
    multiplier below 2^-32 (every accumulator requantizes to 0). ValueError when real is negative,
    not finite or 2^30 and more."""
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantization multiplier {real} must be finite and >= 0")
    if real == 0:
        return 0, 0
    q, e = math.frexp(real)
    mult = round(q * (1 << 31))
    if mult == 1 << 31:
        mult //= 2
        e += 1
    if e < MIN_SHIFT:
        return 0, 0
    if e > MAX_SHIFT:
        raise ValueError(f"requantization multiplier {real} is too large (>= 2^30)")
    return mult, e


def requant_params(ctx: Ctx, in_scale: np.ndarray, w_scale: np.ndarray, out_scale: np.ndarray
                   ) -> tuple[list[int], list[int]]:
    """Per-channel (or one) mult and shift for in_scale * w_scale / out_scale, in float32."""
    real = (np.float32(in_scale.reshape(-1)[0]) * w_scale.astype(np.float32).reshape(-1)
            / np.float32(out_scale.reshape(-1)[0]))
    mults, shifts = [], []
    for r in real.tolist():
        try:
            m, s = quantize_multiplier(float(r))
        except ValueError as exc:
            raise Unsupported("attribute", f"{ctx.node.op_type} {exc}") from None
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def scale_const(ctx: Ctx, k: int, what: str, channels: int | None = None) -> np.ndarray:
    """The constant float32 scale at input k: one value, or `channels` values (per channel), each
    finite and > 0."""
    arr = _const(ctx, k, what)
    if arr is None:
        raise Unsupported("attribute", f"{ctx.node.op_type} {what} is missing")
    if arr.dtype != np.float32:
        raise Unsupported("dtype", f"{ctx.node.op_type} {what} of type {arr.dtype} unsupported (float32 only)")
    _check_count(ctx, arr, what, channels)
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise Unsupported("attribute", f"{ctx.node.op_type} {what} holds a scale that is not finite and > 0")
    return arr.reshape(-1)


def zero_point_const(ctx: Ctx, k: int, what: str, dtype: np.dtype, channels: int | None = None) -> list[int]:
    """The constant zero point(s) at input k (absent: [0]), of the element type `dtype`."""
    arr = _const(ctx, k, what)
    if arr is None:
        return [0]
    if arr.dtype != dtype:
        raise Unsupported("dtype", f"{ctx.node.op_type} {what} of type {arr.dtype} does not match the data's {dtype}")
    _check_count(ctx, arr, what, channels)
    return [int(v) for v in arr.reshape(-1)]


def _const(ctx: Ctx, k: int, what: str) -> np.ndarray | None:
    return const_input(ctx, k, what, "attribute")


def _check_count(ctx: Ctx, arr: np.ndarray, what: str, channels: int | None) -> None:
    if arr.size == 1 or (channels is not None and arr.ndim == 1 and arr.size == channels):
        return
    want = "one value" if channels is None else f"one value or {channels} (one per channel)"
    raise Unsupported("attribute", f"{ctx.node.op_type} {what} of shape {list(arr.shape)} must hold {want}")
