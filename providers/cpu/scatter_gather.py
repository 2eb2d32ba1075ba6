"""Index-driven kernels: GatherND, ScatterND, ScatterElements (and the older Scatter), TensorScatter,
Compress, NonZero and OneHot.

Indices are int64 (or int32) arrays; negative indices count from the end of their axis. Scatter
kernels copy `data` and write into the copy; the reductions (add, mul, max, min) combine duplicate
indices with the array module's unbuffered `ufunc.at` (ep_runtime.array_module.ufunc_at). GatherND,
ScatterND and ScatterElements are written against that module `xp`: the CUDA provider registers them too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, ufunc_at
from ep_runtime.op_shapes import normalize_axis, prod

from ._base import as_array
from .registry import kernel

#: scatter reduction -> the ufunc that combines (see ufunc_at)
REDUCTION_UFUNCS: dict[str, str] = {"add": "add", "mul": "multiply", "max": "maximum", "min": "minimum"}


def wrap_indices(indices: Any, dims: np.ndarray | int, op: str) -> Any:
    """Negative indices made non-negative (int64, in the indices' array module); ValueError when any
    is out of [-dim, dim). `dims` is an int or a host array broadcasting against the indices."""
    xp = get_array_module(indices)
    idx = indices.astype(np.int64, copy=False)
    bound = dims if isinstance(dims, int) or xp is np else xp.asarray(dims)
    if idx.size and ((idx < -bound) | (idx >= bound)).any():
        raise ValueError(f"{op}: an index in {indices.reshape(-1)[:16].tolist()} is out of range "
                         f"for dimension(s) {np.asarray(dims).reshape(-1).tolist()}")
    return xp.where(idx < 0, idx + bound, idx)


def _scatter(out: Any, index: tuple, updates: Any, reduction: str, op: str) -> Any:
    """Write (or combine with `reduction`) `updates` into `out` at `index`, in place; returns out."""
    if reduction == "none":
        out[index] = updates
        return out
    name = REDUCTION_UFUNCS.get(reduction)
    if name is None:
        raise ValueError(f"{op}: unknown reduction {reduction!r} (expected none, add, mul, max or min)")
    at = ufunc_at(get_array_module(out), name)
    if at is None:
        raise ValueError(f"{op}: reduction {reduction!r} is not supported on arrays of {type(out).__module__}")
    at(out, index, updates)
    return out


# --------------------------------------------------------------------------- GatherND, ScatterND


def gather_nd(data: Any, indices: Any, batch_dims: int = 0) -> Any:
    """out[b..., i...] = data[b..., *indices[b..., i..., :]]: the last axis of `indices` (length k)
    indexes the k axes of `data` after its `batch_dims` leading (shared) axes."""
    b = batch_dims
    k = indices.shape[-1] if indices.ndim else 0
    if indices.ndim < 1 or b + k > data.ndim or indices.shape[:b] != data.shape[:b]:
        raise ValueError(f"GatherND: indices of shape {indices.shape} do not fit data of shape {data.shape} "
                         f"with batch_dims={b}")
    nb = prod(data.shape[:b])
    flat_data = data.reshape((nb,) + data.shape[b:])
    idx = wrap_indices(indices.reshape(nb, -1, k), np.array(data.shape[b:b + k], dtype=np.int64), "GatherND")
    rows = get_array_module(data).arange(nb).reshape(nb, 1)
    picked = flat_data[(rows,) + tuple(idx[..., j] for j in range(k))]
    return as_array(picked.reshape(indices.shape[:-1] + data.shape[b + k:]))


@kernel("GatherND", since=11, until=11)
def GatherND_11(data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return gather_nd(data, indices)


@kernel("GatherND", since=12)
def GatherND(data: Any, indices: Any, *, batch_dims: int = 0) -> Any:
    return gather_nd(data, indices, batch_dims)


def scatter_nd(data: Any, indices: Any, updates: Any, reduction: str = "none") -> Any:
    """A copy of `data` with updates[i...] written at data[*indices[i..., :]]."""
    k = indices.shape[-1] if indices.ndim else 0
    expected = indices.shape[:-1] + data.shape[k:]
    if indices.ndim < 1 or k > data.ndim or updates.shape != expected:
        raise ValueError(f"ScatterND: updates of shape {updates.shape} do not match indices {indices.shape} "
                         f"and data {data.shape} (expected updates of shape {expected})")
    idx = wrap_indices(indices.reshape(-1, k), np.array(data.shape[:k], dtype=np.int64), "ScatterND")
    flat_updates = updates.reshape((idx.shape[0],) + data.shape[k:])
    out = data.copy()
    return _scatter(out, tuple(idx[:, j] for j in range(k)), flat_updates, reduction, "ScatterND")


@kernel("ScatterND", since=11, until=15)
def ScatterND_11(data: np.ndarray, indices: np.ndarray, updates: np.ndarray) -> np.ndarray:
    return scatter_nd(data, indices, updates)


@kernel("ScatterND", since=16, until=17)
def ScatterND_16(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, reduction: str = "none") -> np.ndarray:
    if reduction in ("max", "min"):
        raise ValueError(f"ScatterND: reduction {reduction!r} needs opset 18 or later")
    return scatter_nd(data, indices, updates, reduction)


@kernel("ScatterND", since=18)
def ScatterND(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, reduction: str = "none") -> np.ndarray:
    return scatter_nd(data, indices, updates, reduction)


# --------------------------------------------------------------------------- ScatterElements, Scatter


def scatter_elements(data: Any, indices: Any, updates: Any, axis: int = 0, reduction: str = "none",
                     op: str = "ScatterElements") -> Any:
    """A copy of `data` where, for every position p of `indices`, out[p with axis -> indices[p]] = updates[p]."""
    ax = normalize_axis(axis, data.ndim, op)
    if indices.shape != updates.shape or indices.ndim != data.ndim:
        raise ValueError(f"{op}: indices {indices.shape} and updates {updates.shape} must have the same shape "
                         f"and the rank of data {data.shape}")
    idx = wrap_indices(indices, data.shape[ax], op)
    grid = list(get_array_module(data).ogrid[tuple(slice(0, n) for n in indices.shape)]) if indices.ndim else []
    grid[ax] = idx
    return _scatter(data.copy(), tuple(grid), updates, reduction, op)


@kernel("Scatter", since=9)
def Scatter(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, axis: int = 0) -> np.ndarray:
    """The deprecated name of ScatterElements (without reduction)."""
    return scatter_elements(data, indices, updates, axis, op="Scatter")


@kernel("ScatterElements", since=11, until=15)
def ScatterElements_11(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, axis: int = 0) -> np.ndarray:
    return scatter_elements(data, indices, updates, axis)


@kernel("ScatterElements", since=16, until=17)
def ScatterElements_16(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, axis: int = 0,
                       reduction: str = "none") -> np.ndarray:
    if reduction in ("max", "min"):
        raise ValueError(f"ScatterElements: reduction {reduction!r} needs opset 18 or later")
    return scatter_elements(data, indices, updates, axis, reduction)


@kernel("ScatterElements", since=18)
def ScatterElements(data: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, axis: int = 0,
                    reduction: str = "none") -> np.ndarray:
    return scatter_elements(data, indices, updates, axis, reduction)


# --------------------------------------------------------------------------- TensorScatter


@kernel("TensorScatter", since=24)
def TensorScatter(past_cache: np.ndarray, update: np.ndarray, write_indices: np.ndarray | None = None, *,
                  axis: int = -2, mode: str = "linear") -> np.ndarray:
    """A copy of the KV cache with `update` written along `axis`, batch b starting at write_indices[b]
    (0 when absent); mode "circular" wraps positions around the cache length."""
    if mode not in ("linear", "circular"):
        raise ValueError(f"TensorScatter: mode must be 'linear' or 'circular', not {mode!r}")
    ax = normalize_axis(axis, past_cache.ndim, "TensorScatter")
    if ax == 0 or update.ndim != past_cache.ndim or any(
            u != p for i, (u, p) in enumerate(zip(update.shape, past_cache.shape)) if i != ax):
        raise ValueError(f"TensorScatter: update of shape {update.shape} does not fit the cache of shape "
                         f"{past_cache.shape} along axis {axis} (the axis must not be the batch axis 0)")
    cap, n, batch = past_cache.shape[ax], update.shape[ax], past_cache.shape[0]
    start = np.zeros(batch, np.int64) if write_indices is None else write_indices.astype(np.int64).reshape(-1)
    pos = start.reshape(-1, 1) + np.arange(n, dtype=np.int64)
    if mode == "circular":
        pos %= max(cap, 1)
    elif n and (pos.min() < 0 or pos.max() >= cap):
        raise ValueError(f"TensorScatter: writing {n} positions from {start.tolist()} overflows the cache "
                         f"length {cap} (use mode='circular' to wrap)")
    out = past_cache.copy()
    view = np.moveaxis(out, ax, 1)  # (batch, seq, ...) view: writes land in `out`
    view[np.arange(batch).reshape(-1, 1), pos] = np.moveaxis(update, ax, 1)
    return out


# --------------------------------------------------------------------------- Compress, NonZero, OneHot


def _compress(x: np.ndarray, condition: np.ndarray, axis: int | None) -> np.ndarray:
    cond = np.asarray(condition).reshape(-1).astype(bool)
    if axis is None:
        flat = x.reshape(-1)
        if cond.size > flat.size:
            raise ValueError(f"Compress: condition has {cond.size} values, more than the {flat.size} elements")
        return as_array(flat[:cond.size][cond])
    ax = normalize_axis(axis, x.ndim, "Compress")
    if cond.size > x.shape[ax]:
        raise ValueError(f"Compress: condition has {cond.size} values, more than axis {axis} "
                         f"of shape {x.shape} has")
    return as_array(np.compress(cond, x, axis=ax))


@kernel("Compress", since=9, until=10)
def Compress_9(x: np.ndarray, condition: np.ndarray, *, axis: int | None = None) -> np.ndarray:
    if axis is not None and axis < 0:
        raise ValueError(f"Compress: negative axis {axis} needs opset 11 or later")
    return _compress(x, condition, axis)


@kernel("Compress", since=11)
def Compress(x: np.ndarray, condition: np.ndarray, *, axis: int | None = None) -> np.ndarray:
    return _compress(x, condition, axis)


@kernel("NonZero", since=9)
def NonZero(x: np.ndarray) -> np.ndarray:
    """The indices of the non-zero elements, shape (rank, count), in row-major order."""
    if x.ndim == 0:
        return np.zeros((0, int(bool(x))), dtype=np.int64)
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


def one_hot(indices: np.ndarray, depth: np.ndarray, values: np.ndarray, axis: int, negative: bool) -> np.ndarray:
    d = np.asarray(depth).reshape(-1)
    if d.size != 1:
        raise ValueError(f"OneHot: depth must hold one value, got shape {np.asarray(depth).shape}")
    n = int(d[0])
    if n < 1:
        raise ValueError(f"OneHot: depth must be positive, got {d[0]}")
    vals = np.asarray(values).reshape(-1)
    if vals.size != 2:
        raise ValueError(f"OneHot: values must hold [off_value, on_value], got {vals.size} values")
    ax = normalize_axis(axis, indices.ndim + 1, "OneHot")
    idx = indices.astype(np.int64) if indices.dtype.kind in "iub" else np.trunc(indices).astype(np.int64)
    if negative:
        idx = np.where(idx < 0, idx + n, idx)
    classes = np.arange(n, dtype=np.int64).reshape((n,) + (1,) * (indices.ndim - ax))
    hot = np.expand_dims(idx, ax) == classes
    return np.where(hot, vals[1], vals[0]).astype(vals.dtype, copy=False)


@kernel("OneHot", since=9, until=10)
def OneHot_9(indices: np.ndarray, depth: np.ndarray, values: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Indices outside [0, depth) give an all-off row."""
    return one_hot(indices, depth, values, axis, negative=False)


@kernel("OneHot", since=11)
def OneHot(indices: np.ndarray, depth: np.ndarray, values: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Indices in [-depth, -1] count from the end; others outside [0, depth) give an all-off row."""
    return one_hot(indices, depth, values, axis, negative=True)

