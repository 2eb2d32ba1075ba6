"""MaxPool, AveragePool (2-D and 1-D windows, one work-item per output; pool.cl) and the global
pools (reductions over the spatial dims; reduce.cl)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import pool_geometry

from .conv import Window2d, as_2d
from .reduce import reduce_middle
from .registry import FLOATS, kernel
from .runtime import Launcher, ftype, prod

CL = "pool.cl"


def _pool_check(node: Node, graph: Graph) -> str | None:
    ks = node.attrs.get("kernel_shape")
    if ks is not None and len(ks) not in (1, 2):
        return f"{node.op_type} over {len(ks)} spatial dims unsupported (1-D and 2-D only)"
    if node.op_type == "MaxPool" and len([o for o in node.outputs if o]) > 1:
        return "MaxPool with the Indices output unsupported"
    if node.op_type == "MaxPool" and node.attrs.get("storage_order", 0):
        return None  # only affects Indices
    return None


def pool(rt: Launcher, x: Any, kind: str, *, kernel_shape, strides=None, dilations=None, pads=None,
         auto_pad="NOTSET", ceil_mode=0, count_include_pad=0) -> Any:
    strides, dilations, begin, end, _, out = pool_geometry(x.shape, kind, kernel_shape, strides, dilations, pads,
                                                           auto_pad, ceil_mode)
    if len(kernel_shape) not in (1, 2):
        raise ValueError(f"{kind}: input {x.shape} with kernel_shape {list(kernel_shape)} unsupported")
    y = rt.empty(x.shape[:2] + tuple(out), x.dtype)
    if y.size == 0:
        return y
    i32 = np.int32
    g = Window2d.of(x.shape[2:], out, kernel_shape, strides, dilations, begin)
    args = [i32(y.size), x.data, y.data, i32(g.H), i32(g.W), i32(g.OH), i32(g.OW), *g.taps()]
    if kind == "MaxPool":
        knl = rt.kernel(CL, "max_pool", T=ftype(x.dtype))
    else:
        eh, ew = as_2d(end, 0)
        knl = rt.kernel(CL, "avg_pool", T=ftype(x.dtype))
        args += [i32(count_include_pad), i32(eh), i32(ew)]
    rt.launch1d(knl, y.size, *args)
    return y


@kernel("MaxPool", since=1, until=7, dtypes=FLOATS, factory=True, supports=_pool_check)
def MaxPool_1(*, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None, _provider):
    rt = _provider.rt
    return lambda x: pool(rt, x, "MaxPool", kernel_shape=kernel_shape, strides=strides, pads=pads,
                          auto_pad=auto_pad)


@kernel("MaxPool", since=8, until=9, dtypes=FLOATS, factory=True, supports=_pool_check)
def MaxPool_8(*, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              storage_order: int = 0, strides: list[int] | None = None, _provider):
    rt = _provider.rt
    return lambda x: pool(rt, x, "MaxPool", kernel_shape=kernel_shape, strides=strides, pads=pads,
                          auto_pad=auto_pad)


@kernel("MaxPool", since=10, dtypes=FLOATS, factory=True, supports=_pool_check)
def MaxPool(*, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
            kernel_shape: list[int] | None = None, pads: list[int] | None = None, storage_order: int = 0,
            strides: list[int] | None = None, _provider):
    rt = _provider.rt
    return lambda x: pool(rt, x, "MaxPool", kernel_shape=kernel_shape, strides=strides, dilations=dilations,
                          pads=pads, auto_pad=auto_pad, ceil_mode=ceil_mode)


@kernel("AveragePool", since=7, until=9, dtypes=FLOATS, factory=True, supports=_pool_check)
def AveragePool_7(*, auto_pad: str = "NOTSET", count_include_pad: int = 0, kernel_shape: list[int] | None = None,
                  pads: list[int] | None = None, strides: list[int] | None = None, _provider):
    rt = _provider.rt
    return lambda x: pool(rt, x, "AveragePool", kernel_shape=kernel_shape, strides=strides, pads=pads,
                          auto_pad=auto_pad, count_include_pad=count_include_pad)


@kernel("AveragePool", since=10, until=18, dtypes=FLOATS, factory=True, supports=_pool_check)
def AveragePool_10(*, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                   kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                   strides: list[int] | None = None, _provider):
    rt = _provider.rt
    return lambda x: pool(rt, x, "AveragePool", kernel_shape=kernel_shape, strides=strides, pads=pads,
                          auto_pad=auto_pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad)


@kernel("AveragePool", since=19, dtypes=FLOATS, factory=True, supports=_pool_check)
def AveragePool(*, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                dilations: list[int] | None = None, kernel_shape: list[int] | None = None,
                pads: list[int] | None = None, strides: list[int] | None = None, _provider):
    rt = _provider.rt
    return lambda x: pool(rt, x, "AveragePool", kernel_shape=kernel_shape, strides=strides, dilations=dilations,
                          pads=pads, auto_pad=auto_pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def global_pool(rt: Launcher, x: Any, name: str) -> Any:
    if x.ndim < 3:
        raise ValueError(f"global pool: input must have rank >= 3, got {x.shape}")
    y = rt.empty(x.shape[:2] + (1,) * (x.ndim - 2), x.dtype)
    reduce_middle(rt, name, x, y, prod(x.shape[:2]), prod(x.shape[2:]), 1)
    return y


@kernel("GlobalAveragePool", since=1, dtypes=FLOATS, factory=True)
def GlobalAveragePool(*, _provider):
    rt = _provider.rt
    return lambda x: global_pool(rt, x, "reduce_mean")


@kernel("GlobalMaxPool", since=1, dtypes=FLOATS, factory=True)
def GlobalMaxPool(*, _provider):
    rt = _provider.rt
    return lambda x: global_pool(rt, x, "reduce_max")
