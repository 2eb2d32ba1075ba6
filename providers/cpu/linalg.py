"""Matrix-structure kernels: Trilu, EyeLike and Det (over the last two axes, batched over the rest)."""

from __future__ import annotations

import numpy as np

from ep_runtime.graph import onnx_dtype_to_numpy

from ._base import as_array
from .registry import kernel


@kernel("Trilu", since=14)
def Trilu(x: np.ndarray, k: np.ndarray | None = None, *, upper: int = 1) -> np.ndarray:
    """Keep the upper (upper=1) or lower triangle of each matrix of the last two axes, shifted by
    diagonal offset k (positive: above the main diagonal); the rest becomes zero."""
    if x.ndim < 2:
        raise ValueError(f"Trilu: input must have rank >= 2, got shape {x.shape}")
    diag = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return np.triu(x, diag) if upper else np.tril(x, diag)


@kernel("EyeLike", since=9)
def EyeLike(x: np.ndarray, *, dtype: int | None = None, k: int = 0) -> np.ndarray:
    """A 2-D matrix shaped like x with ones on diagonal k, in `dtype` (default: x's dtype)."""
    if x.ndim != 2:
        raise ValueError(f"EyeLike: input must be 2-D, got shape {x.shape}")
    dt = x.dtype if dtype is None else onnx_dtype_to_numpy(dtype)
    return np.eye(x.shape[0], x.shape[1], k=k, dtype=dt)


@kernel("Det", since=11)
def Det(x: np.ndarray) -> np.ndarray:
    """Determinant of each square matrix of the last two axes: shape x.shape[:-2]."""
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"Det: input must end in square matrices, got shape {x.shape}")
    work = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)
    return as_array(np.linalg.det(work), x.dtype)
