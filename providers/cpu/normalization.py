"""Normalizations: BatchNormalization, InstanceNormalization, LRN, LayerNormalization, MeanVarianceNormalization."""

from __future__ import annotations

import numpy as np

from ._base import as_array, normalize_axes, normalize_axis
from .registry import kernel


def _channel_param(p: np.ndarray, x: np.ndarray, name: str, op: str) -> np.ndarray:
    """A per-channel parameter shaped to broadcast against x (N, C, ...). Before opset 9 a
    parameter may also cover (C, spatial...) (spatial=0)."""
    c = x.shape[1] if x.ndim > 1 else 1
    if p.ndim == 1:
        if p.shape[0] != c:
            raise ValueError(f"{op}: {name} has {p.shape[0]} values but the input has {c} channels")
        return p.reshape((c,) + (1,) * (x.ndim - 2))
    if p.shape != x.shape[1:]:
        raise ValueError(f"{op}: {name} of shape {p.shape} matches neither (C,) nor the input's {x.shape[1:]}")
    return p


def _bn_inference(x, scale, b, mean, var, epsilon):
    op = "BatchNormalization"
    scale, b, mean, var = (_channel_param(p, x, nm, op).astype(x.dtype, copy=False)
                           for p, nm in ((scale, "scale"), (b, "B"), (mean, "mean"), (var, "var")))
    a = scale / np.sqrt(var + np.asarray(epsilon, x.dtype))
    y = x * a
    y += b - mean * a
    return y


def _bn_training(x, scale, b, mean, var, epsilon, momentum):
    """Batch statistics: (Y, running mean, running var, batch mean, batch var)."""
    axes = (0,) + tuple(range(2, x.ndim))
    bm = x.mean(axis=axes)
    bv = x.var(axis=axes)
    y = _bn_inference(x, scale, b, bm, bv, epsilon)
    rm = as_array(mean * momentum + bm * (1 - momentum), mean.dtype)
    rv = as_array(var * momentum + bv * (1 - momentum), var.dtype)
    return y, rm, rv, as_array(bm, x.dtype), as_array(bv, x.dtype)


def _bn_old(x, scale, b, mean, var, epsilon, momentum, training, num_outputs):
    if training and num_outputs > 1:
        return _bn_training(x, scale, b, mean, var, epsilon, momentum)[:num_outputs]
    return (_bn_inference(x, scale, b, mean, var, epsilon),)


@kernel("BatchNormalization", since=1, until=5, multi_output=True)
def BatchNormalization_1(x, scale, b, mean, var, *, consumed_inputs: list[int] | None = None,
                         epsilon: float = 1e-5, is_test: int = 0, momentum: float = 0.9, spatial: int = 1,
                         _num_outputs: int = 1):
    return _bn_old(x, scale, b, mean, var, epsilon, momentum, not is_test, _num_outputs)


@kernel("BatchNormalization", since=6, until=6, multi_output=True)
def BatchNormalization_6(x, scale, b, mean, var, *, epsilon: float = 1e-5, is_test: int = 0,
                         momentum: float = 0.9, spatial: int = 1, _num_outputs: int = 1):
    return _bn_old(x, scale, b, mean, var, epsilon, momentum, not is_test, _num_outputs)


@kernel("BatchNormalization", since=7, until=8, multi_output=True)
def BatchNormalization_7(x, scale, b, mean, var, *, epsilon: float = 1e-5, momentum: float = 0.9,
                         spatial: int = 1, _num_outputs: int = 1):
    return _bn_old(x, scale, b, mean, var, epsilon, momentum, True, _num_outputs)


@kernel("BatchNormalization", since=9, until=13, multi_output=True)
def BatchNormalization_9(x, scale, b, mean, var, *, epsilon: float = 1e-5, momentum: float = 0.9,
                         _num_outputs: int = 1):
    return _bn_old(x, scale, b, mean, var, epsilon, momentum, True, _num_outputs)


@kernel("BatchNormalization", since=14, multi_output=True)
def BatchNormalization(x, scale, b, input_mean, input_var, *, epsilon: float = 1e-5, momentum: float = 0.9,
                       training_mode: int = 0, _num_outputs: int = 1):
    """Inference uses the running statistics; training_mode=1 normalizes with the batch
    statistics and also returns the updated running mean and variance."""
    if training_mode:
        return _bn_training(x, scale, b, input_mean, input_var, epsilon, momentum)[:max(_num_outputs, 1)]
    return (_bn_inference(x, scale, b, input_mean, input_var, epsilon),)


def _instance_norm(x: np.ndarray, scale: np.ndarray, b: np.ndarray, epsilon: float) -> np.ndarray:
    if x.ndim < 3:
        raise ValueError(f"InstanceNormalization: input must have rank >= 3, got shape {x.shape}")
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = np.mean(np.square(centered), axis=axes, keepdims=True)
    op = "InstanceNormalization"
    s = _channel_param(scale, x, "scale", op)
    bb = _channel_param(b, x, "B", op)
    y = centered * (s / np.sqrt(var + np.asarray(epsilon, x.dtype)))
    y += bb
    return as_array(y, x.dtype)


@kernel("InstanceNormalization", since=1, until=5)
def InstanceNormalization_1(x, scale, b, *, consumed_inputs: list[int] | None = None, epsilon: float = 1e-5):
    return _instance_norm(x, scale, b, epsilon)


@kernel("InstanceNormalization", since=6)
def InstanceNormalization(x: np.ndarray, scale: np.ndarray, b: np.ndarray, *, epsilon: float = 1e-5) -> np.ndarray:
    return _instance_norm(x, scale, b, epsilon)


@kernel("LRN", since=1)
def LRN(x: np.ndarray, *, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0,
        size: int | None = None) -> np.ndarray:
    """x / (bias + alpha / size * sum of squares over `size` neighbouring channels) ** beta."""
    if size is None:
        raise ValueError("LRN: the size attribute is required")
    if x.ndim < 2:
        raise ValueError(f"LRN: input must have rank >= 2 (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    lo = (size - 1) // 2
    hi = size - 1 - lo
    sq = np.square(x)
    padded = np.zeros((x.shape[0], c + lo + hi) + x.shape[2:], dtype=x.dtype)
    padded[:, lo:lo + c] = sq
    acc = padded[:, 0:c].copy()
    for j in range(1, size):
        acc += padded[:, j:j + c]
    acc *= np.asarray(alpha / size, x.dtype)
    acc += np.asarray(bias, x.dtype)
    return as_array(x / np.power(acc, np.asarray(beta, x.dtype)), x.dtype)


@kernel("LayerNormalization", since=17, multi_output=True)
def LayerNormalization(x: np.ndarray, scale: np.ndarray, b: np.ndarray | None = None, *, axis: int = -1,
                       epsilon: float = 1e-5, stash_type: int = 1, _num_outputs: int = 1):
    """Normalize over axes axis..rank-1; also returns Mean and InvStdDev when asked for."""
    axis = normalize_axis(axis, x.ndim, "LayerNormalization")
    axes = tuple(range(axis, x.ndim))
    xs = x.astype(np.float32) if (stash_type == 1 and x.dtype.itemsize < 4 and x.dtype.kind == "f") else x
    mean = xs.mean(axis=axes, keepdims=True)
    centered = xs - mean
    var = np.mean(np.square(centered), axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + np.asarray(epsilon, xs.dtype))
    y = centered * inv * scale
    if b is not None:
        y = y + b
    y = as_array(y, x.dtype)
    outs = (y, as_array(mean, xs.dtype), as_array(inv, xs.dtype))
    return outs[:max(_num_outputs, 1)]


@kernel("MeanVarianceNormalization", since=9)
def MeanVarianceNormalization(x: np.ndarray, *, axes: list[int] | None = None) -> np.ndarray:
    ax = normalize_axes(axes if axes is not None else [0, 2, 3], x.ndim, "MeanVarianceNormalization")
    mean = x.mean(axis=ax, keepdims=True)
    centered = x - mean
    std = np.sqrt(np.mean(np.square(centered), axis=ax, keepdims=True))
    return as_array(centered / (std + np.asarray(1e-9, x.dtype)), x.dtype)
