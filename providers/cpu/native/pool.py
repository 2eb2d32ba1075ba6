"""Native pooling: MaxPool (without the Indices output), AveragePool, GlobalMaxPool and
GlobalAveragePool over 1-D, 2-D and 3-D windows of float32 tensors.

The node kernels are factories: each node keeps its C call's geometry per input shape (an int64
array the call reads), so that a run costs one dictionary look-up, one output allocation and one
C call. The C kernels are called through the extension's own entry points (`pool3d_f32`,
`global_pool_f32`: csrc/pyentry.c), not ctypes: a pooling is often a small node right after a large
convolution, where the interpreter's state is out of cache and ctypes' argument conversion (and numpy's
`.ctypes.data`) costs more than the pooling's work."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ep_runtime.op_shapes import pool_geometry
from ep_runtime.threads import intra_op_threads

from .. import pool as reference
from . import library
from ._register import F32, extents_fit, is_f32_array, native_kernel

#: input shapes a node keeps a prepared call for (a model with changing shapes recomputes beyond it)
_PLANS_PER_NODE = 16


#: pool3d_f32(x, y, planes, geo, mode, threads) -> 0, or -1 when out of memory;
#: global_pool_f32(x, y, planes, size, mode, threads) -> 0
POOL3D_F32, GLOBAL_POOL_F32 = library.entry_point("pool3d_f32"), library.entry_point("global_pool_f32")


class _Plan:
    """One prepared C call: the output shape, the planes, the geometry array (None: a global pool) and the
    values per plane (a global pool)."""

    __slots__ = ("out_shape", "planes", "geo", "size")

    def __init__(self, out_shape: tuple[int, ...], planes: int, geo: np.ndarray | None, size: int = 0) -> None:
        self.out_shape = out_shape
        self.planes = planes
        self.geo = geo
        self.size = size


def _plan(shape: tuple[int, ...], mode: int, kernel_shape: Sequence[int] | None, strides: Any, dilations: Any,
          pads: Any, auto_pad: str, ceil_mode: int, op: str) -> _Plan | None:
    """The C call for an input of `shape`, or None where the C kernel does not apply (rank, empty
    tensor, negative pads, an absurd extent): the numpy kernel runs then."""
    if len(shape) not in (3, 4, 5) or 0 in shape:
        return None
    strides, dilations, begin, end, _, out = pool_geometry(shape, op, kernel_shape, strides, dilations, pads,
                                                           auto_pad, ceil_mode)
    if min(begin) < 0 or min(end) < 0 or min(strides) < 1 or min(dilations) < 1 or min(kernel_shape) < 1 \
            or not extents_fit(out, kernel_shape, strides, dilations):
        return None
    planes = shape[0] * shape[1]
    out_shape = tuple(shape[:2]) + tuple(out)
    if list(kernel_shape) == list(shape[2:]) and not any(begin) and not any(end) and max(dilations) == 1:
        # one window over the whole map (a 7x7 pool of a 7x7 map): the global pool's kernel
        return _Plan(out_shape, planes, None, math.prod(shape[2:]))
    lead = 3 - len(kernel_shape)  # missing leading axes: extent 1, one tap, no pads
    ins = [1] * lead + list(shape[2:])
    geo = np.array([*ins, *([1] * lead + list(kernel_shape)), *([1] * lead + list(strides)),
                    *([1] * lead + list(dilations)), *([0] * lead + list(begin)), *([0] * lead + list(end)),
                    *([1] * lead + list(out))], dtype=np.int64)
    return _Plan(out_shape, planes, geo)


def _global_mode(mode: int) -> int:
    """The global pool's mode for a window pool's `mode` (a window over the whole map, pads not counted)."""
    return library.POOL_MAX if mode == library.POOL_MAX else library.POOL_AVG


def _run(plan: _Plan, x: np.ndarray, mode: int, op: str) -> np.ndarray:
    """The C call of `plan` on x (float32): its output, 64-byte aligned (library.empty_aligned's reason)."""
    x = np.ascontiguousarray(x)
    y = library.empty_aligned(plan.out_shape)
    if plan.geo is None:
        GLOBAL_POOL_F32(x, y, plan.planes, plan.size, _global_mode(mode), intra_op_threads())
    elif POOL3D_F32(x, y, plan.planes, plan.geo, mode, intra_op_threads()):
        raise MemoryError(f"{op}: the native kernel could not allocate its row buffers")
    return y


def pool(x: np.ndarray, mode: int, *, kernel_shape: Sequence[int] | None, strides=None, dilations=None, pads=None,
         auto_pad: str = "NOTSET", ceil_mode: int = 0, op: str = "MaxPool") -> np.ndarray | None:
    """The pooled tensor by the C kernel (mode library.POOL_*), or None when it does not apply
    (not float32, not 1-D to 3-D, empty, negative pads): the caller then runs the numpy kernel."""
    if POOL3D_F32 is None or not is_f32_array(x):
        return None
    plan = _plan(x.shape, mode, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode, op)
    return None if plan is None else _run(plan, x, mode, op)


def _node_runner(mode: int, op: str, geometry: dict[str, Any], fallback: Callable[[np.ndarray], Any],
                 wrap: bool) -> Callable[[np.ndarray], Any]:
    """The function that runs one pooling node: the C call prepared per input shape, the numpy
    kernel (`fallback`) for what it does not take; `wrap` returns a 1-tuple (multi-output ops)."""
    if POOL3D_F32 is None:
        return fallback
    get = library.PlanCache(_PLANS_PER_NODE).get
    args = (geometry["kernel_shape"], geometry.get("strides"), geometry.get("dilations"), geometry.get("pads"),
            geometry.get("auto_pad", "NOTSET"), geometry.get("ceil_mode", 0), op)

    def run(x: np.ndarray) -> Any:
        # every step here runs per node per run, often with the interpreter's state just evicted by a
        # large kernel (a convolution): few look-ups, few objects
        if type(x) is not np.ndarray or x.dtype is not F32:
            return fallback(x)
        shape = x.shape
        plan = get(shape, _plan, shape, mode, *args)
        if plan is None:
            return fallback(x)
        y = _run(plan, x, mode, op)
        return (y,) if wrap else y

    return run


def _one_output(node: Any, graph: Any) -> str | None:
    if len(node.outputs) > 1 and node.outputs[1]:
        return "the Indices output is computed by the numpy kernel"
    return None


def MaxPool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    """MaxPool-1 by the C kernel, or by the numpy kernel where that does not apply."""
    y = pool(x, library.POOL_MAX, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad)
    return reference.MaxPool_1(x, auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides) \
        if y is None else y


def MaxPool_8(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, storage_order: int = 0, strides: list[int] | None = None,
              _num_outputs: int = 1) -> tuple[np.ndarray, ...]:
    """MaxPool-8 (Y; with Indices, the numpy kernel)."""
    y = None if _num_outputs > 1 else pool(x, library.POOL_MAX, kernel_shape=kernel_shape, strides=strides,
                                           pads=pads, auto_pad=auto_pad)
    if y is None:
        return reference.MaxPool_8(x, auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads,
                                   storage_order=storage_order, strides=strides, _num_outputs=_num_outputs)
    return (y,)


def MaxPool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
            kernel_shape: list[int] | None = None, pads: list[int] | None = None, storage_order: int = 0,
            strides: list[int] | None = None, _num_outputs: int = 1) -> tuple[np.ndarray, ...]:
    """MaxPool-10+ (Y; with Indices, the numpy kernel)."""
    y = None if _num_outputs > 1 else pool(x, library.POOL_MAX, kernel_shape=kernel_shape, strides=strides,
                                           dilations=dilations, pads=pads, auto_pad=auto_pad, ceil_mode=ceil_mode)
    if y is None:
        return reference.MaxPool(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                                 kernel_shape=kernel_shape, pads=pads, storage_order=storage_order, strides=strides,
                                 _num_outputs=_num_outputs)
    return (y,)


def _avg_mode(count_include_pad: int) -> int:
    return library.POOL_AVG_INCLUDE_PAD if count_include_pad else library.POOL_AVG


def AveragePool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
                  pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    """AveragePool-1 (padding never counted)."""
    y = pool(x, library.POOL_AVG, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
             op="AveragePool")
    return reference.AveragePool_1(x, auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides) \
        if y is None else y


def AveragePool_7(x: np.ndarray, *, auto_pad: str = "NOTSET", count_include_pad: int = 0,
                  kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                  strides: list[int] | None = None) -> np.ndarray:
    """AveragePool-7."""
    y = pool(x, _avg_mode(count_include_pad), kernel_shape=kernel_shape, strides=strides, pads=pads,
             auto_pad=auto_pad, op="AveragePool")
    if y is None:
        return reference.AveragePool_7(x, auto_pad=auto_pad, count_include_pad=count_include_pad,
                                       kernel_shape=kernel_shape, pads=pads, strides=strides)
    return y


def AveragePool_10(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                   kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                   strides: list[int] | None = None) -> np.ndarray:
    """AveragePool-10 (ceil_mode)."""
    y = pool(x, _avg_mode(count_include_pad), kernel_shape=kernel_shape, strides=strides, pads=pads,
             auto_pad=auto_pad, ceil_mode=ceil_mode, op="AveragePool")
    if y is None:
        return reference.AveragePool_10(x, auto_pad=auto_pad, ceil_mode=ceil_mode,
                                        count_include_pad=count_include_pad, kernel_shape=kernel_shape, pads=pads,
                                        strides=strides)
    return y


def AveragePool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                dilations: list[int] | None = None, kernel_shape: list[int] | None = None,
                pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    """AveragePool-19 (dilations)."""
    y = pool(x, _avg_mode(count_include_pad), kernel_shape=kernel_shape, strides=strides, dilations=dilations,
             pads=pads, auto_pad=auto_pad, ceil_mode=ceil_mode, op="AveragePool")
    if y is None:
        return reference.AveragePool(x, auto_pad=auto_pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                                     dilations=dilations, kernel_shape=kernel_shape, pads=pads, strides=strides)
    return y


# --------------------------------------------------------------------------- node kernels


def _version_name(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a node kernel factory the name of the op version it serves (`MaxPool_8`, as the numpy
    kernels are named), which is how the registry's version dispatch is seen and tested."""

    def rename(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__name__ = fn.__qualname__ = name
        return fn

    return rename


@native_kernel("MaxPool", 1, until=7, factory=True)
@_version_name("MaxPool_1")
def max_pool_1_node(*, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
                    pads: list[int] | None = None, strides: list[int] | None = None) -> Callable[..., Any]:
    """The kernel of one MaxPool-1 node."""
    geometry = dict(auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides)
    return _node_runner(library.POOL_MAX, "MaxPool", geometry,
                        lambda x: reference.MaxPool_1(x, **geometry), wrap=False)


@native_kernel("MaxPool", 8, until=9, multi_output=True, supports=_one_output, factory=True)
@_version_name("MaxPool_8")
def max_pool_8_node(*, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
                    pads: list[int] | None = None, storage_order: int = 0, strides: list[int] | None = None,
                    _num_outputs: int = 1) -> Callable[..., Any]:
    """The kernel of one MaxPool-8 node (without Indices: `_one_output` hands those to numpy)."""
    geometry = dict(auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides)

    def fallback(x: np.ndarray) -> Any:
        return reference.MaxPool_8(x, storage_order=storage_order, _num_outputs=_num_outputs, **geometry)

    return fallback if _num_outputs > 1 else _node_runner(library.POOL_MAX, "MaxPool", geometry, fallback, wrap=True)


@native_kernel("MaxPool", 10, multi_output=True, supports=_one_output, factory=True)
@_version_name("MaxPool")
def max_pool_node(*, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
                  kernel_shape: list[int] | None = None, pads: list[int] | None = None, storage_order: int = 0,
                  strides: list[int] | None = None, _num_outputs: int = 1) -> Callable[..., Any]:
    """The kernel of one MaxPool-10+ node (without Indices)."""
    geometry = dict(auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations, kernel_shape=kernel_shape, pads=pads,
                    strides=strides)

    def fallback(x: np.ndarray) -> Any:
        return reference.MaxPool(x, storage_order=storage_order, _num_outputs=_num_outputs, **geometry)

    return fallback if _num_outputs > 1 else _node_runner(library.POOL_MAX, "MaxPool", geometry, fallback, wrap=True)


@native_kernel("AveragePool", 1, until=6, factory=True)
@_version_name("AveragePool_1")
def average_pool_1_node(*, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
                        pads: list[int] | None = None, strides: list[int] | None = None) -> Callable[..., Any]:
    """The kernel of one AveragePool-1 node."""
    geometry = dict(auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides)
    return _node_runner(library.POOL_AVG, "AveragePool", geometry,
                        lambda x: reference.AveragePool_1(x, **geometry), wrap=False)


@native_kernel("AveragePool", 7, until=9, factory=True)
@_version_name("AveragePool_7")
def average_pool_7_node(*, auto_pad: str = "NOTSET", count_include_pad: int = 0,
                        kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                        strides: list[int] | None = None) -> Callable[..., Any]:
    """The kernel of one AveragePool-7 node."""
    geometry = dict(auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides)
    return _node_runner(_avg_mode(count_include_pad), "AveragePool", geometry,
                        lambda x: reference.AveragePool_7(x, count_include_pad=count_include_pad, **geometry),
                        wrap=False)


@native_kernel("AveragePool", 10, until=18, factory=True)
@_version_name("AveragePool_10")
def average_pool_10_node(*, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                         kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                         strides: list[int] | None = None) -> Callable[..., Any]:
    """The kernel of one AveragePool-10 node."""
    geometry = dict(auto_pad=auto_pad, ceil_mode=ceil_mode, kernel_shape=kernel_shape, pads=pads, strides=strides)
    return _node_runner(_avg_mode(count_include_pad), "AveragePool", geometry,
                        lambda x: reference.AveragePool_10(x, count_include_pad=count_include_pad, **geometry),
                        wrap=False)


@native_kernel("AveragePool", 19, factory=True)
@_version_name("AveragePool")
def average_pool_node(*, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                      dilations: list[int] | None = None, kernel_shape: list[int] | None = None,
                      pads: list[int] | None = None, strides: list[int] | None = None) -> Callable[..., Any]:
    """The kernel of one AveragePool-19 node."""
    geometry = dict(auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations, kernel_shape=kernel_shape,
                    pads=pads, strides=strides)
    return _node_runner(_avg_mode(count_include_pad), "AveragePool", geometry,
                        lambda x: reference.AveragePool(x, count_include_pad=count_include_pad, **geometry),
                        wrap=False)


# --------------------------------------------------------------------------- global pools


def _global_plan(shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, int] | None:
    """The global pool's C call for an input of `shape`: (output shape, planes, values per plane), or
    None where it does not apply (rank below 3, an empty tensor)."""
    if len(shape) < 3 or 0 in shape:
        return None
    return shape[:2] + (1,) * (len(shape) - 2), shape[0] * shape[1], math.prod(shape[2:])


def _global_run(plan: tuple[tuple[int, ...], int, int], x: np.ndarray, mode: int) -> np.ndarray:
    """The global pool's C call of `plan` on x (float32)."""
    x = np.ascontiguousarray(x)
    out_shape, planes, size = plan
    # one value per plane: too small for an alignment to matter
    y = np.empty(out_shape, F32)
    GLOBAL_POOL_F32(x, y, planes, size, mode, intra_op_threads())
    return y


def global_pool(x: np.ndarray, mode: int) -> np.ndarray | None:
    """Max or mean over the spatial dims (keepdims) by the C kernel, or None when it does not apply."""
    if GLOBAL_POOL_F32 is None or not is_f32_array(x):
        return None
    plan = _global_plan(x.shape)
    return None if plan is None else _global_run(plan, x, mode)


def GlobalAveragePool(x: np.ndarray) -> np.ndarray:
    """GlobalAveragePool (each plane summed in double, from float partial sums of at most four values)."""
    y = global_pool(x, library.POOL_AVG)
    return reference.GlobalAveragePool(x) if y is None else y


def GlobalMaxPool(x: np.ndarray) -> np.ndarray:
    """GlobalMaxPool (NaN propagates)."""
    y = global_pool(x, library.POOL_MAX)
    return reference.GlobalMaxPool(x) if y is None else y


def _global_node_runner(mode: int, fallback: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
    """The function that runs one global pooling node: the C call prepared per input shape, the numpy
    kernel (`fallback`) for what it does not take."""
    if GLOBAL_POOL_F32 is None:
        return fallback
    get = library.PlanCache(_PLANS_PER_NODE).get

    def run(x: np.ndarray) -> Any:
        # a global pool is the small node after a network's last convolution: the path is kept short
        if type(x) is not np.ndarray or x.dtype is not F32:
            return fallback(x)
        shape = x.shape
        plan = get(shape, _global_plan, shape)
        return fallback(x) if plan is None else _global_run(plan, x, mode)

    return run


@native_kernel("GlobalAveragePool", 1, factory=True)
@_version_name("GlobalAveragePool")
def global_average_pool_node() -> Callable[..., Any]:
    """The kernel of one GlobalAveragePool node."""
    return _global_node_runner(library.POOL_AVG, reference.GlobalAveragePool)


@native_kernel("GlobalMaxPool", 1, factory=True)
@_version_name("GlobalMaxPool")
def global_max_pool_node() -> Callable[..., Any]:
    """The kernel of one GlobalMaxPool node."""
    return _global_node_runner(library.POOL_MAX, reference.GlobalMaxPool)
