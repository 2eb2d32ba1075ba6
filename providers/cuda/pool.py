"""Pooling on CUDA: MaxPool, AveragePool and their global forms are the CPU provider's array-module kernels
(providers/cpu/pool.py: a short loop over kernel offsets, each a strided view of the padded input covering
every output position) registered over CuPy.

On the GPU, 1-D and 2-D float32 pools are the raw kernels of pool.cu (one thread per output, padding
skipped, the divisor counted per window): the shared kernels ask for them as the device primitive
"pool_2d". MaxPool's Indices output and 3-D pools run the xp form. float16 goes through float32 on the
raw path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module
from providers.cpu import pool as cpu

from . import raw
from .registry import share


def pool_2d(x: Any, name: str, ks: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
            begin: Sequence[int], end: Sequence[int], out: Sequence[int], include_pad: int) -> Any:
    """Launch pool.cu's `max_pool_2d` or `avg_pool_2d` (`name` "max" or "avg") on a 1-D or 2-D float32 /
    float16 pool (float32 on the device, x's dtype out); None for other pools (the xp form runs)."""
    if len(ks) > 2 or x.dtype not in (np.float32, np.float16) or not x.size:
        return None
    xp = get_array_module(x)
    lift = [1] * (2 - len(ks))
    ks2, st2, dl2, bg2, en2, out2 = (lift + list(v) for v in (ks, strides, dilations, begin, end, out))
    shp = lift + list(x.shape[2:])
    xf = xp.ascontiguousarray(x, dtype=np.float32)
    y = xp.empty(tuple(x.shape[:2]) + tuple(out), dtype=np.float32)
    raw.launch("pool.cu", f"{name}_pool_2d", y.size, xf, y, *map(raw.i64, (
        x.shape[0] * x.shape[1], shp[0], shp[1], ks2[0], ks2[1], st2[0], st2[1], dl2[0], dl2[1], bg2[0], bg2[1],
        en2[0], en2[1], out2[0], out2[1], include_pad)))
    return y.astype(x.dtype) if x.dtype != np.float32 else y


raw.PRIMITIVES["pool_2d"] = pool_2d
for _fn in (cpu.MaxPool_8, cpu.MaxPool):
    share("MaxPool", _fn)
for _fn in (cpu.AveragePool_7, cpu.AveragePool_10, cpu.AveragePool):
    share("AveragePool", _fn)
share("GlobalAveragePool", cpu.GlobalAveragePool)
share("GlobalMaxPool", cpu.GlobalMaxPool)
