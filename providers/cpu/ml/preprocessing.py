"""Feature preprocessing: ArrayFeatureExtractor, Binarizer, FeatureVectorizer, Imputer, Normalizer, Scaler."""

from __future__ import annotations

import numpy as np

from ..registry import kernel
from ._common import ML, as_float, as_rows


@kernel("ArrayFeatureExtractor", 1, domain=ML)
def ArrayFeatureExtractor(x, y):
    """The columns `y` (any shape, flattened) of the last axis of X; a 1-D X gives one row."""
    op = "ArrayFeatureExtractor"
    idx = np.asarray(y).reshape(-1)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{op}: the indices must be integers, got dtype {idx.dtype}")
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{op}: X must have at least one dimension")
    width = x.shape[-1]
    if idx.size and (idx.min() < -width or idx.max() >= width):
        raise ValueError(f"{op}: index {int(idx.max() if idx.max() >= width else idx.min())} is out of range "
                         f"for a last axis of size {width}")
    out = x[..., idx]
    return out.reshape(1, -1) if x.ndim == 1 else out


@kernel("Binarizer", 1, domain=ML)
def Binarizer(x, *, threshold: float = 0.0):
    """1 where X > threshold, else 0, in X's dtype."""
    x = as_float(x, "Binarizer") if x.dtype.kind not in "iuf" else x
    return (x > np.asarray(threshold).astype(x.dtype)).astype(x.dtype)


@kernel("Scaler", 1, domain=ML)
def Scaler(x, *, offset=None, scale=None):
    """(X - offset) * scale per column (one value applies to all columns); float32 output."""
    op = "Scaler"
    x = as_float(x, op)
    width = x.shape[-1] if x.ndim else 1
    out = x.astype(np.float64)
    for name, vals in (("offset", offset), ("scale", scale)):
        if vals is not None and len(vals) not in (1, width):
            raise ValueError(f"{op}: {name} has {len(vals)} values for {width} columns")
    if offset is not None and len(offset):
        out = out - np.asarray(offset, np.float32).astype(np.float64)
    if scale is not None and len(scale):
        out = out * np.asarray(scale, np.float32).astype(np.float64)
    return out.astype(np.float32)


@kernel("Normalizer", 1, domain=ML)
def Normalizer(x, *, norm: str = "MAX"):
    """Each row divided by its max |x| (MAX), sum |x| (L1) or Euclidean norm (L2); zero rows stay 0."""
    op = "Normalizer"
    rows = as_rows(x, op).astype(np.float64)
    if norm == "MAX":
        div = np.abs(rows).max(axis=1, initial=0)
    elif norm == "L1":
        div = np.abs(rows).sum(axis=1)
    elif norm == "L2":
        div = np.sqrt((rows * rows).sum(axis=1))
    else:
        raise ValueError(f"{op}: unknown norm {norm!r}; expected MAX, L1 or L2")
    out = rows / np.where(div == 0, 1, div)[:, None]
    return out.astype(np.float32).reshape(np.shape(x) if np.ndim(x) > 0 else (1, 1))


@kernel("Imputer", 1, domain=ML)
def Imputer(x, *, imputed_value_floats=None, imputed_value_int64s=None, replaced_value_float: float = 0.0,
            replaced_value_int64: int = 0):
    """Entries equal to the replaced value (NaN matches NaN) become the column's imputed value."""
    op = "Imputer"
    x = np.asarray(x)
    if imputed_value_floats is not None and len(imputed_value_floats):
        values, target = np.asarray(imputed_value_floats, np.float32), replaced_value_float
    elif imputed_value_int64s is not None and len(imputed_value_int64s):
        values, target = np.asarray(imputed_value_int64s, np.int64), replaced_value_int64
    else:
        raise ValueError(f"{op}: imputed_value_floats or imputed_value_int64s is required")
    width = x.shape[-1] if x.ndim else 1
    if len(values) not in (1, width):
        raise ValueError(f"{op}: {len(values)} imputed values for {width} columns")
    if x.dtype.kind == "f" and np.isnan(target):
        hit = np.isnan(x)
    else:
        hit = x == np.asarray(target).astype(x.dtype)
    return np.where(hit, values.astype(x.dtype), x)


@kernel("FeatureVectorizer", 1, domain=ML)
def FeatureVectorizer(*xs, inputdimensions=None):
    """The inputs' columns side by side, each cut or zero-padded to its inputdimensions entry; float32."""
    op = "FeatureVectorizer"
    dims = list(inputdimensions) if inputdimensions is not None else [None] * len(xs)
    if len(dims) != len(xs):
        raise ValueError(f"{op}: inputdimensions has {len(dims)} entries for {len(xs)} inputs")
    parts = []
    n = None
    for x, d in zip(xs, dims):
        rows = as_rows(x, op)
        if n is None:
            n = rows.shape[0]
        elif rows.shape[0] != n:
            raise ValueError(f"{op}: inputs have {n} and {rows.shape[0]} rows")
        d = rows.shape[1] if d is None else int(d)
        part = np.zeros((rows.shape[0], d), np.float32)
        w = min(d, rows.shape[1])
        part[:, :w] = rows[:, :w]
        parts.append(part)
    if not parts:
        raise ValueError(f"{op}: needs at least one input")
    return np.concatenate(parts, axis=1)
