"""Einsum: numpy's einsum on the equation (explicit `->` or implicit alphabetical output, `...` broadcast).

Half and bfloat16 inputs are computed in float32, small integers in int64, and the result cast back.
"""

from __future__ import annotations

import numpy as np

from ._base import as_array
from .registry import kernel

_NATIVE = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.uint32, np.uint64))


@kernel("Einsum", since=12)
def Einsum(*xs: np.ndarray, equation: str = "") -> np.ndarray:
    if not xs:
        raise ValueError("Einsum: needs at least one input")
    eq = equation.replace(" ", "")
    if not eq:
        raise ValueError("Einsum: the equation attribute is required")
    dtype = xs[0].dtype
    if dtype in _NATIVE:
        work = xs
    else:  # small ints sum in int64, half/bfloat16 in float32, then the result is cast back
        wide = np.int64 if dtype.kind in "iu" else np.float32
        work = tuple(x.astype(wide) for x in xs)
    try:
        r = np.einsum(eq, *work)
    except ValueError as exc:
        shapes = [tuple(x.shape) for x in xs]
        raise ValueError(f"Einsum: equation {equation!r} does not fit inputs of shapes {shapes}: {exc}") from None
    return as_array(r, dtype)
