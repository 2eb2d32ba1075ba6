"""Linear models: LinearClassifier and LinearRegressor (scores = X W^T + b, then a post_transform)."""

from __future__ import annotations

import numpy as np

from ..registry import kernel
from ._common import ML, as_rows, check_present, class_labels
from ._common import post_transform as transform_scores


def _affine(x: np.ndarray, coefficients, intercepts, rows_name: str, op: str) -> np.ndarray:
    """X @ W^T + b in float64, W of shape [targets, features] from the flat `coefficients`."""
    w = np.asarray(check_present(coefficients, "coefficients", op), np.float64)
    c = x.shape[1]
    if c == 0 or len(w) % c:
        raise ValueError(f"{op}: {len(w)} coefficients do not split into rows of {c} features (the input's width)")
    w = w.reshape(-1, c)
    scores = x.astype(np.float64) @ w.T
    if intercepts is not None and len(intercepts):
        if len(intercepts) != w.shape[0]:
            raise ValueError(f"{op}: {len(intercepts)} intercepts for {w.shape[0]} {rows_name}")
        scores += np.asarray(intercepts, np.float64)
    return scores


@kernel("LinearClassifier", 1, domain=ML, multi_output=True)
def LinearClassifier(x, *, coefficients=None, classlabels_ints=None, classlabels_strings=None, intercepts=None,
                     multi_class: int = 0, post_transform: str = "NONE"):
    """Label = the class of the highest raw score; one score row is binary: label by score > 0,
    scores [-s, s] when there are two class labels."""
    op = "LinearClassifier"
    x = as_rows(x, op)
    labels = class_labels(classlabels_ints, classlabels_strings, op)
    scores = _affine(x, coefficients, intercepts, "classes", op)
    if scores.shape[1] == 1:
        s = scores[:, 0]
        two = labels is not None and len(labels) == 2
        if labels is None or labels.dtype != object:
            pair = labels if two else np.asarray([0, 1], np.int64)
        else:
            pair = labels if two else np.asarray(["0", "1"], dtype=object)
        y = pair[(s > 0).astype(np.int64)]
        if two:
            scores = np.stack([-s, s], axis=1)
    else:
        if labels is not None and len(labels) != scores.shape[1]:
            raise ValueError(f"{op}: {scores.shape[1]} score rows but {len(labels)} class labels")
        best = np.argmax(scores, axis=1)
        y = labels[best] if labels is not None else best.astype(np.int64)
    return y, transform_scores(scores.astype(np.float32), post_transform, op)


@kernel("LinearRegressor", 1, domain=ML)
def LinearRegressor(x, *, coefficients=None, intercepts=None, post_transform: str = "NONE", targets: int = 1):
    """[N, targets] float32 = X W^T + b (W given row-major as `coefficients`)."""
    op = "LinearRegressor"
    x = as_rows(x, op)
    scores = _affine(x, coefficients, intercepts, "targets", op)
    if scores.shape[1] != targets:
        raise ValueError(f"{op}: the coefficients make {scores.shape[1]} targets but targets={targets}")
    return transform_scores(scores.astype(np.float32), post_transform, op)
