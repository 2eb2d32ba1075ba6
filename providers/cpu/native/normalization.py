"""Native row normalizations and the per-channel affine map of float32 tensors (csrc/norm.c).

- `LayerNormalization` (17, and the ai.onnx version 1 that onnxruntime's LayerNorm fusion writes below
  opset 17), com.microsoft `SkipLayerNormalization` and `SkipSimplifiedLayerNormalization`: one C call
  per tensor, each row read once (the residual sum, its statistics and the rescaling in L1), instead of
  the numpy kernels' eight full-tensor passes and temporaries;
- the CPU fusion's `FusedAffine` (`x * a + b` per channel, then Relu): one pass instead of two.

Every case the C code does not take (other dtypes, empty tensors, parameters of other shapes) runs the
numpy kernel, which also reports bad inputs.
"""

from __future__ import annotations

import math

import numpy as np

from ep_runtime.op_shapes import normalize_axis

from .. import fusion
from .. import normalization as reference
from ..contrib import normalization as contrib
from ..contrib._common import MS
from . import library
from ._register import F32, is_f32_array, native_kernel, ptr


def _param(v: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """A float32 parameter broadcast to `shape` as a contiguous array; None when it is not one."""
    if not is_f32_array(v):
        return None
    if v.shape != shape:
        try:
            if np.broadcast_shapes(v.shape, shape) != shape:
                return None
        except ValueError:
            return None
        v = np.broadcast_to(v, shape)
    return np.ascontiguousarray(v)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray | None, epsilon: float, axis: int, *,
               skip: np.ndarray | None = None, bias: np.ndarray | None = None, simplified: bool = False,
               stats: bool = False, keep_sum: bool = False
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None] | None:
    """(y, mean, inv_std, sum) of the normalization of `x + skip + bias` over axes axis.. (already
    normalized) by the C kernel; mean / inv_std shaped [rows] when `stats`, the sum when `keep_sum`,
    else None. None when the C code does not take these arrays: the caller runs its numpy kernel.
    `skip` must have x's shape or broadcast to it over x's leading axes (the caller checks), its rows
    then repeating over x's."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or x.size == 0:
        return None
    norm_shape = x.shape[axis:]
    n = math.prod(norm_shape)
    rows = x.size // n
    g = _param(gamma, norm_shape)
    b = None if beta is None else _param(beta, norm_shape)
    c = None if bias is None else _param(bias, norm_shape)
    if g is None or (beta is not None and b is None) or (bias is not None and c is None):
        return None
    skip_rows = 0
    if skip is not None:
        if not is_f32_array(skip) or skip.size == 0 or skip.size % n or skip.shape[-len(norm_shape):] != norm_shape:
            return None
        skip_rows = skip.size // n
        if rows % skip_rows:
            return None
        skip = np.ascontiguousarray(skip)
    x = np.ascontiguousarray(x)
    y = np.empty(x.shape, np.float32)
    total = np.empty(x.shape, np.float32) if keep_sum else None
    mean = np.empty(rows, np.float32) if stats and not simplified else None
    inv = np.empty(rows, np.float32) if stats else None
    rc = lib.ep_layer_norm_f32(x.ctypes.data, ptr(skip), skip_rows, ptr(c), g.ctypes.data, ptr(b), y.ctypes.data,
                               ptr(total), ptr(mean), ptr(inv), rows, n, float(epsilon), int(simplified),
                               library.threads())
    if rc != 0:
        return None
    return y, mean, inv, total


def _skip_matches(x: np.ndarray, skip: np.ndarray) -> bool:
    """The skip shapes the com.microsoft kernels accept (the numpy kernel reports the others)."""
    return x.ndim in (2, 3) and skip.ndim <= x.ndim and (
        skip.shape == x.shape[x.ndim - skip.ndim:] or skip.shape == (1,) + x.shape[1:])


def _vector_ok(v: np.ndarray | None, n: int) -> bool:
    return v is None or (v.ndim == 1 and v.shape[0] == n)


@native_kernel("LayerNormalization", 17, multi_output=True)
def LayerNormalization(x: np.ndarray, scale: np.ndarray, b: np.ndarray | None = None, *, axis: int = -1,
                       epsilon: float = 1e-5, stash_type: int = 1, _num_outputs: int = 1, _provider=None):
    """LayerNormalization by the C kernel (float32), else the numpy kernel."""
    if x.ndim > 0:
        ax = normalize_axis(axis, x.ndim, "LayerNormalization")
        done = layer_norm(x, scale, b, epsilon, ax, stats=_num_outputs > 1)
        if done is not None:
            y, mean, inv, _ = done
            if _num_outputs <= 1:
                return (y,)
            stat_shape = x.shape[:ax] + (1,) * (x.ndim - ax)
            return (y, mean.reshape(stat_shape), inv.reshape(stat_shape))[:_num_outputs]
    return reference.LayerNormalization(x, scale, b, axis=axis, epsilon=epsilon, stash_type=stash_type,
                                        _num_outputs=_num_outputs, _provider=_provider)


native_kernel("LayerNormalization", 1, until=16, multi_output=True)(LayerNormalization)


def _skip_norm(op: str, x, skip, gamma, beta, bias, epsilon: float, simplified: bool, num_outputs: int):
    if not (is_f32_array(x) and is_f32_array(skip) and _skip_matches(x, skip)):
        return None
    n = x.shape[-1]
    if not all(_vector_ok(v, n) for v in (gamma, beta, bias)):
        return None
    done = layer_norm(x, gamma, beta, epsilon, x.ndim - 1, skip=skip, bias=bias, simplified=simplified,
                      stats=num_outputs >= 2, keep_sum=num_outputs >= 4)
    if done is None:
        return None
    y, mean, inv, total = done
    stat_shape = x.shape[:-1] + (1,)
    mean = None if mean is None else mean.reshape(stat_shape)
    inv = None if inv is None else inv.reshape(stat_shape)
    return (y, mean, inv, total)[:max(num_outputs, 1)]


@native_kernel("SkipLayerNormalization", 1, domain=MS, multi_output=True)
def SkipLayerNormalization(x: np.ndarray, skip: np.ndarray, gamma: np.ndarray, beta: np.ndarray | None = None,
                           bias: np.ndarray | None = None, *, epsilon: float = 1e-12, _num_outputs: int = 1):
    """com.microsoft SkipLayerNormalization by the C kernel (float32), else the numpy kernel."""
    done = _skip_norm("SkipLayerNormalization", x, skip, gamma, beta, bias, epsilon, False, _num_outputs)
    if done is not None:
        return done
    return contrib.SkipLayerNormalization(x, skip, gamma, beta, bias, epsilon=epsilon, _num_outputs=_num_outputs)


@native_kernel("SkipSimplifiedLayerNormalization", 1, domain=MS, multi_output=True,
               supports=contrib._no_mean_output)
def SkipSimplifiedLayerNormalization(x: np.ndarray, skip: np.ndarray, gamma: np.ndarray,
                                     bias: np.ndarray | None = None, *, epsilon: float = 1e-12,
                                     _num_outputs: int = 1):
    """com.microsoft SkipSimplifiedLayerNormalization (RMS) by the C kernel (float32), else the numpy kernel."""
    done = _skip_norm("SkipSimplifiedLayerNormalization", x, skip, gamma, None, bias, epsilon, True, _num_outputs)
    if done is not None:
        return done
    return contrib.SkipSimplifiedLayerNormalization(x, skip, gamma, bias, epsilon=epsilon, _num_outputs=_num_outputs)


def _per_channel(p: np.ndarray, x: np.ndarray) -> bool:
    """Whether p holds one value, or one per channel of x shaped (1, C, 1, ...) (leading 1s optional)."""
    if p.size == 1:
        return p.ndim <= x.ndim
    channels = x.shape[1]
    return p.size == channels and p.ndim <= x.ndim and p.ndim >= x.ndim - 1 and p.shape[p.ndim - x.ndim + 1] == channels


def channel_affine(x: np.ndarray, a: np.ndarray, b: np.ndarray, relu: bool) -> np.ndarray | None:
    """`x * a + b` (then Relu) with a and b of one value, or one per channel (axis 1) shaped (1, C, 1, ...),
    by the C kernel; None when the arrays are not of that form. The parameters are read in place (no
    per-call copies: this kernel's own cost is its one pass)."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or x.ndim < 2 or x.size == 0 or not is_f32_array(a) or not is_f32_array(b):
        return None
    if not (_per_channel(a, x) and _per_channel(b, x)):
        return None
    if a.size == b.size == 1:  # one scale and shift: the tensor as one run
        outer, channels = 1, 1
    else:
        outer, channels = x.shape[0], x.shape[1]
        if a.size == 1:
            a = np.full(channels, a.reshape(()), F32)
        if b.size == 1:
            b = np.full(channels, b.reshape(()), F32)
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    x = np.ascontiguousarray(x)
    y = np.empty(x.shape, np.float32)
    rc = lib.ep_channel_affine_f32(x.ctypes.data, a.ctypes.data, b.ctypes.data, y.ctypes.data, outer, channels,
                                   x.size // (outer * channels), int(relu), library.threads())
    return y if rc == 0 else None


@native_kernel("FusedAffine", 1, domain=fusion.DOMAIN)
def FusedAffine(x: np.ndarray, a: np.ndarray, b: np.ndarray, *, activation: str = "") -> np.ndarray:
    """fusion.FusedAffine in one C pass (float32, per-channel or single a and b), else numpy's."""
    y = channel_affine(x, a, b, activation == "Relu") if activation in ("", "Relu") else None
    return fusion.FusedAffine(x, a, b, activation=activation) if y is None else y
