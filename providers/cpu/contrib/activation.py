"""Activation fusions of the com.microsoft domain: Gelu, FastGelu, BiasGelu, QuickGelu,
BiasSplitGelu (what onnxruntime's transformer optimizer makes of the Gelu subgraphs) and
BiasAdd."""

from __future__ import annotations

import numpy as np

from ..activation import sigmoid
from ..elementwise import Gelu as gelu
from ..registry import kernel
from ._common import MS


def _check_float(x: np.ndarray, what: str, op: str) -> None:
    if x.dtype.kind != "f":
        raise ValueError(f"{op}: {what} must be a float tensor, got {x.dtype}")


def _add_bias(x: np.ndarray, bias: np.ndarray | None, op: str) -> np.ndarray:
    """x + bias, the bias a 1-D tensor over x's last dimension."""
    _check_float(x, "the input", op)
    if bias is None:
        return x
    if bias.ndim != 1 or x.ndim == 0 or bias.shape[0] != x.shape[-1]:
        raise ValueError(f"{op}: bias must be 1-D with the input's last dimension ({x.shape[-1:]}), "
                         f"got shape {bias.shape}")
    return x + bias.astype(x.dtype, copy=False)


@kernel("Gelu", 1, domain=MS)
def Gelu(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + erf(x / sqrt(2)))."""
    _check_float(x, "X", "Gelu")
    return gelu(x)


@kernel("FastGelu", 1, domain=MS)
def FastGelu(x: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """The tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) of x + bias."""
    return gelu(_add_bias(x, bias, "FastGelu"), approximate="tanh")


@kernel("BiasGelu", 1, domain=MS)
def BiasGelu(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gelu (erf form) of A + B, B a 1-D bias over A's last dimension."""
    return gelu(_add_bias(a, b, "BiasGelu"))


@kernel("QuickGelu", 1, domain=MS)
def QuickGelu(x: np.ndarray, *, alpha: float = 1.702) -> np.ndarray:
    """x * sigmoid(alpha * x)."""
    _check_float(x, "X", "QuickGelu")
    return np.asarray(x * sigmoid(x * np.asarray(alpha, x.dtype)), x.dtype)


@kernel("BiasSplitGelu", 1, domain=MS)
def BiasSplitGelu(x: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """X + bias split in halves along the last axis: left * Gelu(right)."""
    op = "BiasSplitGelu"
    y = _add_bias(x, bias, op)
    if y.shape[-1] % 2:
        raise ValueError(f"{op}: the last dimension ({y.shape[-1]}) must be even")
    half = y.shape[-1] // 2
    return np.asarray(y[..., :half] * gelu(np.ascontiguousarray(y[..., half:])), x.dtype)


@kernel("BiasAdd", 1, domain=MS)
def BiasAdd(x: np.ndarray, bias: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """X + bias + skip, X and skip (N, S, C), bias (C)."""
    op = "BiasAdd"
    if x.ndim != 3 or skip.shape != x.shape:
        raise ValueError(f"{op}: X and skip must have the same 3-D shape, got {x.shape} and {skip.shape}")
    return np.asarray(_add_bias(x, bias, op) + skip, x.dtype)
