"""The Gather/Scatter family: Gather, GatherElements, GatherND, ScatterElements, ScatterND.

Gather on the GPU is the raw kernel of gather.cu (any element type: it moves 1, 2, 4 or 8-byte
elements); its xp form is `xp.take`. The others are xp fancy indexing (CuPy's gather/scatter
kernels); scatter reductions use `ufunc.at` on numpy and cupyx's scatter_add/max/min on CuPy.
An out-of-range index raises on numpy; on the GPU it reads zero (Gather) or is undefined.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, normalize_axis, prod

from . import raw
from .registry import kernel


@kernel("Gather", since=1)
def Gather(data: Any, indices: Any, *, axis: int = 0, _provider: Any = None) -> Any:
    xp = get_array_module(data, indices)
    ax = normalize_axis(axis, data.ndim, "Gather")
    if raw.use_raw(xp, _provider) and data.dtype.itemsize in (1, 2, 4, 8) and data.size and indices.size:
        n = data.shape[ax]
        outer, inner = prod(data.shape[:ax]), prod(data.shape[ax + 1:])
        idx = xp.ascontiguousarray(indices.reshape(-1), dtype=np.int64)
        src = xp.ascontiguousarray(data)
        y = xp.empty(data.shape[:ax] + indices.shape + data.shape[ax + 1:], dtype=data.dtype)
        raw.launch("gather.cu", f"gather_axis_{data.dtype.itemsize}", y.size, src, idx, y,
                   *map(raw.i64, (outer, n, inner, idx.size)))
        return y
    idx = xp.where(indices < 0, indices + data.shape[ax], indices) if indices.size else indices
    try:
        return xp.asarray(xp.take(data, idx.astype(np.int64), axis=ax))
    except IndexError:
        raise ValueError(f"Gather: an index is out of range for axis {axis} of size {data.shape[ax]}") from None


@kernel("GatherElements", since=11)
def GatherElements(data: Any, indices: Any, *, axis: int = 0) -> Any:
    xp = get_array_module(data, indices)
    ax = normalize_axis(axis, data.ndim, "GatherElements")
    idx = xp.where(indices < 0, indices + data.shape[ax], indices).astype(np.int64)
    return xp.take_along_axis(data, idx, axis=ax)


@kernel("GatherND", since=12)
def GatherND(data: Any, indices: Any, *, batch_dims: int = 0) -> Any:
    xp = get_array_module(data, indices)
    k = indices.shape[-1]
    bshape = data.shape[:batch_dims]
    if tuple(indices.shape[:batch_dims]) != tuple(bshape):
        raise ValueError(f"GatherND: batch dims of data {data.shape} and indices {indices.shape} differ")
    b = prod(bshape)
    d = data.reshape((b,) + data.shape[batch_dims:])
    idx = indices.reshape(b, -1, k).astype(np.int64)
    dims = xp.asarray(np.array(data.shape[batch_dims:batch_dims + k], dtype=np.int64))
    idx = xp.where(idx < 0, idx + dims, idx)
    sel = (xp.arange(b)[:, None],) + tuple(idx[..., i] for i in range(k))
    out = d[sel]
    return xp.ascontiguousarray(out.reshape(indices.shape[:-1] + data.shape[batch_dims + k:]))


def _refuse_mul(node: Any, graph: Any) -> str | None:
    if node.attrs.get("reduction", "none") == "mul":
        return "scatter reduction 'mul' not supported on CUDA (CuPy has no multiply.at)"
    return None


def _scatter(xp: Any, out: Any, index: tuple, updates: Any, reduction: str, op: str) -> Any:
    if reduction == "none":
        out[index] = updates
        return out
    if xp is np:
        ufunc = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}.get(reduction)
        if ufunc is None:
            raise ValueError(f"{op}: unknown reduction {reduction!r}")
        ufunc.at(out, index, updates)
        return out
    import cupyx

    fn = {"add": cupyx.scatter_add, "max": cupyx.scatter_max, "min": cupyx.scatter_min}.get(reduction)
    if fn is None:
        raise ValueError(f"{op}: reduction {reduction!r} not supported on CUDA")
    fn(out, index, updates)
    return out


@kernel("ScatterElements", since=11, supports=_refuse_mul)
def ScatterElements(data: Any, indices: Any, updates: Any, *, axis: int = 0, reduction: str = "none") -> Any:
    xp = get_array_module(data, indices, updates)
    ax = normalize_axis(axis, data.ndim, "ScatterElements")
    idx = xp.where(indices < 0, indices + data.shape[ax], indices).astype(np.int64)
    grid = list(xp.indices(indices.shape, dtype=np.int64)) if indices.ndim else []
    if grid:
        grid[ax] = idx
    return _scatter(xp, xp.array(data, copy=True), tuple(grid), updates, reduction, "ScatterElements")


@kernel("ScatterND", since=11, supports=_refuse_mul)
def ScatterND(data: Any, indices: Any, updates: Any, *, reduction: str = "none") -> Any:
    xp = get_array_module(data, indices, updates)
    k = indices.shape[-1]
    dims = xp.asarray(np.array(data.shape[:k], dtype=np.int64))
    idx = indices.astype(np.int64)
    idx = xp.where(idx < 0, idx + dims, idx)
    index = tuple(idx[..., i] for i in range(k))
    return _scatter(xp, xp.array(data, copy=True), index, updates, reduction, "ScatterND")
