"""Support vector machines: SVMClassifier (one-vs-one votes, optional Platt probabilities) and SVMRegressor."""

from __future__ import annotations

import numpy as np

from ..registry import kernel
from ._common import ML, as_rows, class_labels, logistic, probit
from ._common import post_transform as transform_scores

KERNELS = ("LINEAR", "POLY", "RBF", "SIGMOID")


def gram(x: np.ndarray, sv: np.ndarray, kernel_type: str, params, op: str) -> np.ndarray:
    """[N, S] kernel values between the samples and the support vectors (float64)."""
    gamma, coef0, degree = (list(params) + [0.0, 0.0, 0.0])[:3] if params else (0.0, 0.0, 0.0)
    kt = kernel_type.upper()
    if kt not in KERNELS:
        raise ValueError(f"{op}: unknown kernel_type {kernel_type!r}; expected one of {', '.join(KERNELS)}")
    if kt == "RBF":
        d2 = (x * x).sum(axis=1)[:, None] + (sv * sv).sum(axis=1)[None, :] - 2 * (x @ sv.T)
        return np.exp(-gamma * np.maximum(d2, 0))
    dot = x @ sv.T
    if kt == "LINEAR":
        return dot
    if kt == "POLY":
        return (gamma * dot + coef0) ** int(degree)
    return np.tanh(gamma * dot + coef0)


def _vectors(x: np.ndarray, support_vectors, count: int, op: str) -> np.ndarray:
    sv = np.asarray(support_vectors if support_vectors is not None else [], np.float64)
    if count == 0 or len(sv) != count * x.shape[1]:
        raise ValueError(f"{op}: {len(sv)} support vector values do not make {count} vectors of "
                         f"{x.shape[1]} features (the input's width)")
    return sv.reshape(count, x.shape[1])


@kernel("SVMRegressor", 1, domain=ML)
def SVMRegressor(x, *, coefficients=None, kernel_params=None, kernel_type: str = "LINEAR", n_supports: int = 0,
                 one_class: int = 0, post_transform: str = "NONE", rho=None, support_vectors=None):
    """[N, 1] float32: sum_j coef_j K(x, sv_j) + rho (or x . coef + rho without support vectors);
    one_class gives +1 / -1."""
    op = "SVMRegressor"
    x = as_rows(x, op).astype(np.float64)
    coef = np.asarray(coefficients if coefficients is not None else [], np.float64)
    b = float(rho[0]) if rho else 0.0
    if n_supports > 0:
        k = gram(x, _vectors(x, support_vectors, n_supports, op), kernel_type, kernel_params, op)
        if len(coef) != n_supports:
            raise ValueError(f"{op}: {len(coef)} coefficients for {n_supports} support vectors")
        s = k @ coef + b
    else:
        if len(coef) != x.shape[1]:
            raise ValueError(f"{op}: {len(coef)} coefficients for {x.shape[1]} input features")
        s = x @ coef + b
    if one_class:
        s = np.where(s > 0, 1.0, -1.0)
    return transform_scores(s.reshape(-1, 1).astype(np.float32), post_transform, op)


def couple(r: np.ndarray) -> np.ndarray:
    """Multi-class probabilities from pairwise ones (libsvm's multiclass_probability, Wu-Lin-Weng
    method 2), for all samples at once: r is [N, k, k] with r[:, i, j] = P(i | i or j)."""
    n, k = r.shape[0], r.shape[1]
    q = -r.transpose(0, 2, 1) * r
    idx = np.arange(k)
    q[:, idx, idx] = (r.transpose(0, 2, 1) ** 2).sum(axis=2) - r[:, idx, idx] ** 2
    p = np.full((n, k), 1.0 / k)
    eps = 0.005 / k
    live = np.arange(n)
    for _ in range(max(100, k)):
        qp = np.einsum("nij,nj->ni", q[live], p[live])
        pqp = (p[live] * qp).sum(axis=1)
        err = np.abs(qp - pqp[:, None]).max(axis=1)
        keep = err >= eps
        live, qp, pqp = live[keep], qp[keep], pqp[keep]
        if not live.size:
            break
        pl, ql = p[live], q[live]
        for t in range(k):
            qtt = ql[:, t, t]
            diff = (-qp[:, t] + pqp) / qtt
            pl[:, t] += diff
            pqp = (pqp + diff * (diff * qtt + 2 * qp[:, t])) / (1 + diff) ** 2
            pl /= (1 + diff)[:, None]
            qp = (qp + diff[:, None] * ql[:, t, :]) / (1 + diff)[:, None]
        p[live] = pl
    return p


@kernel("SVMClassifier", 1, domain=ML, multi_output=True)
def SVMClassifier(x, *, classlabels_ints=None, classlabels_strings=None, coefficients=None, kernel_params=None,
                  kernel_type: str = "LINEAR", post_transform: str = "NONE", prob_a=None, prob_b=None, rho=None,
                  support_vectors=None, vectors_per_class=None):
    """One-vs-one SVM: each class pair's decision value votes; the label is the most voted class.

    With prob_a/prob_b the scores are Platt-scaled pairwise probabilities coupled into class
    probabilities; without, the pairwise decision values (binary: [-s, s])."""
    op = "SVMClassifier"
    x = as_rows(x, op).astype(np.float64)
    labels = class_labels(classlabels_ints, classlabels_strings, op)
    k = max(len(labels) if labels is not None else 0, 1)
    coef = np.asarray(coefficients if coefficients is not None else [], np.float64)
    rho_ = np.asarray(rho if rho is not None else [0.0], np.float64)
    per_class = np.asarray(vectors_per_class if vectors_per_class is not None else [], np.int64)
    n_vectors = int(per_class.sum())
    votes = None
    if n_vectors > 0:
        if len(per_class) != k:
            raise ValueError(f"{op}: vectors_per_class has {len(per_class)} entries for {k} classes")
        if len(coef) != (k - 1) * n_vectors:
            raise ValueError(f"{op}: expected (classes - 1) * vectors = {(k - 1) * n_vectors} coefficients, "
                             f"got {len(coef)}")
        gk = gram(x, _vectors(x, support_vectors, n_vectors, op), kernel_type, kernel_params, op)
        coef = coef.reshape(k - 1, n_vectors)
        start = np.concatenate([[0], np.cumsum(per_class)[:-1]])
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        if len(rho_) < len(pairs):
            raise ValueError(f"{op}: rho has {len(rho_)} values for {len(pairs)} class pairs")
        scores = np.empty((x.shape[0], len(pairs)))
        votes = np.zeros((x.shape[0], k))
        for p, (i, j) in enumerate(pairs):
            si, sj = slice(start[i], start[i] + per_class[i]), slice(start[j], start[j] + per_class[j])
            s = gk[:, si] @ coef[j - 1, si] + gk[:, sj] @ coef[i, sj] + rho_[p]
            scores[:, p] = s
            votes[:, i] += s > 0
            votes[:, j] += s <= 0
    else:
        if len(coef) % k or len(coef) // k != x.shape[1]:
            raise ValueError(f"{op}: {len(coef)} coefficients do not make {k} rows of {x.shape[1]} features")
        scores = x @ coef.reshape(k, -1).T + rho_[0]

    has_proba = prob_a is not None and len(prob_a) > 0 and n_vectors > 0
    if has_proba:
        a = np.asarray(prob_a, np.float64)
        b = np.asarray(prob_b if prob_b is not None else [], np.float64)
        if len(a) != scores.shape[1] or len(b) != scores.shape[1]:
            raise ValueError(f"{op}: prob_a and prob_b need one value per class pair ({scores.shape[1]})")
        pair_p = np.clip(1 - logistic(scores * a + b), 1e-7, 1 - 1e-7)
        r = np.zeros((x.shape[0], k, k))
        iu, ju = np.triu_indices(k, 1)
        r[:, iu, ju] = pair_p
        r[:, ju, iu] = 1 - pair_p
        scores = couple(r)

    ranked = votes if votes is not None else scores
    best = np.argmax(ranked, axis=1)
    top = ranked[np.arange(len(best)), best]
    second = -1
    if len(rho_) == 1 and labels is not None and len(labels) == 2:  # binary
        second = 2
        if not has_proba and (coef >= 0).all():
            best = np.where(top >= 0.5, 1, best)
        y = labels[best]
    elif len(rho_) == 1:  # binary without two labels: 1 / 0
        y = (top > 0).astype(np.int64)
        if labels is not None and labels.dtype == object:
            y = y.astype(str).astype(object)
    else:
        y = labels[best] if labels is not None else best.astype(np.int64)

    if scores.shape[1] == 1:
        s = scores[:, 0]
        if post_transform == "PROBIT":
            z = probit(s)[:, None]
        elif second == 2:
            z = transform_scores(np.stack([-s, s], axis=1), post_transform, op)
        else:
            z = scores
    else:
        z = transform_scores(scores, post_transform, op)
    return y, z.astype(np.float32)
