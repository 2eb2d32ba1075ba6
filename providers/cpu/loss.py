"""Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

Both take scores of shape (N, C, d1, ..., dk) and integer class targets of shape
(N, d1, ..., dk); a target equal to `ignore_index` contributes nothing, neither to the loss
nor to the weight sum that the `mean` reduction divides by.
"""

from __future__ import annotations

import numpy as np

from ._base import as_array
from .registry import kernel
from .softmax import log_softmax

REDUCTIONS = ("none", "sum", "mean")


def nll_loss(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, reduction: str,
             ignore_index: int | None, op: str) -> np.ndarray:
    """-x[n, target[n, d...], d...] times the class weight, reduced as asked."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if x.ndim < 2:
        raise ValueError(f"{op}: input must have shape (N, C, ...), got {x.shape}")
    n, c = x.shape[:2]
    if target.shape != (n,) + x.shape[2:]:
        raise ValueError(f"{op}: target shape {target.shape} does not match input shape {x.shape} "
                         f"(expected {(n,) + x.shape[2:]})")
    target = target.astype(np.int64, copy=False)
    keep = None if ignore_index is None else target != ignore_index
    safe = target if keep is None else np.where(keep, target, 0)
    if safe.size and (safe.min() < 0 or safe.max() >= c):
        raise ValueError(f"{op}: target values must lie in [0, {c}) or equal ignore_index, "
                         f"got values in [{safe.min()}, {safe.max()}]")
    picked = np.take_along_axis(x, np.expand_dims(safe, 1), axis=1)[:, 0]
    if weight is not None:
        if weight.shape != (c,):
            raise ValueError(f"{op}: weight must have shape ({c},), got {weight.shape}")
        w = weight.astype(x.dtype, copy=False)[safe]
        if keep is not None:
            w = np.where(keep, w, np.zeros((), x.dtype))
    elif keep is not None:
        w = keep.astype(x.dtype)
    else:
        w = None
    loss = -picked if w is None else -picked * w
    if reduction == "none":
        return as_array(loss, x.dtype)
    total = loss.sum()
    if reduction == "sum":
        return as_array(total, x.dtype)
    count = w.sum() if w is not None else np.asarray(loss.size, x.dtype)
    return as_array(total / count, x.dtype)


@kernel("NegativeLogLikelihoodLoss", since=12)
def NegativeLogLikelihoodLoss(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, *,
                              ignore_index: int | None = None, reduction: str = "mean") -> np.ndarray:
    return nll_loss(x, target, weight, reduction, ignore_index, "NegativeLogLikelihoodLoss")


@kernel("SoftmaxCrossEntropyLoss", since=12, multi_output=True)
def SoftmaxCrossEntropyLoss(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, *,
                            ignore_index: int | None = None, reduction: str = "mean",
                            _num_outputs: int = 1) -> tuple[np.ndarray, ...]:
    """The NLL loss of log_softmax(scores) along the class axis 1; the optional second output
    is that log-probability tensor."""
    op = "SoftmaxCrossEntropyLoss"
    if scores.ndim < 2:
        raise ValueError(f"{op}: scores must have shape (N, C, ...), got {scores.shape}")
    log_prob = log_softmax(scores, 1)
    loss = nll_loss(log_prob, labels, weights, reduction, ignore_index, op)
    return (loss, log_prob) if _num_outputs > 1 else (loss,)
