"""Native pooling: MaxPool (without the Indices output), AveragePool, GlobalMaxPool and
GlobalAveragePool over 1-D and 2-D windows of float32 tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import pool_geometry

from .. import pool as reference
from . import library
from ._register import extents_fit, is_f32_array, native_kernel


def pool(x: np.ndarray, mode: int, *, kernel_shape: Sequence[int] | None, strides=None, dilations=None, pads=None,
         auto_pad: str = "NOTSET", ceil_mode: int = 0, op: str = "MaxPool") -> np.ndarray | None:
    """The pooled tensor by the C kernel (mode library.POOL_*), or None when it does not apply
    (not float32, not 1-D or 2-D, empty, negative pads): the caller then runs the numpy kernel."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or x.ndim not in (3, 4) or x.size == 0:
        return None
    strides, dilations, begin, end, _, out = pool_geometry(x.shape, op, kernel_shape, strides, dilations, pads,
                                                           auto_pad, ceil_mode)
    if min(begin) < 0 or min(end) < 0 or min(strides) < 1 or min(dilations) < 1 \
            or not extents_fit(out, kernel_shape, strides, dilations):
        return None
    if list(kernel_shape) == list(x.shape[2:]) and not any(begin) and not any(end) and max(dilations) == 1:
        # one window over the whole plane (a 7x7 pool of a 7x7 map): the global pool's kernel
        return global_pool(x, library.POOL_MAX if mode == library.POOL_MAX else library.POOL_AVG)
    x = np.ascontiguousarray(x)
    if x.ndim == 3:
        geo = (1, x.shape[2], 1, kernel_shape[0], 1, strides[0], 1, dilations[0], 0, begin[0], 0, end[0], 1, out[0])
    else:
        geo = (*x.shape[2:], *kernel_shape, *strides, *dilations, begin[0], begin[1], end[0], end[1], *out)
    y = np.empty(x.shape[:2] + tuple(out), dtype=np.float32)
    rc = lib.ep_pool2d_f32(x.ctypes.data, y.ctypes.data, x.shape[0] * x.shape[1], *geo, mode, library.threads())
    if rc != 0:
        raise MemoryError(f"{op}: the native kernel could not allocate its padded plane")
    return y


def _one_output(node: Node, graph: Graph) -> str | None:
    if len(node.outputs) > 1 and node.outputs[1]:
        return "the Indices output is computed by the numpy kernel"
    return None


@native_kernel("MaxPool", 1, until=7)
def MaxPool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    y = pool(x, library.POOL_MAX, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad)
    return reference.MaxPool_1(x, auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides) \
        if y is None else y


@native_kernel("MaxPool", 8, until=9, multi_output=True, supports=_one_output)
def MaxPool_8(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, storage_order: int = 0, strides: list[int] | None = None,
              _num_outputs: int = 1) -> tuple[np.ndarray, ...]:
    y = None if _num_outputs > 1 else pool(x, library.POOL_MAX, kernel_shape=kernel_shape, strides=strides,
                                           pads=pads, auto_pad=auto_pad)
    if y is None:
        return reference.MaxPool_8(x, auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads,
                                   storage_order=storage_order, strides=strides, _num_outputs=_num_outputs)
    return (y,)


@native_kernel("MaxPool", 10, multi_output=True, supports=_one_output)
def MaxPool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
            kernel_shape: list[int] | None = None, pads: list[int] | None = None, storage_order: int = 0,
            strides: list[int] | None = None, _num_outputs: int = 1) -> tuple[np.ndarray, ...]:
    y = None if _num_outputs > 1 else pool(x, library.POOL_MAX, kernel_shape=kernel_shape, strides=strides,
                                           dilations=dilations, pads=pads, auto_pad=auto_pad, ceil_mode=ceil_mode)
    if y is None:
        return reference.MaxPool(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                                 kernel_shape=kernel_shape, pads=pads, storage_order=storage_order, strides=strides,
                                 _num_outputs=_num_outputs)
    return (y,)


def _avg_mode(count_include_pad: int) -> int:
    return library.POOL_AVG_INCLUDE_PAD if count_include_pad else library.POOL_AVG


@native_kernel("AveragePool", 1, until=6)
def AveragePool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
                  pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    y = pool(x, library.POOL_AVG, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
             op="AveragePool")
    return reference.AveragePool_1(x, auto_pad=auto_pad, kernel_shape=kernel_shape, pads=pads, strides=strides) \
        if y is None else y


@native_kernel("AveragePool", 7, until=9)
def AveragePool_7(x: np.ndarray, *, auto_pad: str = "NOTSET", count_include_pad: int = 0,
                  kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                  strides: list[int] | None = None) -> np.ndarray:
    y = pool(x, _avg_mode(count_include_pad), kernel_shape=kernel_shape, strides=strides, pads=pads,
             auto_pad=auto_pad, op="AveragePool")
    if y is None:
        return reference.AveragePool_7(x, auto_pad=auto_pad, count_include_pad=count_include_pad,
                                       kernel_shape=kernel_shape, pads=pads, strides=strides)
    return y


@native_kernel("AveragePool", 10, until=18)
def AveragePool_10(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                   kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                   strides: list[int] | None = None) -> np.ndarray:
    y = pool(x, _avg_mode(count_include_pad), kernel_shape=kernel_shape, strides=strides, pads=pads,
             auto_pad=auto_pad, ceil_mode=ceil_mode, op="AveragePool")
    if y is None:
        return reference.AveragePool_10(x, auto_pad=auto_pad, ceil_mode=ceil_mode,
                                        count_include_pad=count_include_pad, kernel_shape=kernel_shape, pads=pads,
                                        strides=strides)
    return y


@native_kernel("AveragePool", 19)
def AveragePool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                dilations: list[int] | None = None, kernel_shape: list[int] | None = None,
                pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    y = pool(x, _avg_mode(count_include_pad), kernel_shape=kernel_shape, strides=strides, dilations=dilations,
             pads=pads, auto_pad=auto_pad, ceil_mode=ceil_mode, op="AveragePool")
    if y is None:
        return reference.AveragePool(x, auto_pad=auto_pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                                     dilations=dilations, kernel_shape=kernel_shape, pads=pads, strides=strides)
    return y


def global_pool(x: np.ndarray, mode: int) -> np.ndarray | None:
    """Max or mean over the spatial dims (keepdims) by the C kernel, or None when it does not apply."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or x.ndim < 3 or x.size == 0:
        return None
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    shape = x.shape
    y = np.empty(shape[:2] + (1,) * (len(shape) - 2), dtype=np.float32)
    lib.ep_global_pool_f32(x.ctypes.data, y.ctypes.data, shape[0] * shape[1], math.prod(shape[2:]), mode,
                           library.threads())
    return y


@native_kernel("GlobalAveragePool", 1)
def GlobalAveragePool(x: np.ndarray) -> np.ndarray:
    y = global_pool(x, library.POOL_AVG)
    return reference.GlobalAveragePool(x) if y is None else y


@native_kernel("GlobalMaxPool", 1)
def GlobalMaxPool(x: np.ndarray) -> np.ndarray:
    y = global_pool(x, library.POOL_MAX)
    return reference.GlobalMaxPool(x) if y is None else y
