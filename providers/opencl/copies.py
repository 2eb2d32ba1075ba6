"""Copies on the device: strided copies (through the device's own buffer copies where rows are
contiguous), broadcast materialization, fill, and making lazy views contiguous. Built per element size
(tensor.cl with T = uchar/ushort/uint/ulong), so they move any storable dtype."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._cl import cl, cla
from .launch import MAX_RANK, grid_args, launch_grid, stride_args
from .runtime import BITS_TYPES, Launcher, contiguous_strides, prod

CL = "tensor.cl"


def bits(dtype: Any) -> str:
    return BITS_TYPES[np.dtype(dtype).itemsize]


def collapse(shape: Sequence[int], *strides: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 dims and merge neighbours whose strides line up in every stride list."""
    dims: list[int] = []
    out: list[list[int]] = [[] for _ in strides]
    for k, d in enumerate(shape):
        d = int(d)
        if d == 1:
            continue
        if dims and all(o[-1] == s[k] * d for o, s in zip(out, strides)):
            dims[-1] *= d
            for o, s in zip(out, strides):
                o[-1] = s[k]
            continue
        dims.append(d)
        for o, s in zip(out, strides):
            o.append(int(s[k]))
    if not dims:
        return [1], [[0] for _ in strides]
    if len(dims) > MAX_RANK:
        raise ValueError(f"copy over {len(dims)} non-mergeable dims; at most {MAX_RANK} supported")
    return dims, out


def strided_copy(rt: Launcher, x: Any, y: Any, shape: Sequence[int], sstride: Sequence[int], soff: int,
                 dstride: Sequence[int], doff: int) -> None:
    n = prod(shape)
    if n == 0:
        return
    dims, (ss, ds) = collapse(shape, sstride, dstride)
    if copy_rows(rt, x, y, dims, ss, soff, ds, doff):
        return
    knl = rt.kernel(CL, "strided_copy", T=bits(x.dtype))
    grid, lead = grid_args(dims)
    launch_grid(rt, knl, grid, *lead, *stride_args(ss), np.int32(soff), *stride_args(ds), np.int32(doff), x.data,
                y.data)


def copy_rows(rt: Launcher, x: Any, y: Any, dims: Sequence[int], ss: Sequence[int], soff: int, ds: Sequence[int],
              doff: int) -> bool:
    """Copy with the device's own buffer copies (clEnqueueCopyBuffer / CopyBufferRect: memcpy on CPU
    devices, no per-element index arithmetic) when the innermost collapsed axis is contiguous on
    both sides and the rest fits a rect copy (or a few of them). False when it does not apply."""
    if ss[-1] != 1 or ds[-1] != 1 or len(dims) > 3 or any(s <= 0 for s in list(ss[:-1]) + list(ds[:-1])):
        return False
    size = x.dtype.itemsize
    if len(dims) == 1:
        cl.enqueue_copy(rt.queue, y.data, x.data, byte_count=dims[0] * size, src_offset=soff * size,
                        dst_offset=doff * size)
        return True
    row = dims[-1] * size

    def rect(src_off: int, dst_off: int, rows: int, s_row: int, d_row: int, slices: int = 1, s_slice: int = 0,
             d_slice: int = 0) -> None:
        cl.enqueue_copy(rt.queue, y.data, x.data, src_origin=(src_off * size, 0, 0), dst_origin=(dst_off * size, 0, 0),
                        region=(row, rows, slices), src_pitches=(s_row * size, s_slice * size),
                        dst_pitches=(d_row * size, d_slice * size))

    if any(p < dims[-1] for p in list(ss[:-1]) + list(ds[:-1])):
        return False
    if len(dims) == 2:
        rect(soff, doff, dims[0], ss[0], ds[0])
        return True

    def fits(rows: int, sr: int, sl: int) -> bool:  # OpenCL's rule for rect pitches
        return sr >= dims[-1] and sl >= rows * sr and sl % sr == 0

    if fits(dims[1], ss[1], ss[0]) and fits(dims[1], ds[1], ds[0]):
        rect(soff, doff, dims[1], ss[1], ds[1], dims[0], ss[0], ds[0])
        return True
    # e.g. a channel shuffle (Transpose of (g, C/g, HW) to (C/g, g, HW)): a few 2-D copies, one per index of
    # the shorter of the two outer axes
    loop, keep = (0, 1) if dims[0] <= dims[1] else (1, 0)
    if dims[loop] > 8:
        return False
    for k in range(dims[loop]):
        rect(soff + k * ss[loop], doff + k * ds[loop], dims[keep], ss[keep], ds[keep])
    return True


def expand(rt: Launcher, x: Any, shape: Sequence[int]) -> Any:
    """`x` broadcast to `shape`, materialized."""
    shape = tuple(int(s) for s in shape)
    xs = (1,) * (len(shape) - x.ndim) + tuple(x.shape)
    cs = contiguous_strides(xs)
    ss = [0 if d == 1 else s for d, s in zip(xs, cs)]
    y = rt.empty(shape, x.dtype)
    strided_copy(rt, x, y, shape, ss, 0, contiguous_strides(shape), 0)
    return y


def fill(rt: Launcher, y: Any, value: Any) -> Any:
    """`y` with every element set to `value` (any dtype: the bits of value cast to y's dtype)."""
    if y.size:
        raw = np.asarray(value).astype(y.dtype).reshape(1).view(np.dtype(f"u{y.dtype.itemsize}"))[0]
        rt.launch1d(rt.kernel(CL, "fill", T=bits(y.dtype)), y.size, np.int32(y.size), raw, y.data)
    return y


def is_view(x: Any) -> bool:
    """A device array that is not C-contiguous (e.g. a lazy Transpose): consumers get it materialized."""
    return isinstance(x, cla.Array) and not x.flags.c_contiguous


def materialize(rt: Launcher, x: Any) -> Any:
    """`x` as a C-contiguous device array: `x` itself when it is one, else a strided copy of it."""
    if not is_view(x):
        return x
    size = x.dtype.itemsize
    y = rt.empty(x.shape, x.dtype)
    src = SimpleNamespace(data=x.base_data, dtype=x.dtype)
    strided_copy(rt, src, y, x.shape, [s // size for s in x.strides], x.offset // size,
                 contiguous_strides(x.shape), 0)
    return y
