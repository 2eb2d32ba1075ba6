"""Random generators: RandomUniform(Like), RandomNormal(Like), Bernoulli and Multinomial.

Every call draws from a fresh numpy `RandomState`: seeded with the `seed` attribute when it is
given (the same seed gives the same output, run after run, as onnx's reference evaluator),
from the operating system's entropy otherwise. Values are drawn in float64 and cast to `dtype`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ep_runtime.graph import onnx_dtype_to_numpy
from ep_runtime.op_shapes import ints
from ep_runtime.seed import unseeded_generator

from .registry import kernel


def generator(seed: float | None) -> np.random.RandomState:
    """A RandomState seeded by the (float) seed attribute; without one, from ep_runtime.set_seed's stream
    when it was called, else unpredictably."""
    if seed is None or np.isnan(seed):
        return unseeded_generator()
    return np.random.RandomState(int(seed) % 2**32)


def _float_dtype(dtype: int | None, like: np.ndarray | None, op: str) -> np.dtype:
    dt = like.dtype if dtype is None and like is not None else onnx_dtype_to_numpy(1 if dtype is None else dtype)
    if dt.kind not in "fV":  # float16/32/64, and ml_dtypes floats such as bfloat16 (kind "V")
        raise ValueError(f"{op}: dtype must be a floating type, got {dt}")
    return dt


def _shape(shape: Sequence[int] | None, op: str) -> list[int]:
    if shape is None:
        raise ValueError(f"{op}: the shape attribute is required")
    dims = ints(shape)
    if any(d < 0 for d in dims):
        raise ValueError(f"{op}: negative dimension in shape {dims}")
    return dims


def uniform(shape: Sequence[int], dt: np.dtype, low: float, high: float, seed: float | None) -> np.ndarray:
    return (generator(seed).random_sample(tuple(shape)) * (high - low) + low).astype(dt)


def normal(shape: Sequence[int], dt: np.dtype, mean: float, scale: float, seed: float | None) -> np.ndarray:
    return generator(seed).normal(mean, scale, tuple(shape)).astype(dt)


@kernel("RandomUniform", since=1)
def RandomUniform(*, dtype: int = 1, high: float = 1.0, low: float = 0.0, seed: float | None = None,
                  shape: list[int] | None = None) -> np.ndarray:
    """Uniform samples in [low, high) of the given shape."""
    return uniform(_shape(shape, "RandomUniform"), _float_dtype(dtype, None, "RandomUniform"), low, high, seed)


@kernel("RandomNormal", since=1)
def RandomNormal(*, dtype: int = 1, mean: float = 0.0, scale: float = 1.0, seed: float | None = None,
                 shape: list[int] | None = None) -> np.ndarray:
    """Normal samples N(mean, scale**2) of the given shape."""
    return normal(_shape(shape, "RandomNormal"), _float_dtype(dtype, None, "RandomNormal"), mean, scale, seed)


@kernel("RandomUniformLike", since=1)
def RandomUniformLike(x: np.ndarray, *, dtype: int | None = None, high: float = 1.0, low: float = 0.0,
                      seed: float | None = None) -> np.ndarray:
    """Uniform samples shaped like x, in `dtype` (default: x's dtype)."""
    return uniform(x.shape, _float_dtype(dtype, x, "RandomUniformLike"), low, high, seed)


@kernel("RandomNormalLike", since=1)
def RandomNormalLike(x: np.ndarray, *, dtype: int | None = None, mean: float = 0.0, scale: float = 1.0,
                     seed: float | None = None) -> np.ndarray:
    """Normal samples shaped like x, in `dtype` (default: x's dtype)."""
    return normal(x.shape, _float_dtype(dtype, x, "RandomNormalLike"), mean, scale, seed)


@kernel("Bernoulli", since=15)
def Bernoulli(x: np.ndarray, *, dtype: int | None = None, seed: float | None = None) -> np.ndarray:
    """1 with probability x (elementwise), else 0, in `dtype` (default: x's dtype)."""
    p = x.astype(np.float64)
    if p.size and (np.isnan(p).any() or p.min() < 0 or p.max() > 1):
        raise ValueError("Bernoulli: probabilities must lie in [0, 1]")
    dt = x.dtype if dtype is None else onnx_dtype_to_numpy(dtype)
    return (generator(seed).random_sample(x.shape) < p).astype(dt)


@kernel("Multinomial", since=7)
def Multinomial(x: np.ndarray, *, dtype: int = 6, sample_size: int = 1, seed: float | None = None) -> np.ndarray:
    """`sample_size` class indices per batch row, drawn from softmax of the row's unnormalized
    log-probabilities x of shape (batch, classes); output (batch, sample_size) int32 or int64."""
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"Multinomial: input must be (batch, classes) with classes > 0, got shape {x.shape}")
    dt = onnx_dtype_to_numpy(dtype)
    if dt not in (np.int32, np.int64):
        raise ValueError(f"Multinomial: dtype must be int32 or int64, got {dt}")
    logits = x.astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    u = generator(seed).random_sample((x.shape[0], sample_size))
    idx = (u[:, :, None] >= cdf[:, None, :]).sum(axis=2)
    return np.minimum(idx, x.shape[1] - 1).astype(dt)
