"""Normalizations and softmax: BatchNormalization (inference), LRN, LayerNormalization,
InstanceNormalization, Softmax, LogSoftmax.

On the GPU, Softmax/LogSoftmax (softmax.cu) and LayerNormalization (layernorm.cu) are fused
row kernels: one block per row, reductions in shared memory, one read and one write of the row
instead of CuPy's several passes. Their xp forms serve the numpy stand-in (and raw_kernels=False).
float16 rows are computed in float32 on the raw path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, normalize_axis, prod

from . import raw
from .elementwise import arr
from .registry import FLOATS, kernel

# --------------------------------------------------------------------------- BatchNormalization


def _channel_param(xp: Any, p: Any, x: Any, name: str) -> Any:
    c = x.shape[1] if x.ndim > 1 else 1
    if p.ndim != 1 or p.shape[0] != c:
        raise ValueError(f"BatchNormalization: {name} of shape {p.shape} does not match the input's {c} channels")
    return p.reshape((c,) + (1,) * (x.ndim - 2)).astype(x.dtype)


def _bn_inference(x: Any, scale: Any, b: Any, mean: Any, var: Any, epsilon: float) -> Any:
    xp = get_array_module(x)
    scale, b, mean, var = (_channel_param(xp, p, x, nm) for p, nm in
                           ((scale, "scale"), (b, "B"), (mean, "mean"), (var, "var")))
    a = scale / xp.sqrt(var + x.dtype.type(epsilon))
    y = x * a
    y += b - mean * a
    return y


def _inference_only(node: Any, graph: Any) -> str | None:
    if node.attrs.get("training_mode", 0) or len([o for o in node.outputs if o]) > 1:
        return "BatchNormalization in training mode not supported on CUDA (inference only)"
    return None


@kernel("BatchNormalization", since=7, until=8, dtypes=FLOATS, supports=_inference_only)
def BatchNormalization_7(x: Any, scale: Any, b: Any, mean: Any, var: Any, *, epsilon: float = 1e-5,
                         momentum: float = 0.9, spatial: int = 1) -> Any:
    if not spatial:
        raise ValueError("BatchNormalization: spatial=0 not supported on CUDA")
    return _bn_inference(x, scale, b, mean, var, epsilon)


@kernel("BatchNormalization", since=9, dtypes=FLOATS, supports=_inference_only)
def BatchNormalization(x: Any, scale: Any, b: Any, input_mean: Any, input_var: Any, *, epsilon: float = 1e-5,
                       momentum: float = 0.9, training_mode: int = 0) -> Any:
    return _bn_inference(x, scale, b, input_mean, input_var, epsilon)


@kernel("InstanceNormalization", since=6, dtypes=FLOATS)
def InstanceNormalization(x: Any, scale: Any, b: Any, *, epsilon: float = 1e-5) -> Any:
    xp = get_array_module(x)
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    y = (x - mean) / xp.sqrt(var + x.dtype.type(epsilon)) * scale.reshape(shape) + b.reshape(shape)
    return arr(xp, y, x.dtype)


# --------------------------------------------------------------------------- LRN


@kernel("LRN", since=1, dtypes=FLOATS)
def LRN(x: Any, *, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0, size: int | None = None) -> Any:
    """x / (bias + alpha / size * sum of squares over `size` neighbouring channels) ** beta."""
    if size is None:
        raise ValueError("LRN: the size attribute is required")
    if x.ndim < 2:
        raise ValueError(f"LRN: input must have rank >= 2 (N, C, ...), got shape {x.shape}")
    xp = get_array_module(x)
    c = x.shape[1]
    lo = (size - 1) // 2
    hi = size - 1 - lo
    sq = xp.square(x)
    padded = xp.zeros((x.shape[0], c + lo + hi) + x.shape[2:], dtype=x.dtype)
    padded[:, lo:lo + c] = sq
    acc = xp.array(padded[:, 0:c], copy=True)
    for j in range(1, size):
        acc += padded[:, j:j + c]
    acc *= x.dtype.type(alpha / size)
    acc += x.dtype.type(bias)
    return arr(xp, x / xp.power(acc, x.dtype.type(beta)), x.dtype)


# --------------------------------------------------------------------------- Softmax, LogSoftmax


def _rows(xp: Any, x2: Any, log: bool, provider: Any) -> Any:
    """Softmax (log: LogSoftmax) along the last axis of a 2-D array."""
    if raw.use_raw(xp, provider) and x2.dtype in (np.float32, np.float16) and x2.size:
        xf = xp.ascontiguousarray(x2, dtype=np.float32)
        y = xp.empty_like(xf)
        raw.launch_rows("softmax.cu", "softmax_rows", x2.shape[0], xf, y, raw.i64(x2.shape[0]),
                        raw.i64(x2.shape[1]), np.int32(log))
        return y.astype(x2.dtype) if x2.dtype != np.float32 else y
    e = x2 - x2.max(axis=-1, keepdims=True)
    if log:
        return e - xp.log(xp.exp(e).sum(axis=-1, keepdims=True))
    e = xp.exp(e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _softmax(x: Any, axis: int, log: bool, coerce: bool, provider: Any, op: str) -> Any:
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    xp = get_array_module(x)
    if x.size == 0:
        return xp.array(x, copy=True)
    if coerce:  # opset < 13: over the input coerced to 2-D at `axis`
        axis = normalize_axis(axis, x.ndim + 1 if axis == x.ndim else x.ndim, op)
        return _rows(xp, x.reshape(prod(x.shape[:axis]), prod(x.shape[axis:])), log, provider).reshape(x.shape)
    axis = normalize_axis(axis, x.ndim, op)
    moved = xp.moveaxis(x, axis, -1)
    y = _rows(xp, moved.reshape(-1, x.shape[axis]), log, provider).reshape(moved.shape)
    return xp.ascontiguousarray(xp.moveaxis(y, -1, axis))


@kernel("Softmax", since=1, until=12, dtypes=FLOATS)
def Softmax_1(x: Any, *, axis: int = 1, _provider: Any = None) -> Any:
    return _softmax(x, axis, False, True, _provider, "Softmax")


@kernel("Softmax", since=13, dtypes=FLOATS)
def Softmax(x: Any, *, axis: int = -1, _provider: Any = None) -> Any:
    return _softmax(x, axis, False, False, _provider, "Softmax")


@kernel("LogSoftmax", since=1, until=12, dtypes=FLOATS)
def LogSoftmax_1(x: Any, *, axis: int = 1, _provider: Any = None) -> Any:
    return _softmax(x, axis, True, True, _provider, "LogSoftmax")


@kernel("LogSoftmax", since=13, dtypes=FLOATS)
def LogSoftmax(x: Any, *, axis: int = -1, _provider: Any = None) -> Any:
    return _softmax(x, axis, True, False, _provider, "LogSoftmax")


# --------------------------------------------------------------------------- LayerNormalization


@kernel("LayerNormalization", since=17, multi_output=True, dtypes=FLOATS)
def LayerNormalization(x: Any, scale: Any, b: Any = None, *, axis: int = -1, epsilon: float = 1e-5,
                       stash_type: int = 1, _num_outputs: int = 1, _provider: Any = None) -> tuple:
    """Normalize over axes axis..rank-1; also returns Mean and InvStdDev when asked for."""
    if x.ndim == 0:
        raise ValueError("LayerNormalization: input must have rank >= 1")
    xp = get_array_module(x)
    axis = normalize_axis(axis, x.ndim, "LayerNormalization")
    lead = x.shape[:axis]
    rows, n = prod(lead), prod(x.shape[axis:])
    stat_dtype = np.dtype(np.float32) if stash_type == 1 and x.dtype.itemsize < 4 else x.dtype
    fits = scale.size == n and (b is None or b.size == n)
    if raw.use_raw(xp, _provider) and x.dtype in (np.float32, np.float16) and fits and x.size:
        xf = xp.ascontiguousarray(x.reshape(rows, n), dtype=np.float32)
        sf = xp.ascontiguousarray(scale.reshape(-1), dtype=np.float32)
        bf = sf if b is None else xp.ascontiguousarray(b.reshape(-1), dtype=np.float32)
        y = xp.empty_like(xf)
        mean = xp.empty((rows,), dtype=np.float32)
        inv = xp.empty((rows,), dtype=np.float32)
        raw.launch_rows("layernorm.cu", "layer_norm_rows", rows, xf, sf, bf, y, mean, inv, raw.i64(rows),
                        raw.i64(n), raw.f32(epsilon), np.int32(b is not None))
        y = y.reshape(x.shape).astype(x.dtype)
    else:
        xs = x.astype(stat_dtype).reshape(rows, n)
        mean = xs.mean(axis=1, keepdims=True) if n else xp.zeros((rows, 1), dtype=stat_dtype)
        centered = xs - mean
        var = (centered * centered).mean(axis=1, keepdims=True) if n else xp.zeros((rows, 1), dtype=stat_dtype)
        inv = 1 / xp.sqrt(var + stat_dtype.type(epsilon))
        y = (centered * inv).reshape(x.shape) * scale
        if b is not None:
            y = y + b
        y = arr(xp, y, x.dtype)
    if _num_outputs <= 1:
        return (y,)
    stat_shape = lead + (1,) * (x.ndim - axis)
    return (y, mean.reshape(stat_shape).astype(stat_dtype), inv.reshape(stat_shape).astype(stat_dtype))[:_num_outputs]
