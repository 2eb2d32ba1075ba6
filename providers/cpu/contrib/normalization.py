"""Normalization fusions of the com.microsoft domain: SkipLayerNormalization,
SkipSimplifiedLayerNormalization (residual add, optional bias, then LayerNorm / RMSNorm over the
last axis) and EmbedLayerNormalization (BERT's embedding sum, LayerNorm and mask index)."""

from __future__ import annotations

import numpy as np

from ep_runtime.graph import Graph, Node

from ..registry import kernel
from ._common import MS


def _vector(v: np.ndarray | None, n: int, what: str, op: str) -> np.ndarray | None:
    if v is None:
        return None
    if v.ndim != 1 or v.shape[0] != n:
        raise ValueError(f"{op}: {what} must be 1-D of the hidden size {n}, got shape {v.shape}")
    return v


def _skip_sum(x: np.ndarray, skip: np.ndarray, bias: np.ndarray | None, op: str) -> np.ndarray:
    """input + skip (+ bias): skip has the input's shape or broadcasts over its leading dims."""
    if x.dtype.kind != "f" or skip.dtype != x.dtype:
        raise ValueError(f"{op}: input and skip must be float tensors of one type, got {x.dtype} and {skip.dtype}")
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: input must be 2-D or 3-D, got shape {x.shape}")
    if skip.ndim > x.ndim or skip.shape != x.shape[x.ndim - skip.ndim:] and skip.shape != (1,) + x.shape[1:]:
        raise ValueError(f"{op}: skip of shape {skip.shape} does not match input {x.shape}")
    s = x + skip
    b = _vector(bias, x.shape[-1], "bias", op)
    if b is not None:
        s += b
    return s


def _outputs(y, mean, inv, total, num_outputs: int) -> tuple:
    return (y, mean, inv, total)[:max(num_outputs, 1)]


@kernel("SkipLayerNormalization", 1, domain=MS, multi_output=True)
def SkipLayerNormalization(x: np.ndarray, skip: np.ndarray, gamma: np.ndarray, beta: np.ndarray | None = None,
                           bias: np.ndarray | None = None, *, epsilon: float = 1e-12, _num_outputs: int = 1):
    """LayerNorm over the last axis of s = input + skip + bias, times gamma plus beta; also the
    mean, 1 / std (shape [..., 1]) and s itself."""
    op = "SkipLayerNormalization"
    s = _skip_sum(x, skip, bias, op)
    n = s.shape[-1]
    mean = s.mean(axis=-1, keepdims=True)
    centered = s - mean
    inv = 1 / np.sqrt(np.mean(centered * centered, axis=-1, keepdims=True) + np.asarray(epsilon, s.dtype))
    y = centered * inv * _vector(gamma, n, "gamma", op)
    b = _vector(beta, n, "beta", op)
    if b is not None:
        y += b
    return _outputs(y.astype(x.dtype, copy=False), mean.astype(np.float32), inv.astype(np.float32), s, _num_outputs)


def _no_mean_output(node: Node, graph: Graph) -> str | None:
    if len(node.outputs) > 1 and node.outputs[1]:
        return "output 1 (mean) is not defined for RMS normalization"
    return None


@kernel("SkipSimplifiedLayerNormalization", 1, domain=MS, multi_output=True, supports=_no_mean_output)
def SkipSimplifiedLayerNormalization(x: np.ndarray, skip: np.ndarray, gamma: np.ndarray,
                                     bias: np.ndarray | None = None, *, epsilon: float = 1e-12,
                                     _num_outputs: int = 1):
    """RMSNorm over the last axis of s = input + skip + bias, times gamma; also 1 / rms (output 2)
    and s itself (output 3). Output 1 (a mean) does not exist for RMS normalization: a node asking
    for it is refused."""
    op = "SkipSimplifiedLayerNormalization"
    s = _skip_sum(x, skip, bias, op)
    inv = 1 / np.sqrt(np.mean(s * s, axis=-1, keepdims=True) + np.asarray(epsilon, s.dtype))
    y = s * inv * _vector(gamma, s.shape[-1], "gamma", op)
    return _outputs(y.astype(x.dtype, copy=False), None, inv.astype(np.float32), s, _num_outputs)


def _lookup(table: np.ndarray, ids: np.ndarray, what: str, op: str) -> np.ndarray:
    if table.ndim != 2:
        raise ValueError(f"{op}: {what} must be 2-D, got shape {table.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise ValueError(f"{op}: {what} ids must lie in [0, {table.shape[0]}), got values in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    return table[ids]


@kernel("EmbedLayerNormalization", 1, domain=MS, multi_output=True)
def EmbedLayerNormalization(input_ids: np.ndarray, segment_ids: np.ndarray | None, word_embedding: np.ndarray,
                            position_embedding: np.ndarray, segment_embedding: np.ndarray | None,
                            gamma: np.ndarray, beta: np.ndarray, mask: np.ndarray | None = None,
                            position_ids: np.ndarray | None = None, *, epsilon: float = 1e-12,
                            mask_index_type: int = 1, _num_outputs: int = 1):
    """LayerNorm of word[input_ids] + position[position_ids] (+ segment[segment_ids]); the mask
    index is the number of non-zero mask entries per sequence (0s without a mask); the third
    output is the embedding sum before normalization."""
    op = "EmbedLayerNormalization"
    if input_ids.ndim != 2:
        raise ValueError(f"{op}: input_ids must be 2-D (batch, sequence), got shape {input_ids.shape}")
    if mask_index_type not in (0, 1):
        raise ValueError(f"{op}: mask_index_type must be 0 or 1, got {mask_index_type}")
    batch, seq = input_ids.shape
    if position_ids is None:
        position_ids = np.broadcast_to(np.arange(seq), (batch, seq))
    elif position_ids.shape not in ((batch, seq), (1, seq)):
        raise ValueError(f"{op}: position_ids must have shape ({batch}, {seq}) or (1, {seq}), got {position_ids.shape}")
    total = _lookup(word_embedding, input_ids, "word_embedding", op) + _lookup(
        position_embedding, np.broadcast_to(position_ids, (batch, seq)), "position_embedding", op)
    if (segment_ids is None) != (segment_embedding is None):
        raise ValueError(f"{op}: segment_ids and segment_embedding must be given together")
    if segment_ids is not None:
        if segment_ids.shape != input_ids.shape:
            raise ValueError(f"{op}: segment_ids must have input_ids' shape {input_ids.shape}, got {segment_ids.shape}")
        total = total + _lookup(segment_embedding, segment_ids, "segment_embedding", op)
    n = total.shape[-1]
    mean = total.mean(axis=-1, keepdims=True)
    centered = total - mean
    inv = 1 / np.sqrt(np.mean(centered * centered, axis=-1, keepdims=True) + np.asarray(epsilon, total.dtype))
    y = centered * inv * _vector(gamma, n, "gamma", op) + _vector(beta, n, "beta", op)
    if mask is None:
        mask_index = np.zeros(batch, np.int32)
    else:
        if mask.shape != input_ids.shape:
            raise ValueError(f"{op}: mask must have input_ids' shape {input_ids.shape}, got {mask.shape}")
        mask_index = np.count_nonzero(mask, axis=1).astype(np.int32)
    return (y.astype(word_embedding.dtype, copy=False), mask_index, total)[:max(_num_outputs, 1)]
