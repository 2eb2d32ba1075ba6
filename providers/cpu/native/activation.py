"""Native elementwise activations: one pass over the tensor each, fused where numpy needs several
(SiLU / Swish, HardSwish, HardSigmoid, GELU, Sigmoid).

Relu and Tanh have C kernels (`activation(x, library.ACT_RELU)`, for fused epilogues) but their
ops keep numpy's kernels: numpy's maximum already runs at memory speed with less call overhead,
and numpy's own SIMD tanh is faster than the C one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import activation as reference_activation
from .. import elementwise as reference
from ..contrib import activation as reference_contrib
from ..contrib._common import MS
from . import library
from ._register import is_f32_array, native_kernel


def activation(x: np.ndarray, kind: int, alpha: float = 0.0, beta: float = 0.0) -> np.ndarray | None:
    """act(x) as a new float32 array by the C kernel, or None when it cannot run (no library, not a
    float32 numpy array, or empty): the caller then uses the numpy kernel."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or x.size == 0:
        return None
    shape = x.shape  # np.ascontiguousarray makes a 0-d array 1-d
    x = np.ascontiguousarray(x)
    y = np.empty(shape, dtype=x.dtype)
    if lib.ep_activation_f32(x.ctypes.data, y.ctypes.data, x.size, kind, alpha, beta, library.threads()) != 0:
        raise RuntimeError(f"native activation: unknown activation code {kind}")
    return y


def activation_inplace(y: np.ndarray, kind: int, alpha: float = 0.0, beta: float = 0.0) -> bool:
    """Apply act to a C-contiguous float32 array in place; False (untouched) when the C kernel cannot."""
    lib = library.LIB
    if lib is None or not is_f32_array(y) or not y.flags.c_contiguous or not y.flags.writeable:
        return False
    if y.size:
        lib.ep_activation_f32(y.ctypes.data, y.ctypes.data, y.size, kind, alpha, beta, library.threads())
    return True


def overwrite(x: np.ndarray, kind: int, alpha: float = 0.0, beta: float = 0.0) -> np.ndarray | None:
    """act(x) written over x (an in-place variant, KernelDef.inplace): x, or None (untouched) when the C
    kernel cannot run on it."""
    return x if activation_inplace(x, kind, alpha, beta) else None


def silu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """x * sigmoid(alpha * x) in one pass (float32 natively, other dtypes by numpy)."""
    y = activation(x, library.ACT_SWISH, alpha)
    return reference_activation.swish(x, alpha) if y is None else y


@native_kernel("Sigmoid", 6, inplace=lambda x: overwrite(x, library.ACT_SIGMOID))
def Sigmoid(x: np.ndarray) -> np.ndarray:
    y = activation(x, library.ACT_SIGMOID)
    return reference.Sigmoid(x) if y is None else y


@native_kernel("LeakyRelu", 6, inplace=lambda x, *, alpha=0.01: overwrite(x, library.ACT_LEAKY_RELU, alpha))
def LeakyRelu(x: np.ndarray, *, alpha: float = 0.01) -> np.ndarray:
    y = activation(x, library.ACT_LEAKY_RELU, alpha)
    return reference.LeakyRelu(x, alpha=alpha) if y is None else y


@native_kernel("HardSigmoid", 6, inplace=lambda x, *, alpha=0.2, beta=0.5: overwrite(
    x, library.ACT_HARD_SIGMOID, alpha, beta))
def HardSigmoid(x: np.ndarray, *, alpha: float = 0.2, beta: float = 0.5) -> np.ndarray:
    y = activation(x, library.ACT_HARD_SIGMOID, alpha, beta)
    return reference.HardSigmoid(x, alpha=alpha, beta=beta) if y is None else y


@native_kernel("HardSwish", 14, inplace=lambda x: overwrite(x, library.ACT_HARD_SWISH))
def HardSwish(x: np.ndarray) -> np.ndarray:
    y = activation(x, library.ACT_HARD_SWISH)
    return reference.HardSwish(x) if y is None else y


@native_kernel("Swish", 24, inplace=lambda x, *, alpha=1.0: overwrite(x, library.ACT_SWISH, alpha))
def Swish(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    return silu(x, alpha)


_GELU_KINDS = {"none": library.ACT_GELU, "tanh": library.ACT_GELU_TANH}


def _gelu_inplace(x: np.ndarray, *, approximate: str = "none") -> np.ndarray | None:
    kind = _GELU_KINDS.get(approximate)
    return None if kind is None else overwrite(x, kind)


@native_kernel("Gelu", 20, inplace=_gelu_inplace)
def Gelu(x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    kind = _GELU_KINDS.get(approximate)
    y = None if kind is None else activation(x, kind)
    return reference.Gelu(x, approximate=approximate) if y is None else y


@native_kernel("QuickGelu", 1, domain=MS, inplace=lambda x, *, alpha=1.702: overwrite(x, library.ACT_SWISH, alpha))
def QuickGelu(x: np.ndarray, *, alpha: float = 1.702) -> np.ndarray:
    """com.microsoft QuickGelu, x * sigmoid(alpha x): the target of the SiLU graph rewrite (alpha 1)."""
    y = activation(x, library.ACT_SWISH, alpha)
    return reference_contrib.QuickGelu(x, alpha=alpha) if y is None else y


@native_kernel("Gelu", 1, domain=MS, inplace=lambda x: overwrite(x, library.ACT_GELU))
def MsGelu(x: np.ndarray) -> np.ndarray:
    """com.microsoft Gelu (erf form): the target of the GELU graph rewrite before opset 20."""
    y = activation(x, library.ACT_GELU)
    return reference_contrib.Gelu(x) if y is None else y


@native_kernel("FastGelu", 1, domain=MS, inplace=lambda x, bias=None: (
    overwrite(x, library.ACT_GELU_TANH) if bias is None else None))
def FastGelu(x: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """com.microsoft FastGelu (tanh form) without a bias; with one, the numpy kernel."""
    y = activation(x, library.ACT_GELU_TANH) if bias is None else None
    return reference_contrib.FastGelu(x, bias) if y is None else y


def _clip_bound(v: object) -> float | None:
    """A Clip bound as a Python float, None when absent; TypeError when not one float value."""
    if v is None:
        return None
    a = np.asarray(v)
    if a.size != 1 or a.dtype.kind != "f":
        raise TypeError
    return float(a.reshape(()))


def _clip(x: np.ndarray, lo: object, hi: object, run: Callable[..., np.ndarray | None] = activation
          ) -> np.ndarray | None:
    """Clip by the C kernel through `run` (activation, or overwrite in place); None when the bounds are not
    plain float values (the numpy kernel then runs)."""
    try:
        lo_f, hi_f = _clip_bound(lo), _clip_bound(hi)
    except TypeError:
        return None
    if (lo_f is not None and np.isnan(lo_f)) or (hi_f is not None and np.isnan(hi_f)):
        return None
    # rounded to float32 by ctypes, as numpy rounds a Python bound against a float32 tensor
    return run(x, library.ACT_CLIP, -np.inf if lo_f is None else lo_f, np.inf if hi_f is None else hi_f)


@native_kernel("Clip", 6, until=10,
               inplace=lambda x, *, min=None, max=None: _clip(x, min, max, overwrite))  # noqa: A002
def Clip_6(x: np.ndarray, *, min: float | None = None, max: float | None = None) -> np.ndarray:
    y = _clip(x, min, max)
    return reference.Clip_6(x, min=min, max=max) if y is None else y


@native_kernel("Clip", 11, inplace=lambda x, min=None, max=None: _clip(x, min, max, overwrite))  # noqa: A002
def Clip(x: np.ndarray, min: np.ndarray | None = None, max: np.ndarray | None = None) -> np.ndarray:
    y = _clip(x, min, max)
    return reference.Clip(x, min, max) if y is None else y
