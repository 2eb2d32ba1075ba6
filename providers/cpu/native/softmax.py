"""Native Softmax and LogSoftmax of float32 tensors: one C pass per row (max, exp and sum, scale)
instead of numpy's separate reductions and temporaries, which dominate small rows."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ep_runtime.op_shapes import normalize_axis

from .. import softmax as reference
from . import library
from ._register import is_f32_array, native_kernel


def softmax(x: np.ndarray, axis: int, log: bool, op: str) -> np.ndarray | None:
    """Softmax (log: LogSoftmax) along `axis` (already normalized) by the C kernel, or None when it does
    not apply (not a float32 array, empty): the caller then runs the numpy kernel."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or x.size == 0:
        return None
    x = np.ascontiguousarray(x)
    shape = x.shape
    outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    y = np.empty(shape, dtype=np.float32)
    rc = lib.ep_softmax_f32(x.ctypes.data, y.ctypes.data, outer, shape[axis], inner, int(log), library.threads())
    if rc != 0:
        raise MemoryError(f"{op}: the native kernel could not allocate its scratch memory")
    return y


def _register(op: str, log: bool, fallback: Callable[[np.ndarray, int], np.ndarray]
              ) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """Register the native kernels of `op` (opset 1-12, coerced to 2-D, and 13+) and return them."""
    def coerced(x: np.ndarray, *, axis: int = 1) -> np.ndarray:
        # opset < 13: the input seen as 2-D [prod(shape[:axis]), prod(shape[axis:])], softmax along dim 1
        if x.ndim == 0:
            raise ValueError(f"{op}: input must have rank >= 1")
        ax = normalize_axis(axis, x.ndim + 1 if axis == x.ndim else x.ndim, op)
        y = softmax(x.reshape(math.prod(x.shape[:ax]), -1), 1, log, op) if x.size else None
        return y.reshape(x.shape) if y is not None else reference._coerced_2d(fallback, x, axis, op)

    def along(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        if x.ndim == 0:
            raise ValueError(f"{op}: input must have rank >= 1")
        ax = normalize_axis(axis, x.ndim, op)
        y = softmax(x, ax, log, op)
        return fallback(x, ax) if y is None else y

    coerced.__name__ = coerced.__qualname__ = f"{op}_1"
    along.__name__ = along.__qualname__ = op
    native_kernel(op, 1, until=12)(coerced)
    native_kernel(op, 13)(along)
    return coerced, along


Softmax_1, Softmax = _register("Softmax", False, reference.softmax)
LogSoftmax_1, LogSoftmax = _register("LogSoftmax", True, reference.log_softmax)
