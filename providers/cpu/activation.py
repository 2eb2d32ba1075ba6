"""Gated and parametric activations: Swish and SwiGLU."""

from __future__ import annotations

import numpy as np

from ._base import as_array
from .elementwise import sigmoid
from .registry import kernel


def swish(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """x * sigmoid(alpha * x)."""
    ax = x if alpha == 1.0 else x * np.asarray(alpha, x.dtype)
    return as_array(x * sigmoid(ax), x.dtype)


@kernel("Swish", since=24)
def Swish(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    return swish(x, alpha)


@kernel("SwiGLU", since=28)
def SwiGLU(a: np.ndarray, b: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """Swish_alpha(A) * B for a gate A and a value B of the same shape (no broadcasting)."""
    if a.shape != b.shape:
        raise ValueError(f"SwiGLU: A and B must have the same shape (no broadcasting), got {a.shape} and {b.shape}")
    return as_array(swish(a, alpha) * b, a.dtype)
