"""Softmax, LogSoftmax and Hardmax: before opset 13 over the input coerced to 2-D at `axis`,
from 13 on along the single axis `axis`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ep_runtime.op_shapes import normalize_axis, prod

from .registry import kernel

#: Softmax along the last axis first tries no shift at all (a softmax does not depend on it),
#: saving the short max reduction per row: that result is kept when every row's exponentials are
#: finite and sum to at least this, so that a probability loses precision (to denormals) only
#: below 2**-86 of its row's largest (rows of up to 2**20 values). Otherwise (large or very
#: negative inputs, NaN, infinities) each row is shifted by its own maximum.
UNSHIFTED_MIN_SUM = 2.0 ** -20


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Numerically stable softmax along one axis (an empty axis gives the empty result)."""
    if x.shape[axis] == 0:
        return x.copy()
    if axis == x.ndim - 1 and x.dtype in (np.float32, np.float64) and x.size:
        rows = x.reshape(-1, x.shape[-1])
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(rows)
            total = e @ np.ones(rows.shape[1], dtype=e.dtype)  # BLAS: row sums
        if total.min() >= UNSHIFTED_MIN_SUM and total.max() < np.inf:
            np.reciprocal(total, out=total)
            e *= total[:, None]
            return e.reshape(x.shape)
    e = x - x.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) along one axis, computed stably (an empty axis gives the empty result)."""
    if x.shape[axis] == 0:
        return x.copy()
    s = x - x.max(axis=axis, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=axis, keepdims=True))
    return s


def hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    """1 at the first maximum along `axis`, 0 elsewhere (an empty axis gives the empty result)."""
    if x.shape[axis] == 0:
        return np.zeros_like(x)
    idx = np.expand_dims(np.argmax(x, axis=axis), axis)
    y = np.zeros_like(x)
    np.put_along_axis(y, idx, 1, axis=axis)
    return y


def _coerced_2d(fn: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray, axis: int, op: str) -> np.ndarray:
    """Opset < 13: flatten to (prod(shape[:axis]), prod(shape[axis:])) and work along dim 1."""
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    axis = normalize_axis(axis, x.ndim + 1 if axis == x.ndim else x.ndim, op)
    y = fn(x.reshape(prod(x.shape[:axis]), prod(x.shape[axis:])), 1)
    return y.reshape(x.shape)


def _along(fn: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray, axis: int, op: str) -> np.ndarray:
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    return fn(x, normalize_axis(axis, x.ndim, op))


def _register(op: str, fn: Callable[[np.ndarray, int], np.ndarray]) -> None:
    def coerced(x: np.ndarray, *, axis: int = 1) -> np.ndarray:
        return _coerced_2d(fn, x, axis, op)

    def along(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        return _along(fn, x, axis, op)

    coerced.__name__ = coerced.__qualname__ = f"{op}_1"
    along.__name__ = along.__qualname__ = op
    kernel(op, 1, until=12)(coerced)
    kernel(op, 13)(along)


_register("Softmax", softmax)
_register("LogSoftmax", log_softmax)
_register("Hardmax", hardmax)
