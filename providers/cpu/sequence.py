"""Sequence kernels; a sequence is a Python list of ndarrays (kernels never mutate one in place)."""

from __future__ import annotations

import numpy as np

from ep_runtime.op_shapes import ints, normalize_axis

from ._base import as_array
from .registry import kernel
from .tensor import split_tensor


def _position(seq: list, pos: np.ndarray | None, op: str, insert: bool = False) -> int | None:
    if pos is None:
        return None
    p = int(np.asarray(pos).reshape(()))
    n = len(seq)
    hi = n if insert else n - 1
    if not -n <= p <= hi:
        raise ValueError(f"{op}: position {p} is out of range for a sequence of length {n}")
    return p + n if p < 0 else p


@kernel("SequenceConstruct", since=11)
def SequenceConstruct(*xs: np.ndarray) -> list:
    return list(xs)


@kernel("SequenceEmpty", since=11)
def SequenceEmpty(*, dtype: int | None = None) -> list:
    return []


@kernel("SequenceAt", since=11)
def SequenceAt(seq: list, position: np.ndarray) -> np.ndarray:
    return seq[_position(seq, position, "SequenceAt")]


@kernel("SequenceInsert", since=11)
def SequenceInsert(seq: list, tensor: np.ndarray, position: np.ndarray | None = None) -> list:
    p = _position(seq, position, "SequenceInsert", insert=True)
    out = list(seq)
    out.insert(len(out) if p is None else p, tensor)
    return out


@kernel("SequenceErase", since=11)
def SequenceErase(seq: list, position: np.ndarray | None = None) -> list:
    if not seq:
        raise ValueError("SequenceErase: the sequence is empty")
    p = _position(seq, position, "SequenceErase")
    out = list(seq)
    del out[len(out) - 1 if p is None else p]
    return out


@kernel("SequenceLength", since=11)
def SequenceLength(seq: list) -> np.ndarray:
    return np.array(len(seq), dtype=np.int64)


@kernel("ConcatFromSequence", since=11)
def ConcatFromSequence(seq: list, *, axis: int | None = None, new_axis: int = 0) -> np.ndarray:
    if axis is None:
        raise ValueError("ConcatFromSequence: the axis attribute is required")
    if not seq:
        raise ValueError("ConcatFromSequence: the sequence is empty")
    if new_axis:
        ax = normalize_axis(axis, seq[0].ndim + 1, "ConcatFromSequence")
        return np.stack(seq, axis=ax)
    ax = normalize_axis(axis, seq[0].ndim, "ConcatFromSequence")
    try:
        return np.concatenate(seq, axis=ax)
    except ValueError:
        shapes = [tuple(t.shape) for t in seq]
        raise ValueError(f"ConcatFromSequence: tensors of shapes {shapes} cannot be joined along axis {axis}") from None


@kernel("SplitToSequence", since=11)
def SplitToSequence(x: np.ndarray, split: np.ndarray | None = None, *, axis: int = 0, keepdims: int = 1) -> list:
    """No split: pieces of size 1 (squeezed unless keepdims); a scalar split: pieces of that size
    (the last one smaller); a 1-D split: those sizes."""
    ax = normalize_axis(axis, x.ndim, "SplitToSequence")
    dim = x.shape[ax]
    if split is None:
        parts = split_tensor(x, [1] * dim, ax, dim) if dim else []
        return [as_array(np.squeeze(p, axis=ax)) for p in parts] if not keepdims else list(parts)
    if np.asarray(split).ndim == 0:
        size = int(split)
        if size <= 0:
            raise ValueError(f"SplitToSequence: split size must be positive, got {size}")
        sizes = [size] * (dim // size) + ([dim % size] if dim % size else [])
    else:
        sizes = ints(split)
    return list(split_tensor(x, sizes, ax, len(sizes)))
