"""Resize (nearest and linear; cubic and antialias stay on the CPU) and Upsample on CUDA: the CPU
provider's array-module kernels (providers/cpu/resize.py) registered over CuPy.

The shared kernel plans, for every resized axis, a short row of input indices and weights per
output position (nearest: one tap, linear: two) on the host, and resamples each axis with one
`xp.take` per tap. On the GPU a resize of the last two axes of a float tensor is instead one launch
of resize.cu's `resize_2d_taps` over those tables: the provider's primitive "resize_axes" (below).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, prod
from providers.cpu import resize as cpu

from . import raw
from .registry import share


def resize_axes(x: Any, taps: dict[int, tuple[np.ndarray, np.ndarray | None]], out_shape: Sequence[int]) -> Any:
    """One launch of resize.cu's `resize_2d_taps` for a float32 / float16 tensor resized along its last
    two axes only (`taps`: axis -> host (indices, weights or None for one-tap nearest)); None for any
    other resize, which then runs in its xp form."""
    rank = x.ndim
    if rank < 2 or not set(taps) <= {rank - 2, rank - 1} or x.dtype not in (np.float32, np.float16) or not x.size:
        return None
    xp = get_array_module(x)
    h, w = x.shape[-2:]
    oh, ow = int(out_shape[-2]), int(out_shape[-1])

    def table(axis: int, n: int) -> tuple[Any, Any, np.int64]:
        idx, wt = taps.get(axis, (np.arange(n, dtype=np.int64)[:, None], None))
        wt = np.ones(idx.shape) if wt is None else wt
        return (xp.asarray(np.ascontiguousarray(idx, dtype=np.int64)),
                xp.asarray(np.ascontiguousarray(wt, dtype=np.float32)), raw.i64(idx.shape[1]))

    xf = xp.ascontiguousarray(x, dtype=np.float32)
    y = xp.empty(tuple(x.shape[:-2]) + (oh, ow), dtype=np.float32)
    raw.launch("resize.cu", "resize_2d_taps", y.size, xf, y, *map(raw.i64, (prod(x.shape[:-2]), h, w, oh, ow)),
               *table(rank - 2, h), *table(rank - 1, w))
    return y.astype(x.dtype) if x.dtype != np.float32 else y


raw.PRIMITIVES["resize_axes"] = resize_axes


def _supported(node: Any, graph: Any) -> str | None:
    mode = node.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        return f"Resize mode={mode} unsupported on CUDA"
    if node.attrs.get("antialias", 0):
        return "Resize antialias unsupported on CUDA"
    return None


share("Upsample", cpu.Upsample, supports=_supported)
for _fn in (cpu.Resize_10, cpu.Resize_11, cpu.Resize):
    share("Resize", _fn, supports=_supported)
