"""Host buffers whose data starts on a cache-line boundary, for the C kernels' vector loads.

NumPy places large arrays 16 bytes past a page boundary, so an AVX-512 load of 64 bytes from one
straddles two cache lines (twice the load-port work). The arena, the constants and the input buffers
the C library reads are allocated here instead, starting at a multiple of `codegen.ALIGN` bytes (the
alignment the arena's own blocks and an export's weights already keep).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .codegen import ALIGN


def aligned_empty(shape: int | Sequence[int], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised C-contiguous array of `shape` and `dtype` whose data starts on an ALIGN-byte boundary."""
    dt = np.dtype(dtype)
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    count = int(np.prod(dims, dtype=np.int64))
    raw = np.empty(count * dt.itemsize + ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + count * dt.itemsize].view(dt).reshape(dims)


def aligned_copy(array: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """`array` (cast to `dtype` when given) as a C-contiguous array starting on an ALIGN-byte boundary;
    `array` itself when it already is one."""
    a = np.ascontiguousarray(array, dtype=dtype)
    if a.ctypes.data % ALIGN == 0:
        return a
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out
