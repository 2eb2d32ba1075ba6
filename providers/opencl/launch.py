"""Launch plumbing every OpenCL op family shares: broadcast shapes and strides collapsed to at most
MAX_RANK dims, the 3-D grid and the leading arguments of the broadcast and strided kernels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._cl import cltypes
from .runtime import Launcher, contiguous_strides, prod

#: the most (collapsed) dims a broadcast or strided-copy kernel takes: its shape and strides are int8 vectors
MAX_RANK = 8


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ValueError(f"shapes {[tuple(s) for s in shapes]} cannot be broadcast together") from None


def broadcast_strides(out: Sequence[int], *shapes: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """The output dims and, for each input, element strides (0 where broadcast), collapsed:
    size-1 output dims dropped and neighbouring dims merged where every input allows."""
    r = len(out)
    strides = []
    for s in shapes:
        s = [1] * (r - len(s)) + [int(d) for d in s]
        cs = contiguous_strides(s)
        strides.append([0 if d == 1 else st for d, st in zip(s, cs)])
    dims: list[int] = []
    st: list[list[int]] = [[] for _ in shapes]
    for k in range(r):
        if out[k] == 1:
            continue
        if dims and all(sl[-1] == s[k] * out[k] for sl, s in zip(st, strides)):
            dims[-1] *= int(out[k])
            for sl, s in zip(st, strides):
                sl[-1] = s[k]
            continue
        dims.append(int(out[k]))
        for sl, s in zip(st, strides):
            sl.append(s[k])
    if not dims:
        dims = [1]
        st = [[0] for _ in shapes]
    if len(dims) > MAX_RANK:
        raise ValueError(f"broadcast over {len(dims)} non-mergeable dims; at most {MAX_RANK} supported")
    return dims, st


def int8(values: Sequence[int]) -> Any:
    v = list(values) + [1] * (MAX_RANK - len(values))
    return cltypes.make_int8(*v)


def grid_args(dims: Sequence[int]) -> tuple[tuple[int, int, int], list[Any]]:
    """The 3-D grid (innermost axis first) and the leading kernel arguments of a broadcast or
    strided-copy kernel over collapsed `dims`: D0, D1, D2, rank, shape."""
    d0 = dims[-1]
    d1 = dims[-2] if len(dims) >= 2 else 1
    d2 = prod(dims[:-2]) if len(dims) >= 3 else 1
    return (d0, d1, d2), [np.int32(d0), np.int32(d1), np.int32(d2), np.int32(len(dims)), int8(dims)]


def launch_grid(rt: Launcher, knl: Any, grid: tuple[int, int, int], *args: Any) -> None:
    """Launch over a 3-D grid with work-groups along the innermost axis."""
    local = (min(64, grid[0]), 1, 1)
    rt.launch(knl, grid, local, *args)


def stride_args(strides: Sequence[int]) -> tuple[Any, Any, Any, Any]:
    """An input's strides as the kernels take them: all (int8), then the three innermost."""
    s = [0, 0, 0] + list(strides)
    return int8(strides), np.int32(s[-1]), np.int32(s[-2]), np.int32(s[-3])
