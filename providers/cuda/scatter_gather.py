"""The Gather/Scatter family on CUDA: Gather, GatherElements, GatherND, ScatterElements, ScatterND,
the CPU provider's array-module kernels (providers/cpu/tensor.py, scatter_gather.py) over CuPy.

Gather on the GPU is the raw kernel of gather.cu (any element type: it moves 1, 2, 4 or 8-byte
elements), after the shared range check of the indices; elsewhere the shared `xp.take` form. The
others are xp fancy indexing (CuPy's gather/scatter kernels); scatter reductions are cupyx's
scatter_add/max/min (ep_runtime.array_module.ufunc_at): `mul` has none and stays on the CPU.
An out-of-range index is a ValueError naming the op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, normalize_axis, prod
from providers.cpu import scatter_gather as cpu
from providers.cpu import tensor as cpu_tensor

from . import raw
from .registry import kernel, share


@kernel("Gather", since=1)
def Gather(data: Any, indices: Any, *, axis: int = 0, _provider: Any = None) -> Any:
    """The raw gather.cu kernel on the GPU; the shared kernel elsewhere."""
    xp = get_array_module(data, indices)
    if not (raw.use_raw(xp, _provider) and data.dtype.itemsize in (1, 2, 4, 8) and data.size and indices.size):
        return cpu_tensor.Gather(data, indices, axis=axis)
    ax = normalize_axis(axis, data.ndim, "Gather")
    n = data.shape[ax]
    outer, inner = prod(data.shape[:ax]), prod(data.shape[ax + 1:])
    idx = xp.ascontiguousarray(cpu.wrap_indices(indices, n, "Gather").reshape(-1), dtype=np.int64)
    src = xp.ascontiguousarray(data)
    y = xp.empty(data.shape[:ax] + indices.shape + data.shape[ax + 1:], dtype=data.dtype)
    raw.launch("gather.cu", f"gather_axis_{data.dtype.itemsize}", y.size, src, idx, y,
               *map(raw.i64, (outer, n, inner, idx.size)))
    return y


def _refuse_mul(node: Any, graph: Any) -> str | None:
    if node.attrs.get("reduction", "none") == "mul":
        return "scatter reduction 'mul' not supported on CUDA (CuPy has no multiply.at)"
    return None


share("GatherElements", cpu_tensor.GatherElements)
share("GatherND", cpu.GatherND)
for _fn in (cpu.ScatterElements_11, cpu.ScatterElements_16, cpu.ScatterElements):
    share("ScatterElements", _fn, supports=_refuse_mul)
for _fn in (cpu.ScatterND_11, cpu.ScatterND_16, cpu.ScatterND):
    share("ScatterND", _fn, supports=_refuse_mul)
