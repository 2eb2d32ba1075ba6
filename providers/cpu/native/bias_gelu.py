"""Native com.microsoft BiasGelu of float32 tensors (the target of the bias + GELU graph rewrite): the
bias added by numpy into a fresh array, then the C erf GELU in place over it (csrc/activation.c), instead
of the numpy GELU's several passes."""

from __future__ import annotations

import numpy as np

from ..contrib import activation as reference
from ..contrib._common import MS
from . import library
from ._register import is_f32_array, native_kernel
from .activation import activation_inplace


@native_kernel("BiasGelu", 1, domain=MS)
def BiasGelu(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gelu (erf form) of A + B by the C kernel (float32, B one value per A's last axis), else numpy's."""
    if is_f32_array(a) and is_f32_array(b) and b.ndim == 1 and a.ndim > 0 and b.shape[0] == a.shape[-1]:
        y = np.add(a, b)
        if activation_inplace(y, library.ACT_GELU):
            return y
    return reference.BiasGelu(a, b)
