"""Shared helpers of the ai.onnx.ml kernels: input coercion, post transforms, class labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: The domain every kernel of this package registers in.
ML = "ai.onnx.ml"

POST_TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT")


def as_float(x: np.ndarray, op: str) -> np.ndarray:
    """A numeric input as float32 (float64 and float32 kept as they are); strings are an error."""
    x = np.asarray(x)
    if x.dtype in (np.float32, np.float64):
        return x
    if x.dtype.kind in "iub" or x.dtype == np.float16:
        return x.astype(np.float32)
    raise ValueError(f"{op}: expects a numeric tensor, got dtype {x.dtype}")


def as_rows(x: np.ndarray, op: str) -> np.ndarray:
    """A [N, C] (or [C], one row) float input as a 2-D float array."""
    x = as_float(x, op)
    if x.ndim == 0:
        return x.reshape(1, 1)
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim > 2:
        return x.reshape(x.shape[0], -1)
    return x


def floats_attr(floats: Sequence[float] | None, tensor: np.ndarray | None, name: str, op: str) -> np.ndarray | None:
    """An attribute given either as `name` (floats) or `name_as_tensor`, as a flat array (None when absent)."""
    if floats is not None and tensor is not None:
        raise ValueError(f"{op}: set only one of {name} and {name}_as_tensor")
    if tensor is not None:
        return np.asarray(tensor).reshape(-1)
    if floats is not None:
        return np.asarray(floats, dtype=np.float32)
    return None


def logistic(v: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-v)) without overflow for large |v|."""
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1 / (1 + e), e / (1 + e)).astype(v.dtype, copy=False)


def softmax(v: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_zero(v: np.ndarray) -> np.ndarray:
    """Softmax over the last axis where (near-)zero scores stay zero; a row of zeros gives 0.5."""
    vmax = v.max(axis=-1, keepdims=True)
    e = np.where(np.abs(v) > 1e-7, np.exp(v - vmax), v * np.exp(-vmax))
    s = e.sum(axis=-1, keepdims=True)
    return np.where(s == 0, np.asarray(0.5, v.dtype), e / np.where(s == 0, 1, s)).astype(v.dtype, copy=False)


def probit(v: np.ndarray) -> np.ndarray:
    """sqrt(2) * erfinv(2v - 1) with the closed-form erfinv approximation onnxruntime uses."""
    x = 2 * v.astype(np.float64) - 1
    sgn = np.where(x < 0, -1.0, 1.0)
    t = np.log((1 - x) * (1 + x))
    a = 2 / (np.pi * 0.147) + 0.5 * t
    r = sgn * np.sqrt(-a + np.sqrt(a * a - t / 0.147))
    return (1.41421356 * r).astype(v.dtype)


def post_transform(scores: np.ndarray, name: str, op: str) -> np.ndarray:
    """Apply a post_transform by name to [N, K] scores (a new array)."""
    if name == "NONE":
        return scores
    if name == "LOGISTIC":
        return logistic(scores)
    if name == "SOFTMAX":
        return softmax(scores)
    if name == "SOFTMAX_ZERO":
        return softmax_zero(scores)
    if name == "PROBIT":
        return probit(scores)
    raise ValueError(f"{op}: unknown post_transform {name!r}; expected one of {', '.join(POST_TRANSFORMS)}")


def class_labels(ints: Sequence[int] | None, strings: Sequence[str] | None, op: str) -> np.ndarray | None:
    """The class labels as an int64 or object (str) array; None when neither attribute is set."""
    if ints is not None and len(ints) and strings is not None and len(strings):
        raise ValueError(f"{op}: set only one of the int and string class labels")
    if strings is not None and len(strings):
        return np.asarray(list(strings), dtype=object)
    if ints is not None:
        return np.asarray(ints, dtype=np.int64)
    return None


def take_labels(labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """labels[index], keeping the label dtype (object arrays of str for string labels)."""
    return labels[index].astype(labels.dtype, copy=False)


def check_present(value: Any, name: str, op: str) -> Any:
    if value is None:
        raise ValueError(f"{op}: the attribute {name!r} is required")
    return value
