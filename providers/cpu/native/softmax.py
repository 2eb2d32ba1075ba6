"""Native Softmax and LogSoftmax of float32 tensors: one C pass per row (max, exp and sum, scale)
instead of numpy's separate reductions and temporaries, which dominate small rows.

The C kernel is called through the extension's own entry point `softmax_f32` (csrc/pyentry.c), not
ctypes: a softmax is often a small node right after a large one (an attention's scores after its
projections), where the interpreter's state is out of cache and ctypes' argument conversion costs more
than the kernel's work."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ep_runtime.op_shapes import normalize_axis

from .. import softmax as reference
from . import library
from ._register import F32, native_kernel

#: softmax_f32(x, y, outer, n, inner, log_softmax, threads) -> 0, or -1 when out of memory
SOFTMAX_F32: Callable[..., Any] | None = library.entry_point("softmax_f32")


def _dims(shape: tuple[int, ...], axis: int, coerced: bool, op: str) -> tuple[int, int, int]:
    """(outer, n, inner) of a softmax along `axis` of `shape` (coerced: opset < 13's 2-D view at `axis`);
    the ONNX errors for a rank-0 input or an axis out of range."""
    rank = len(shape)
    if rank == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    if coerced:
        ax = normalize_axis(axis, rank + 1 if axis == rank else rank, op)
        return math.prod(shape[:ax]), math.prod(shape[ax:]), 1
    ax = normalize_axis(axis, rank, op)
    return math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1:])


def _node(op: str, log: bool, coerced: bool, axis: int, fallback: Callable[[np.ndarray, int], np.ndarray]
          ) -> Callable[[np.ndarray], np.ndarray]:
    """The function running one node: its (outer, n, inner) kept per input shape, so that a call is the
    output's allocation and the C call. This runs after kernels that stream megabytes through the
    caches, where every Python step costs microseconds: the path is kept short on purpose."""
    plans = library.PlanCache(8)
    call = SOFTMAX_F32
    flag = int(log)

    def run(x: np.ndarray) -> np.ndarray:
        if type(x) is not np.ndarray or x.dtype is not F32 or not x.size or call is None:
            return _reference(x, axis, coerced, op, fallback)
        x = np.ascontiguousarray(x)
        shape = x.shape
        outer, n, inner = plans.get(shape, _dims, shape, axis, coerced, op)
        y = np.empty(shape, F32)
        if call(x, y, outer, n, inner, flag, library.threads()):
            raise MemoryError(f"{op}: the native kernel could not allocate its scratch memory")
        return y

    return run


def _reference(x: np.ndarray, axis: int, coerced: bool, op: str, fallback: Callable[[np.ndarray, int], np.ndarray]
               ) -> np.ndarray:
    """The numpy kernel's answer (empty or non-float32 tensors)."""
    if coerced:
        return reference._coerced_2d(fallback, x, axis, op)
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    return fallback(x, normalize_axis(axis, x.ndim, op))


def _register(op: str, log: bool, fallback: Callable[[np.ndarray, int], np.ndarray]
              ) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """Register the native kernels of `op` (opset 1-12, coerced to 2-D, and 13+: one prepared function per
    node) and return the two as plain kernels `(x, *, axis)`."""
    def coerced_node(*, axis: int = 1) -> Callable[[np.ndarray], np.ndarray]:
        return _node(op, log, True, axis, fallback)

    def along_node(*, axis: int = -1) -> Callable[[np.ndarray], np.ndarray]:
        return _node(op, log, False, axis, fallback)

    def coerced(x: np.ndarray, *, axis: int = 1) -> np.ndarray:
        return coerced_node(axis=axis)(x)

    def along(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        return along_node(axis=axis)(x)

    for fn, name in ((coerced_node, f"{op}_1"), (along_node, op), (coerced, f"{op}_1"), (along, op)):
        fn.__name__ = fn.__qualname__ = name
    native_kernel(op, 1, until=12, factory=True)(coerced_node)
    native_kernel(op, 13, factory=True)(along_node)
    return coerced, along


Softmax_1, Softmax = _register("Softmax", False, reference.softmax)
LogSoftmax_1, LogSoftmax = _register("LogSoftmax", True, reference.log_softmax)
