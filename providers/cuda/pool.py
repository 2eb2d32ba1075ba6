"""Pooling: MaxPool, AveragePool and their global forms.

On the GPU, 1-D and 2-D float32 pools are the raw kernels of pool.cu (one thread per output,
padding skipped, the divisor counted per window). The xp form (CI's numpy stand-in, 3-D pools,
MaxPool's Indices output) is a short loop over kernel offsets, each a strided view of the padded
input covering every output position. float16 goes through float32 on the raw path.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, prod, window_slices
from ep_runtime.op_shapes import avg_pool_counts, pool_geometry

from . import raw
from .conv import pad_spatial
from .elementwise import arr
from .registry import kernel


def _lowest(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    raise ValueError(f"MaxPool: unsupported dtype {dtype}")


def _raw_2d(xp: Any, x: Any, name: str, ks: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
            begin: Sequence[int], end: Sequence[int], out: Sequence[int], include_pad: int) -> Any:
    """Launch pool.cu's `name` on a 1-D or 2-D pool (float32 on the device, x's dtype out)."""
    lift = [1] * (2 - len(ks))
    ks2, st2, dl2, bg2, en2, out2 = (lift + list(v) for v in (ks, strides, dilations, begin, end, out))
    shp = lift + list(x.shape[2:])
    xf = xp.ascontiguousarray(x, dtype=np.float32)
    y = xp.empty(tuple(x.shape[:2]) + tuple(out), dtype=np.float32)
    raw.launch("pool.cu", name, y.size, xf, y, *map(raw.i64, (
        x.shape[0] * x.shape[1], shp[0], shp[1], ks2[0], ks2[1], st2[0], st2[1], dl2[0], dl2[1], bg2[0], bg2[1],
        en2[0], en2[1], out2[0], out2[1], include_pad)))
    return y.astype(x.dtype) if x.dtype != np.float32 else y


def _raw_ok(xp: Any, x: Any, provider: Any, nd: int) -> bool:
    return raw.use_raw(xp, provider) and nd <= 2 and x.dtype in (np.float32, np.float16) and x.size > 0


def max_pool(x: Any, *, kernel_shape: Any, strides: Any = None, dilations: Any = None, pads: Any = None,
             auto_pad: str = "NOTSET", ceil_mode: int = 0, storage_order: int = 0, want_indices: bool = False,
             provider: Any = None) -> tuple[Any, Any]:
    """Y, and the flat argmax Indices (row-major, or column-major over the spatial dims with
    storage_order=1) when `want_indices`."""
    xp = get_array_module(x)
    strides, dilations, begin, end, end_buf, out = pool_geometry(
        x.shape, "MaxPool", kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    if not want_indices and _raw_ok(xp, x, provider, len(kernel_shape)):
        return _raw_2d(xp, x, "max_pool_2d", kernel_shape, strides, dilations, begin, end, out, 0), None
    xpad = pad_spatial(xp, x, begin, end_buf, _lowest(x.dtype))
    lead = (slice(None), slice(None))
    offsets = list(itertools.product(*(range(k) for k in kernel_shape)))
    y = xp.array(xpad[lead + window_slices(offsets[0], dilations, strides, out)], copy=True)
    best = xp.zeros(y.shape, dtype=np.int64) if want_indices else None
    for j, offs in enumerate(offsets[1:], start=1):
        v = xpad[lead + window_slices(offs, dilations, strides, out)]
        if best is None:
            xp.maximum(y, v, out=y)
        else:
            better = v > y
            y = xp.where(better, v, y)
            best = xp.where(better, j, best)
    if best is None:
        return y, None
    nd = len(kernel_shape)
    ins = x.shape[2:]
    koffs = xp.asarray(np.array(offsets, dtype=np.int64))  # (K, nd)
    n, c = x.shape[:2]
    flat = xp.zeros(y.shape, dtype=np.int64)
    coords = []
    for i in range(nd):
        pos = xp.arange(out[i], dtype=np.int64) * strides[i] - begin[i]
        coords.append(pos.reshape((out[i],) + (1,) * (nd - 1 - i)) + koffs[best, i] * dilations[i])
    for i in (range(nd) if storage_order == 0 else reversed(range(nd))):
        flat = flat * ins[i] + coords[i]
    base = (xp.arange(n * c, dtype=np.int64) * prod(ins)).reshape((n, c) + (1,) * nd)
    return y, flat + base


def avg_pool(x: Any, *, kernel_shape: Any, strides: Any = None, dilations: Any = None, pads: Any = None,
             auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0, provider: Any = None) -> Any:
    """Mean over each window; padded positions count only with `count_include_pad` (positions
    beyond the explicit pads, added by ceil_mode, never count)."""
    xp = get_array_module(x)
    strides, dilations, begin, end, end_buf, out = pool_geometry(
        x.shape, "AveragePool", kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    if _raw_ok(xp, x, provider, len(kernel_shape)):
        return _raw_2d(xp, x, "avg_pool_2d", kernel_shape, strides, dilations, begin, end, out,
                       int(bool(count_include_pad)))
    xpad = pad_spatial(xp, x, begin, end_buf)
    lead = (slice(None), slice(None))
    y = None
    for offs in itertools.product(*(range(k) for k in kernel_shape)):
        v = xpad[lead + window_slices(offs, dilations, strides, out)]
        y = xp.array(v, copy=True) if y is None else y + v
    count = avg_pool_counts(x.shape[2:], kernel_shape, strides, dilations, begin, end, out, count_include_pad)
    if count is None:
        y *= y.dtype.type(1.0 / prod(kernel_shape))
    else:
        y /= xp.asarray(count.astype(y.dtype))
    return y


@kernel("MaxPool", since=8, multi_output=True)
def MaxPool(x: Any, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
            kernel_shape: list[int] | None = None, pads: list[int] | None = None, storage_order: int = 0,
            strides: list[int] | None = None, _num_outputs: int = 1, _provider: Any = None) -> tuple:
    y, idx = max_pool(x, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                      auto_pad=auto_pad, ceil_mode=ceil_mode, storage_order=storage_order,
                      want_indices=_num_outputs > 1, provider=_provider)
    return (y,) if idx is None else (y, idx)


@kernel("AveragePool", since=7)
def AveragePool(x: Any, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                dilations: list[int] | None = None, kernel_shape: list[int] | None = None,
                pads: list[int] | None = None, strides: list[int] | None = None, _provider: Any = None) -> Any:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                    auto_pad=auto_pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad, provider=_provider)


def _spatial_axes(x: Any, op: str) -> tuple[int, ...]:
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have rank >= 3 (N, C, spatial...), got shape {x.shape}")
    return tuple(range(2, x.ndim))


@kernel("GlobalAveragePool", since=1)
def GlobalAveragePool(x: Any) -> Any:
    xp = get_array_module(x)
    return arr(xp, x.mean(axis=_spatial_axes(x, "GlobalAveragePool"), keepdims=True), x.dtype)


@kernel("GlobalMaxPool", since=1)
def GlobalMaxPool(x: Any) -> Any:
    xp = get_array_module(x)
    return arr(xp, x.max(axis=_spatial_axes(x, "GlobalMaxPool"), keepdims=True))
