"""Pooling: MaxPool, AveragePool, their global forms and LpPool, over strided window views.

A pool is a short loop over kernel offsets (each a strided view of the padded input covering
all output positions) combined with np.maximum / np.add; never a loop over pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import as_array, prod, spatial_pads, window_slices
from .conv import pad_spatial
from .registry import kernel


def _geometry(x: np.ndarray, op: str, kernel_shape: Sequence[int] | None, strides, dilations, pads,
              auto_pad: str, ceil_mode: int):
    if kernel_shape is None:
        raise ValueError(f"{op}: the kernel_shape attribute is required")
    nd = len(kernel_shape)
    if x.ndim != nd + 2:
        raise ValueError(f"{op}: input of shape {x.shape} does not match a {nd}-D kernel_shape {list(kernel_shape)}")
    strides = list(strides) if strides is not None else [1] * nd
    dilations = list(dilations) if dilations is not None else [1] * nd
    ins = x.shape[2:]
    begin, end, out = spatial_pads(ins, kernel_shape, strides, dilations, pads, auto_pad, op, ceil_mode)
    # pad the end so that every (ceil-mode) window lies inside the buffer
    need = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(out, strides, kernel_shape, dilations)]
    end_buf = [max(e, nd_ - i - b) for e, nd_, i, b in zip(end, need, ins, begin)]
    return strides, dilations, begin, end, end_buf, out


def _lowest(dtype: np.dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    raise ValueError(f"MaxPool: unsupported dtype {dtype}")


def max_pool(x: np.ndarray, *, kernel_shape, strides=None, dilations=None, pads=None, auto_pad="NOTSET",
             ceil_mode=0, storage_order=0, want_indices=False):
    """Y, and the flat argmax Indices (row-major, or column-major over the spatial dims with
    storage_order=1) when `want_indices`."""
    strides, dilations, begin, end, end_buf, out = _geometry(
        x, "MaxPool", kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    xp = pad_spatial(x, begin, end_buf, _lowest(x.dtype))
    lead = (slice(None), slice(None))
    offsets = list(np.ndindex(*kernel_shape))
    y = xp[lead + window_slices(offsets[0], dilations, strides, out)].copy()
    best = np.zeros(y.shape, dtype=np.int64) if want_indices else None
    for j, offs in enumerate(offsets[1:], start=1):
        v = xp[lead + window_slices(offs, dilations, strides, out)]
        if best is None:
            np.maximum(y, v, out=y)
        else:
            better = v > y
            np.copyto(y, v, where=better)
            best[better] = j
    if best is None:
        return y, None
    nd = len(kernel_shape)
    ins = x.shape[2:]
    koffs = np.array(offsets, dtype=np.int64)  # (K, nd)
    n, c = x.shape[:2]
    flat = np.zeros(y.shape, dtype=np.int64)
    spatial_size = prod(ins)
    # coordinate of the max along each spatial axis, then the flat index
    coords = []
    for i in range(nd):
        pos = np.arange(out[i], dtype=np.int64) * strides[i] - begin[i]
        pos = pos.reshape((out[i],) + (1,) * (nd - 1 - i))
        coords.append(pos + koffs[best, i] * dilations[i])
    if storage_order == 0:
        for i in range(nd):
            flat = flat * ins[i] + coords[i]
    else:
        for i in reversed(range(nd)):
            flat = flat * ins[i] + coords[i]
    base = (np.arange(n * c, dtype=np.int64) * spatial_size).reshape((n, c) + (1,) * nd)
    return y, flat + base


def avg_pool(x: np.ndarray, *, kernel_shape, strides=None, dilations=None, pads=None, auto_pad="NOTSET",
             ceil_mode=0, count_include_pad=0, divide=True) -> np.ndarray:
    """Mean (or with divide=False the sum) over each window; padded positions count only with
    `count_include_pad` (positions beyond the explicit pads, added by ceil_mode, never count)."""
    strides, dilations, begin, end, end_buf, out = _geometry(
        x, "AveragePool", kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    xp = pad_spatial(x, begin, end_buf)
    lead = (slice(None), slice(None))
    y = None
    for offs in np.ndindex(*kernel_shape):
        v = xp[lead + window_slices(offs, dilations, strides, out)]
        if y is None:
            y = v.copy()
        else:
            y += v
    if not divide:
        return y
    # the divisor is separable: per axis, how many window taps fall in the counted range
    count = np.ones((), dtype=np.float64)
    for i, (k, s, d, o) in enumerate(zip(kernel_shape, strides, dilations, out)):
        lo, hi = (0, x.shape[2 + i] + begin[i] + end[i]) if count_include_pad else (begin[i], begin[i] + x.shape[2 + i])
        taps = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d
        ci = ((taps >= lo) & (taps < hi)).sum(axis=1).astype(np.float64)
        count = np.multiply.outer(count, ci)
    if np.all(count == prod(kernel_shape)):
        y *= np.asarray(1.0 / prod(kernel_shape), dtype=y.dtype)
    else:
        y /= np.maximum(count, 1).astype(y.dtype)
    return y


# --------------------------------------------------------------------------- MaxPool


@kernel("MaxPool", since=1, until=7)
def MaxPool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    return max_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad)[0]


@kernel("MaxPool", since=8, until=9, multi_output=True)
def MaxPool_8(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, storage_order: int = 0, strides: list[int] | None = None,
              _num_outputs: int = 1) -> tuple[np.ndarray, ...]:
    y, idx = max_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
                      storage_order=storage_order, want_indices=_num_outputs > 1)
    return (y,) if idx is None else (y, idx)


@kernel("MaxPool", since=10, multi_output=True)
def MaxPool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
            kernel_shape: list[int] | None = None, pads: list[int] | None = None, storage_order: int = 0,
            strides: list[int] | None = None, _num_outputs: int = 1) -> tuple[np.ndarray, ...]:
    y, idx = max_pool(x, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                      auto_pad=auto_pad, ceil_mode=ceil_mode, storage_order=storage_order,
                      want_indices=_num_outputs > 1)
    return (y,) if idx is None else (y, idx)


# --------------------------------------------------------------------------- AveragePool


@kernel("AveragePool", since=1, until=6)
def AveragePool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
                  pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad)


@kernel("AveragePool", since=7, until=9)
def AveragePool_7(x: np.ndarray, *, auto_pad: str = "NOTSET", count_include_pad: int = 0,
                  kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                  strides: list[int] | None = None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
                    count_include_pad=count_include_pad)


@kernel("AveragePool", since=10, until=18)
def AveragePool_10(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                   kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                   strides: list[int] | None = None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
                    ceil_mode=ceil_mode, count_include_pad=count_include_pad)


@kernel("AveragePool", since=19)
def AveragePool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                dilations: list[int] | None = None, kernel_shape: list[int] | None = None,
                pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                    auto_pad=auto_pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad)


# --------------------------------------------------------------------------- global and Lp pools


def _spatial_axes(x: np.ndarray, op: str) -> tuple[int, ...]:
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have rank >= 3 (N, C, spatial...), got shape {x.shape}")
    return tuple(range(2, x.ndim))


@kernel("GlobalAveragePool", since=1)
def GlobalAveragePool(x: np.ndarray) -> np.ndarray:
    return as_array(x.mean(axis=_spatial_axes(x, "GlobalAveragePool"), keepdims=True), x.dtype)


@kernel("GlobalMaxPool", since=1)
def GlobalMaxPool(x: np.ndarray) -> np.ndarray:
    return as_array(x.max(axis=_spatial_axes(x, "GlobalMaxPool"), keepdims=True))


def global_lp_pool(x: np.ndarray, p: float) -> np.ndarray:
    axes = _spatial_axes(x, "GlobalLpPool")
    return as_array(np.power(np.sum(np.power(np.abs(x), p), axis=axes, keepdims=True), 1.0 / p), x.dtype)


@kernel("GlobalLpPool", since=1)
def GlobalLpPool(x: np.ndarray, *, p: float = 2) -> np.ndarray:
    """(sum over the spatial dims of |x|^p)^(1/p); `p` is a float in version 1, an int from 2."""
    return global_lp_pool(x, p)


def lp_pool(x: np.ndarray, p: float, **geometry) -> np.ndarray:
    """(sum over the window of |x|^p)^(1/p), zero padding."""
    powered = np.power(np.abs(x), p).astype(x.dtype, copy=False)
    total = avg_pool(powered, divide=False, **geometry)
    return as_array(np.power(total, 1.0 / p), x.dtype)


@kernel("LpPool", since=1, until=17)
def LpPool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None, p: float = 2,
             pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    return lp_pool(x, p, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad)


@kernel("LpPool", since=18)
def LpPool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
           kernel_shape: list[int] | None = None, p: int = 2, pads: list[int] | None = None,
           strides: list[int] | None = None) -> np.ndarray:
    return lp_pool(x, p, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                   auto_pad=auto_pad, ceil_mode=ceil_mode)
