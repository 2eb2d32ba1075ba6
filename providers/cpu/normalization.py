"""Normalizations: BatchNormalization, InstanceNormalization, LRN, LayerNormalization, MeanVarianceNormalization,
RMSNormalization, LpNormalization, GroupNormalization.

BatchNormalization, InstanceNormalization, LRN and LayerNormalization are written against
`xp = get_array_module(...)`: the CUDA provider registers the same functions over CuPy
(providers/cuda/normalization.py), LayerNormalization with its fused row kernel as a device primitive.
"""

from __future__ import annotations

import numpy as np

from ep_runtime.array_module import device_primitive, get_array_module
from ep_runtime.op_shapes import normalize_axes, normalize_axis, prod

from ._base import as_array, kernel_ranges
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
    a = scale / get_array_module(x).sqrt(var + x.dtype.type(epsilon))
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


@kernel_ranges("BatchNormalization", (1, 6), until=6, multi_output=True)
@kernel("BatchNormalization", since=7, until=8, multi_output=True,
        attributes={"epsilon": 1e-5, "momentum": 0.9, "spatial": 1})
@kernel("BatchNormalization", since=9, until=13, multi_output=True, attributes={"epsilon": 1e-5, "momentum": 0.9})
def BatchNormalization_1(x, scale, b, mean, var, *, epsilon: float = 1e-5, is_test: int = 0, momentum: float = 0.9,
                         spatial: int = 1, _num_outputs: int = 1):
    """Versions 1-13 (`is_test` until 6, `spatial` until 8): asked for more than one output and not
    `is_test`, it normalizes with the batch statistics and returns the updated running ones too."""
    if not is_test and _num_outputs > 1:
        return _bn_training(x, scale, b, mean, var, epsilon, momentum)[:_num_outputs]
    return (_bn_inference(x, scale, b, mean, var, epsilon),)


@kernel("BatchNormalization", since=14, multi_output=True)
def BatchNormalization(x, scale, b, input_mean, input_var, *, epsilon: float = 1e-5, momentum: float = 0.9,
                       training_mode: int = 0, _num_outputs: int = 1):
    """Inference uses the running statistics; training_mode=1 normalizes with the batch
    statistics and also returns the updated running mean and variance."""
    if training_mode:
        return _bn_training(x, scale, b, input_mean, input_var, epsilon, momentum)[:max(_num_outputs, 1)]
    return (_bn_inference(x, scale, b, input_mean, input_var, epsilon),)


@kernel_ranges("InstanceNormalization", (1, 6))
def InstanceNormalization(x: np.ndarray, scale: np.ndarray, b: np.ndarray, *, epsilon: float = 1e-5) -> np.ndarray:
    """Normalize each (instance, channel) over the spatial axes, then scale and shift per channel."""
    if x.ndim < 3:
        raise ValueError(f"InstanceNormalization: input must have rank >= 3, got shape {x.shape}")
    xp = get_array_module(x)
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = xp.square(centered).mean(axis=axes, keepdims=True)
    op = "InstanceNormalization"
    s = _channel_param(scale, x, "scale", op)
    bb = _channel_param(b, x, "B", op)
    y = centered * (s / xp.sqrt(var + x.dtype.type(epsilon)))
    y += bb
    return as_array(y, x.dtype)


@kernel("LRN", since=1)
def LRN(x: np.ndarray, *, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0,
        size: int | None = None) -> np.ndarray:
    """x / (bias + alpha / size * sum of squares over `size` neighbouring channels) ** beta."""
    if size is None:
        raise ValueError("LRN: the size attribute is required")
    if x.ndim < 2:
        raise ValueError(f"LRN: input must have rank >= 2 (N, C, ...), got shape {x.shape}")
    xp = get_array_module(x)
    c = x.shape[1]
    lo = (size - 1) // 2
    hi = size - 1 - lo
    padded = xp.zeros((x.shape[0], c + lo + hi) + x.shape[2:], dtype=x.dtype)
    xp.square(x, out=padded[:, lo:lo + c])
    acc = padded[:, 0:c].copy()
    for j in range(1, size):
        acc += padded[:, j:j + c]
    acc *= x.dtype.type(alpha / size)
    acc += x.dtype.type(bias)
    return as_array(x / xp.power(acc, x.dtype.type(beta)), x.dtype)


def _stashed(x: np.ndarray, stash_type: int) -> np.ndarray:
    """x in the precision the statistics are computed in: float32 for narrower floats when
    stash_type is 1 (onnx.TensorProto.FLOAT), else x's own dtype."""
    if stash_type == 1 and x.dtype.kind == "f" and x.dtype.itemsize < 4:
        return x.astype(np.float32)
    return x


def _row_stats(rows: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a 2-D (rows, n) array: the row means (rows, 1), the centered rows (a new array) and
    1 / sqrt(var + epsilon) per row (rows, 1). The sum of squares is one einsum pass, no temporary."""
    xp = np if type(rows) is np.ndarray else get_array_module(rows)
    n = rows.shape[1]
    mean = rows.mean(axis=1, keepdims=True)
    centered = rows - mean
    var = xp.einsum("ij,ij->i", centered, centered)[:, None]
    var /= max(n, 1)
    var += rows.dtype.type(epsilon)
    inv = xp.sqrt(var)
    xp.divide(1, inv, out=inv)
    return mean, centered, inv


@kernel("LayerNormalization", since=1, until=16, multi_output=True)  # onnxruntime's ai.onnx contrib version
@kernel("LayerNormalization", since=17, multi_output=True)
def LayerNormalization(x: np.ndarray, scale: np.ndarray, b: np.ndarray | None = None, *, axis: int = -1,
                       epsilon: float = 1e-5, stash_type: int = 1, _num_outputs: int = 1, _provider=None):
    """Normalize over axes axis..rank-1; also returns Mean and InvStdDev when asked for. On a device,
    the provider's primitive "LayerNormalization" ((rows, n) x, scale, B, epsilon -> y, mean, inv or None)
    may do the work."""
    if x.ndim == 0:
        raise ValueError("LayerNormalization: input must have rank >= 1")
    axis = normalize_axis(axis, x.ndim, "LayerNormalization")
    lead = x.shape[:axis]
    rows = x.reshape(prod(lead), prod(x.shape[axis:]))
    raw = None if type(x) is np.ndarray else device_primitive(_provider, "LayerNormalization")
    done = raw(rows, scale, b, epsilon) if raw is not None else None
    if done is not None:
        stat_dtype = _stashed(x[:0], stash_type).dtype
        y, mean, inv = done[0].reshape(x.shape), done[1].astype(stat_dtype), done[2].astype(stat_dtype)
    else:
        mean, y, inv = _row_stats(_stashed(rows, stash_type), epsilon)
        y *= inv
        y = y.reshape(x.shape)
        y *= scale
        if b is not None:
            y += b
    y = as_array(y, x.dtype)
    if _num_outputs <= 1:
        return (y,)
    stat_shape = lead + (1,) * (x.ndim - axis)
    return (y, mean.reshape(stat_shape), inv.reshape(stat_shape))[:_num_outputs]


@kernel("MeanVarianceNormalization", since=9)
def MeanVarianceNormalization(x: np.ndarray, *, axes: list[int] | None = None) -> np.ndarray:
    ax = normalize_axes(axes if axes is not None else [0, 2, 3], x.ndim, "MeanVarianceNormalization")
    mean = x.mean(axis=ax, keepdims=True)
    centered = x - mean
    std = np.sqrt(np.mean(np.square(centered), axis=ax, keepdims=True))
    return as_array(centered / (std + np.asarray(1e-9, x.dtype)), x.dtype)


@kernel("RMSNormalization", since=23)
def RMSNormalization(x: np.ndarray, scale: np.ndarray, *, axis: int = -1, epsilon: float = 1e-5,
                     stash_type: int = 1) -> np.ndarray:
    """x / sqrt(mean(x**2 over axes axis..rank-1) + epsilon) * scale."""
    if x.ndim == 0:
        raise ValueError("RMSNormalization: input must have rank >= 1")
    axis = normalize_axis(axis, x.ndim, "RMSNormalization")
    xs = _stashed(x, stash_type)
    rows = xs.reshape(prod(x.shape[:axis]), prod(x.shape[axis:]))
    ms = np.einsum("ij,ij->i", rows, rows)[:, None]
    ms /= max(rows.shape[1], 1)
    ms += np.asarray(epsilon, xs.dtype)
    normalized = (rows / np.sqrt(ms)).reshape(x.shape).astype(x.dtype, copy=False)
    normalized *= scale
    return as_array(normalized, x.dtype)


def _lp_normalization(x: np.ndarray, axis: int, p: int) -> np.ndarray:
    op = "LpNormalization"
    if p not in (1, 2):
        raise ValueError(f"{op}: p must be 1 or 2, got {p}")
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    axis = normalize_axis(axis, x.ndim, op)
    norm = np.abs(x).sum(axis=axis, keepdims=True) if p == 1 else np.sqrt(np.square(x).sum(axis=axis, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        y = x / norm
    return as_array(np.where(norm == 0, np.zeros((), x.dtype), y), x.dtype)


@kernel("LpNormalization", since=1)
def LpNormalization(x: np.ndarray, *, axis: int = -1, p: int = 2) -> np.ndarray:
    """x divided by its L1 or L2 norm along `axis`; a zero norm gives 0."""
    return _lp_normalization(x, axis, p)


def _group_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, num_groups: int | None, epsilon: float,
                stash_type: int, per_group: bool) -> np.ndarray:
    """Normalize each (instance, group of channels) to zero mean and unit variance, then scale
    and shift per channel (opset >= 21) or per group (opset 18)."""
    op = "GroupNormalization"
    if num_groups is None:
        raise ValueError(f"{op}: the num_groups attribute is required")
    if x.ndim < 2:
        raise ValueError(f"{op}: input must have shape (N, C, ...), got {x.shape}")
    n, c = x.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"{op}: {c} channels cannot be split into {num_groups} groups")
    want = num_groups if per_group else c
    for name, p in (("scale", scale), ("bias", bias)):
        if p.shape != (want,):
            raise ValueError(f"{op}: {name} must have shape ({want},), got {p.shape}")
    xs = _stashed(x, stash_type)
    _, normalized, inv = _row_stats(xs.reshape(n * num_groups, prod(x.shape[1:]) // num_groups), epsilon)
    normalized *= inv
    normalized = normalized.reshape(n, num_groups, -1).astype(x.dtype, copy=False)
    if per_group:
        normalized *= scale.reshape(num_groups, 1)
        normalized += bias.reshape(num_groups, 1)
        return as_array(normalized.reshape(x.shape), x.dtype)
    normalized = normalized.reshape(x.shape)
    tail = (1,) * (x.ndim - 2)
    normalized *= scale.reshape((c,) + tail)
    normalized += bias.reshape((c,) + tail)
    return as_array(normalized, x.dtype)


@kernel("GroupNormalization", since=18, until=20)
def GroupNormalization_18(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, epsilon: float = 1e-5,
                          num_groups: int | None = None) -> np.ndarray:
    """Opset 18: scale and bias have one value per group."""
    return _group_norm(x, scale, bias, num_groups, epsilon, 0, per_group=True)


@kernel("GroupNormalization", since=21)
def GroupNormalization(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, epsilon: float = 1e-5,
                       num_groups: int | None = None, stash_type: int = 1) -> np.ndarray:
    """Opset 21: scale and bias have one value per channel; statistics in float32 by default."""
    return _group_norm(x, scale, bias, num_groups, epsilon, stash_type, per_group=False)
