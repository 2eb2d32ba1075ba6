"""Reductions: the Reduce* family (axes as an attribute in early versions, as host input 1 later)
and ArgMax/ArgMin, all CuPy's own reductions (CUB on the GPU)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, normalize_axes, normalize_axis

from .elementwise import arr
from .registry import kernel


def _reduced_shape(x: Any, axis: tuple[int, ...] | None, keepdims: bool) -> tuple[int, ...]:
    axes = range(x.ndim) if axis is None else axis
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def _extreme(name: str, largest_identity: bool) -> Callable:
    def run(xp: Any, x: Any, axis: Any, keepdims: bool) -> Any:
        if x.size == 0:  # the identity element, as onnxruntime returns for an empty reduction
            if x.dtype.kind == "f":
                fill = np.inf if largest_identity else -np.inf
            elif x.dtype.kind in "iu":
                info = np.iinfo(x.dtype)
                fill = info.max if largest_identity else info.min
            else:
                fill = largest_identity
            return xp.full(_reduced_shape(x, axis, keepdims), fill, dtype=x.dtype)
        return getattr(xp, name)(x, axis=axis, keepdims=keepdims)

    return run


def _log_sum_exp(xp: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    if x.size == 0:
        return xp.log(xp.sum(xp.exp(x), axis=axis, keepdims=keepdims))
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0).astype(x.dtype)
    s = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else xp.squeeze(s, axis=axis)


REDUCERS: dict[str, Callable[[Any, Any, Any, bool], Any]] = {
    "ReduceSum": lambda xp, x, a, k: xp.sum(x, axis=a, keepdims=k, dtype=x.dtype),
    "ReduceMean": lambda xp, x, a, k: (xp.mean(x, axis=a, keepdims=k) if x.size else
                                       xp.full(_reduced_shape(x, a, k), np.nan, dtype=x.dtype)),
    "ReduceMax": _extreme("max", False),
    "ReduceMin": _extreme("min", True),
    "ReduceProd": lambda xp, x, a, k: xp.prod(x, axis=a, keepdims=k, dtype=x.dtype),
    "ReduceL1": lambda xp, x, a, k: xp.sum(xp.abs(x), axis=a, keepdims=k, dtype=x.dtype),
    "ReduceL2": lambda xp, x, a, k: xp.sqrt(xp.sum(xp.square(x), axis=a, keepdims=k, dtype=x.dtype)),
    "ReduceLogSum": lambda xp, x, a, k: xp.log(xp.sum(x, axis=a, keepdims=k, dtype=x.dtype)),
    "ReduceLogSumExp": _log_sum_exp,
    "ReduceSumSquare": lambda xp, x, a, k: xp.sum(xp.square(x), axis=a, keepdims=k, dtype=x.dtype),
}


def reduce(op: str, x: Any, axes: Any, keepdims: int, noop_with_empty_axes: int) -> Any:
    xp = get_array_module(x)
    if axes is None or len(np.asarray(axes).reshape(-1)) == 0:
        axis = () if noop_with_empty_axes else None
    else:
        axis = normalize_axes(axes, x.ndim, op)
    if axis == () and xp is not np:
        # CuPy rejects an empty axis tuple: reduce over a new unit axis instead
        return arr(xp, xp.squeeze(REDUCERS[op](xp, x[None], (0,), True), axis=0), x.dtype)
    return arr(xp, REDUCERS[op](xp, x, axis, bool(keepdims)), x.dtype)


def _register(op: str, axes_input_since: int) -> None:
    def with_axes_attribute(x: Any, *, axes: list[int] | None = None, keepdims: int = 1) -> Any:
        return reduce(op, x, axes, keepdims, 0)

    def with_axes_input(x: Any, axes: Any = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0) -> Any:
        return reduce(op, x, axes, keepdims, noop_with_empty_axes)

    with_axes_attribute.__name__ = with_axes_attribute.__qualname__ = f"{op}_1"
    with_axes_input.__name__ = with_axes_input.__qualname__ = op
    kernel(op, 1, until=axes_input_since - 1)(with_axes_attribute)
    kernel(op, axes_input_since)(with_axes_input)


for _op in REDUCERS:
    _register(_op, 13 if _op == "ReduceSum" else 18)


def _arg(name: str, x: Any, axis: int, keepdims: int, select_last_index: int, op: str) -> Any:
    xp = get_array_module(x)
    axis = normalize_axis(axis, x.ndim, op)
    if select_last_index:
        r = x.shape[axis] - 1 - getattr(xp, name)(xp.flip(x, axis=axis), axis=axis)
    else:
        r = getattr(xp, name)(x, axis=axis)
    r = arr(xp, r, np.int64)
    return xp.expand_dims(r, axis) if keepdims else r


@kernel("ArgMax", since=12)
def ArgMax(x: Any, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Any:
    return _arg("argmax", x, axis, keepdims, select_last_index, "ArgMax")


@kernel("ArgMin", since=12)
def ArgMin(x: Any, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Any:
    return _arg("argmin", x, axis, keepdims, select_last_index, "ArgMin")
