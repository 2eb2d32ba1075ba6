"""Softmax, LogSoftmax and Hardmax: before opset 13 over the input coerced to 2-D at `axis`,
from 13 on along the single axis `axis`.

Softmax and LogSoftmax are written against `xp = get_array_module(...)`: the CUDA provider registers the
same kernels over CuPy, adding its fused row kernel as the device primitive named after the op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ep_runtime.array_module import device_primitive, get_array_module
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
    if type(x) is np.ndarray and axis == x.ndim - 1 and x.dtype in (np.float32, np.float64) and x.size:
        rows = x.reshape(-1, x.shape[-1])
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(rows)
            total = e @ np.ones(rows.shape[1], dtype=e.dtype)  # BLAS: row sums
        if total.min() >= UNSHIFTED_MIN_SUM and total.max() < np.inf:
            np.reciprocal(total, out=total)
            e *= total[:, None]
            return e.reshape(x.shape)
    xp = np if type(x) is np.ndarray else get_array_module(x)
    e = x - x.max(axis=axis, keepdims=True)
    xp.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) along one axis, computed stably (an empty axis gives the empty result)."""
    if x.shape[axis] == 0:
        return x.copy()
    xp = np if type(x) is np.ndarray else get_array_module(x)
    s = x - x.max(axis=axis, keepdims=True)
    s -= xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
    return s


def hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    """1 at the first maximum along `axis`, 0 elsewhere (an empty axis gives the empty result)."""
    if x.shape[axis] == 0:
        return np.zeros_like(x)
    idx = np.expand_dims(np.argmax(x, axis=axis), axis)
    y = np.zeros_like(x)
    np.put_along_axis(y, idx, 1, axis=axis)
    return y


def _on_device(fn: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray, axis: int, op: str,
               provider: Any) -> np.ndarray:
    """fn(x, axis), or the provider's own kernel for `op` on a device array (the device primitive named
    `op`, `(x, axis) -> y`, or None when it does not take the case)."""
    raw = None if type(x) is np.ndarray else device_primitive(provider, op)
    y = raw(x, axis) if raw is not None else None
    return fn(x, axis) if y is None else y


def _coerced_2d(fn: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray, axis: int, op: str,
                provider: Any = None) -> np.ndarray:
    """Opset < 13: flatten to (prod(shape[:axis]), prod(shape[axis:])) and work along dim 1."""
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    axis = normalize_axis(axis, x.ndim + 1 if axis == x.ndim else x.ndim, op)
    y = _on_device(fn, x.reshape(prod(x.shape[:axis]), prod(x.shape[axis:])), 1, op, provider)
    return y.reshape(x.shape)


def _along(fn: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray, axis: int, op: str,
           provider: Any = None) -> np.ndarray:
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    return _on_device(fn, x, normalize_axis(axis, x.ndim, op), op, provider)


def _register(op: str, fn: Callable[[np.ndarray, int], np.ndarray]
              ) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """Register `op` before opset 13 (coerced to 2-D) and from 13 on; return the two kernels."""
    def coerced(x: np.ndarray, *, axis: int = 1, _provider: Any = None) -> np.ndarray:
        return _coerced_2d(fn, x, axis, op, _provider)

    def along(x: np.ndarray, *, axis: int = -1, _provider: Any = None) -> np.ndarray:
        return _along(fn, x, axis, op, _provider)

    coerced.__name__ = coerced.__qualname__ = f"{op}_1"
    along.__name__ = along.__qualname__ = op
    kernel(op, 1, until=12)(coerced)
    kernel(op, 13)(along)
    return coerced, along


Softmax_1, Softmax = _register("Softmax", softmax)
LogSoftmax_1, LogSoftmax = _register("LogSoftmax", log_softmax)
_register("Hardmax", hardmax)
