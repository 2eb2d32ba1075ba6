"""Reductions: the Reduce* family (axes as an attribute in early versions, as input 1 later) and ArgMax/ArgMin."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._base import as_array, normalize_axes, normalize_axis
from .registry import kernel


def _identity_element(x: np.ndarray, largest: bool):
    if x.dtype.kind == "f":
        return np.inf if largest else -np.inf
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return info.max if largest else info.min
    return largest  # bool


def _sum(x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _mean(x, axis, keepdims):
    return np.mean(x, axis=axis, keepdims=keepdims)


def _max(x, axis, keepdims):
    if x.size == 0:
        return np.max(x, axis=axis, keepdims=keepdims, initial=_identity_element(x, False))
    return np.max(x, axis=axis, keepdims=keepdims)


def _min(x, axis, keepdims):
    if x.size == 0:
        return np.min(x, axis=axis, keepdims=keepdims, initial=_identity_element(x, True))
    return np.min(x, axis=axis, keepdims=keepdims)


def _prod(x, axis, keepdims):
    return np.prod(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _l1(x, axis, keepdims):
    return np.sum(np.abs(x), axis=axis, keepdims=keepdims, dtype=x.dtype)


def _l2(x, axis, keepdims):
    return np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims, dtype=x.dtype))


def _log_sum(x, axis, keepdims):
    return np.log(np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype))


def _log_sum_exp(x, axis, keepdims):
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
    s = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis)


def _sum_square(x, axis, keepdims):
    return np.sum(np.square(x), axis=axis, keepdims=keepdims, dtype=x.dtype)


def reduce(fn: Callable, x: np.ndarray, axes, keepdims: int, noop_with_empty_axes: int, op: str) -> np.ndarray:
    """Apply `fn(x, axis, keepdims)` over the normalized axes."""
    if axes is None or len(np.asarray(axes).reshape(-1)) == 0:
        # no axes: all of them, or none with noop_with_empty_axes (the per-element part, e.g.
        # the square of ReduceSumSquare, still applies, as in onnxruntime)
        axis = () if noop_with_empty_axes else None
    else:
        axis = normalize_axes(axes, x.ndim, op)
    return as_array(fn(x, axis, bool(keepdims)), x.dtype)


def _register_reduce(op: str, fn: Callable, axes_input_since: int) -> None:
    def with_axes_attribute(x: np.ndarray, *, axes: list[int] | None = None, keepdims: int = 1) -> np.ndarray:
        return reduce(fn, x, axes, keepdims, 0, op)

    def with_axes_input(x: np.ndarray, axes: np.ndarray | None = None, *, keepdims: int = 1,
                        noop_with_empty_axes: int = 0) -> np.ndarray:
        return reduce(fn, x, axes, keepdims, noop_with_empty_axes, op)

    with_axes_attribute.__name__ = with_axes_attribute.__qualname__ = f"{op}_1"
    with_axes_input.__name__ = with_axes_input.__qualname__ = op
    kernel(op, 1, until=axes_input_since - 1)(with_axes_attribute)
    kernel(op, axes_input_since)(with_axes_input)


_register_reduce("ReduceSum", _sum, 13)
for _op, _fn in {
    "ReduceMean": _mean, "ReduceMax": _max, "ReduceMin": _min, "ReduceProd": _prod, "ReduceL1": _l1,
    "ReduceL2": _l2, "ReduceLogSum": _log_sum, "ReduceLogSumExp": _log_sum_exp, "ReduceSumSquare": _sum_square,
}.items():
    _register_reduce(_op, _fn, 18)


def _arg(fn: Callable, x: np.ndarray, axis: int, keepdims: int, select_last_index: int, op: str) -> np.ndarray:
    axis = normalize_axis(axis, x.ndim, op)
    if select_last_index:
        flipped = np.flip(x, axis=axis)
        r = x.shape[axis] - 1 - fn(flipped, axis=axis, keepdims=bool(keepdims))
    else:
        r = fn(x, axis=axis, keepdims=bool(keepdims))
    return as_array(r, np.int64)


@kernel("ArgMax", since=1, until=11)
def ArgMax_1(x: np.ndarray, *, axis: int = 0, keepdims: int = 1) -> np.ndarray:
    return _arg(np.argmax, x, axis, keepdims, 0, "ArgMax")


@kernel("ArgMax", since=12)
def ArgMax(x: np.ndarray, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> np.ndarray:
    return _arg(np.argmax, x, axis, keepdims, select_last_index, "ArgMax")


@kernel("ArgMin", since=1, until=11)
def ArgMin_1(x: np.ndarray, *, axis: int = 0, keepdims: int = 1) -> np.ndarray:
    return _arg(np.argmin, x, axis, keepdims, 0, "ArgMin")


@kernel("ArgMin", since=12)
def ArgMin(x: np.ndarray, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> np.ndarray:
    return _arg(np.argmin, x, axis, keepdims, select_last_index, "ArgMin")
