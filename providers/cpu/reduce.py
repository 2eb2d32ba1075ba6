"""Reductions: the Reduce* family (axes as an attribute in early versions, as input 1 later), ArgMax/ArgMin,
TopK, and the running reductions CumSum/CumProd.

The Reduce* family and ArgMax/ArgMin are written against the array module `xp` of their input: the
CUDA provider registers the same functions (`REDUCERS`, `reduce`, `ArgMax`, `ArgMin`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module
from ep_runtime.op_shapes import normalize_axes, normalize_axis

from ._base import as_array
from .registry import kernel


def _identity_element(x: Any, largest: bool) -> Any:
    if x.dtype.kind == "f":
        return np.inf if largest else -np.inf
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return info.max if largest else info.min
    return largest  # bool


def _reduced_shape(x: Any, axis: tuple[int, ...] | None, keepdims: bool) -> tuple[int, ...]:
    axes = range(x.ndim) if axis is None else axis
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def _sum(xp, x, axis, keepdims):
    return xp.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _mean(xp, x, axis, keepdims):
    if x.size == 0:  # NaN, as onnxruntime gives (and without numpy's empty-slice warning)
        return xp.full(_reduced_shape(x, axis, keepdims), np.nan, dtype=x.dtype)
    if xp is np and x.dtype in (np.float32, np.float64):
        # np.mean's own sum and division (the same bits) without its Python wrapper, which costs
        # several times a small tensor's reduction (a [1, 3] ReduceMean: 6.5 us -> 1.5 us)
        total = np.add.reduce(x, axis=axis, keepdims=keepdims)
        return total / (x.size if axis is None else math.prod(x.shape[a] for a in axis))
    return xp.mean(x, axis=axis, keepdims=keepdims)


def _extreme(name: str, largest_identity: bool) -> Callable:
    def run(xp, x, axis, keepdims):
        if x.size == 0:  # the identity element, as onnxruntime returns for an empty reduction
            return xp.full(_reduced_shape(x, axis, keepdims), _identity_element(x, largest_identity), dtype=x.dtype)
        return getattr(xp, name)(x, axis=axis, keepdims=keepdims)

    return run


def _prod(xp, x, axis, keepdims):
    return xp.prod(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _l1(xp, x, axis, keepdims):
    return xp.sum(xp.abs(x), axis=axis, keepdims=keepdims, dtype=x.dtype)


def _l2(xp, x, axis, keepdims):
    return xp.sqrt(xp.sum(xp.square(x), axis=axis, keepdims=keepdims, dtype=x.dtype))


def _log_sum(xp, x, axis, keepdims):
    return xp.log(xp.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype))


def _log_sum_exp(xp, x, axis, keepdims):
    if x.size == 0:
        return xp.log(xp.sum(xp.exp(x), axis=axis, keepdims=keepdims))
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0).astype(x.dtype, copy=False)
    s = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else xp.squeeze(s, axis=axis)


def _sum_square(xp, x, axis, keepdims):
    return xp.sum(xp.square(x), axis=axis, keepdims=keepdims, dtype=x.dtype)


#: The Reduce* ops: op -> fn(xp, x, axis, keepdims), axis None (all) or a tuple.
REDUCERS: dict[str, Callable] = {
    "ReduceSum": _sum, "ReduceMean": _mean, "ReduceMax": _extreme("max", False), "ReduceMin": _extreme("min", True),
    "ReduceProd": _prod, "ReduceL1": _l1, "ReduceL2": _l2, "ReduceLogSum": _log_sum,
    "ReduceLogSumExp": _log_sum_exp, "ReduceSumSquare": _sum_square,
}


def reduce(fn: Callable, x: Any, axes: Any, keepdims: int, noop_with_empty_axes: int, op: str) -> Any:
    """Apply `fn(xp, x, axis, keepdims)` over the normalized axes."""
    xp = get_array_module(x)
    if axes is None or len(np.asarray(axes).reshape(-1)) == 0:
        # no axes: all of them, or none with noop_with_empty_axes (the per-element part, e.g.
        # the square of ReduceSumSquare, still applies, as in onnxruntime)
        axis = () if noop_with_empty_axes else None
    else:
        axis = normalize_axes(axes, x.ndim, op)
    if axis == () and xp is not np:
        # CuPy rejects an empty axis tuple: reduce over a new unit axis instead
        return as_array(xp.squeeze(fn(xp, x[None], (0,), True), axis=0), x.dtype)
    return as_array(fn(xp, x, axis, bool(keepdims)), x.dtype)


def _register_reduce(op: str, fn: Callable, axes_input_since: int) -> None:
    def with_axes_attribute(x: Any, *, axes: list[int] | None = None, keepdims: int = 1) -> Any:
        return reduce(fn, x, axes, keepdims, 0, op)

    def with_axes_input(x: Any, axes: np.ndarray | None = None, *, keepdims: int = 1,
                        noop_with_empty_axes: int = 0) -> Any:
        return reduce(fn, x, axes, keepdims, noop_with_empty_axes, op)

    with_axes_attribute.__name__ = with_axes_attribute.__qualname__ = f"{op}_1"
    with_axes_input.__name__ = with_axes_input.__qualname__ = op
    kernel(op, 1, until=axes_input_since - 1)(with_axes_attribute)
    kernel(op, axes_input_since)(with_axes_input)
    REDUCE_KERNELS[op] = (with_axes_attribute, with_axes_input)


#: The kernels of each Reduce op: (axes as an attribute, axes as input 1 from 13 (ReduceSum) or 18 on).
REDUCE_KERNELS: dict[str, tuple[Callable, Callable]] = {}
for _op, _fn in REDUCERS.items():
    _register_reduce(_op, _fn, 13 if _op == "ReduceSum" else 18)


def _arg(name: str, x: Any, axis: int, keepdims: int, select_last_index: int, op: str) -> Any:
    xp = get_array_module(x)
    axis = normalize_axis(axis, x.ndim, op)
    fn = getattr(xp, name)
    if select_last_index:
        r = x.shape[axis] - 1 - fn(xp.flip(x, axis=axis), axis=axis)
    else:
        r = fn(x, axis=axis)
    r = as_array(r, np.int64)
    return xp.expand_dims(r, axis) if keepdims else r


@kernel("ArgMax", since=1, until=11, attributes={"axis": 0, "keepdims": 1})
@kernel("ArgMax", since=12)
def ArgMax(x: Any, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Any:
    return _arg("argmax", x, axis, keepdims, select_last_index, "ArgMax")


@kernel("ArgMin", since=1, until=11, attributes={"axis": 0, "keepdims": 1})
@kernel("ArgMin", since=12)
def ArgMin(x: Any, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Any:
    return _arg("argmin", x, axis, keepdims, select_last_index, "ArgMin")


# --------------------------------------------------------------------------- CumSum, CumProd


def _cumulative(fn: Callable, identity: int, x: np.ndarray, axis: np.ndarray, exclusive: int, reverse: int,
                op: str) -> np.ndarray:
    """Running `fn` along `axis`; `exclusive` leaves out the current element, `reverse` runs from the end."""
    a = np.asarray(axis)
    if a.size != 1:
        raise ValueError(f"{op}: axis must be a single value, got shape {a.shape}")
    ax = normalize_axis(int(a.reshape(-1)[0]), x.ndim, op)
    data = np.flip(x, axis=ax) if reverse else x
    out = fn(data, axis=ax, dtype=x.dtype)
    if exclusive and x.shape[ax]:
        first = np.full(x.shape[:ax] + (1,) + x.shape[ax + 1:], identity, dtype=x.dtype)
        out = np.concatenate([first, np.delete(out, -1, axis=ax)], axis=ax)
    if reverse:
        out = np.flip(out, axis=ax)
    return as_array(out, x.dtype)


@kernel("CumSum", since=11)
def CumSum(x: np.ndarray, axis: np.ndarray, *, exclusive: int = 0, reverse: int = 0) -> np.ndarray:
    return _cumulative(np.cumsum, 0, x, axis, exclusive, reverse, "CumSum")


@kernel("CumProd", since=26)
def CumProd(x: np.ndarray, axis: np.ndarray, *, exclusive: int = 0, reverse: int = 0) -> np.ndarray:
    return _cumulative(np.cumprod, 1, x, axis, exclusive, reverse, "CumProd")


# --------------------------------------------------------------------------- TopK


def top_k(x: np.ndarray, k: int, axis: int, largest: int, sorted: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: A002
    """The k largest (or smallest) values along `axis` and their int64 indices, best first; equal
    values keep their index order (the lower index first)."""
    ax = normalize_axis(axis, x.ndim, "TopK")
    n = x.shape[ax]
    if not 0 <= k <= n:
        raise ValueError(f"TopK: k={k} is out of range for axis {axis} of size {n} (shape {x.shape})")
    if largest:
        # a stable ascending sort of the reversed axis, read backwards: descending, ties by lower index
        order = np.argsort(np.flip(x, axis=ax), axis=ax, kind="stable")
        order = (n - 1) - np.flip(order, axis=ax)
    else:
        order = np.argsort(x, axis=ax, kind="stable")
    idx = np.take(order, np.arange(k), axis=ax)
    return np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64, copy=False)


def _k_value(k: np.ndarray) -> int:
    a = np.asarray(k).reshape(-1)
    if a.size != 1:
        raise ValueError(f"TopK: K must hold one value, got shape {np.asarray(k).shape}")
    return int(a[0])


@kernel("TopK", since=1, until=9, multi_output=True)
def TopK_1(x: np.ndarray, *, axis: int = -1, k: int | None = None) -> tuple:
    if k is None:
        raise ValueError("TopK: the k attribute is required")
    return top_k(x, k, axis, 1, 1)


@kernel("TopK", since=10, until=10, multi_output=True)
def TopK_10(x: np.ndarray, k: np.ndarray, *, axis: int = -1) -> tuple:
    return top_k(x, _k_value(k), axis, 1, 1)


@kernel("TopK", since=11, multi_output=True)
def TopK(x: np.ndarray, k: np.ndarray, *, axis: int = -1, largest: int = 1, sorted: int = 1) -> tuple:  # noqa: A002
    """`sorted=0` allows any order; we return sorted results either way."""
    return top_k(x, _k_value(k), axis, largest, sorted)
