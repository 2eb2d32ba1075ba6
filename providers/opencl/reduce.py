"""Reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp), Softmax and
LogSoftmax, on a (outer, R, inner) view of the input (reduce.cl). Reduced axes that are not
contiguous are first moved to the end with one transpose on the device."""

from __future__ import annotations

from typing import Any

import numpy as np

from .copies import strided_copy
from .registry import FLOATS, kernel
from .runtime import Launcher, contiguous_strides, ftype, prod

CL = "reduce.cl"

REDUCE_KERNELS = {
    "ReduceSum": "reduce_sum", "ReduceMean": "reduce_mean", "ReduceMax": "reduce_max", "ReduceMin": "reduce_min",
    "ReduceProd": "reduce_prod", "ReduceL1": "reduce_l1", "ReduceL2": "reduce_l2",
    "ReduceSumSquare": "reduce_sum_square", "ReduceLogSum": "reduce_log_sum",
    "ReduceLogSumExp": "reduce_log_sum_exp",
}
#: the version from which `axes` is an input instead of an attribute
AXES_INPUT_SINCE = {op: 18 for op in REDUCE_KERNELS} | {"ReduceSum": 13}


def reduce_middle(rt: Launcher, name: str, x: Any, y: Any, outer: int, r: int, inner: int) -> None:
    n = outer * inner
    if n == 0:
        return
    knl = rt.kernel(CL, name, T=ftype(x.dtype))
    rt.launch1d(knl, n, np.int32(n), np.int32(r), np.int32(inner), x.data, y.data)


def reduce(rt: Launcher, name: str, x: Any, axes: list[int] | None, keepdims: int, noop_with_empty_axes: int) -> Any:
    rank = x.ndim
    if not axes:
        if noop_with_empty_axes:
            return x
        axes = list(range(rank))
    ax = sorted({a + rank if a < 0 else a for a in axes})
    kept_shape = tuple(1 if i in ax else d for i, d in enumerate(x.shape))
    out_shape = kept_shape if keepdims else tuple(d for i, d in enumerate(x.shape) if i not in ax)
    if ax == list(range(ax[0], ax[-1] + 1)):
        outer = prod(x.shape[:ax[0]])
        r = prod(x.shape[ax[0]:ax[-1] + 1])
        inner = prod(x.shape[ax[-1] + 1:])
        src = x
    else:  # move the reduced axes last
        perm = [i for i in range(rank) if i not in ax] + ax
        shape = [x.shape[i] for i in perm]
        cs = contiguous_strides(x.shape)
        src = rt.empty(shape, x.dtype)
        strided_copy(rt, x, src, shape, [cs[i] for i in perm], 0, contiguous_strides(shape), 0)
        outer, r, inner = prod(shape[:rank - len(ax)]), prod(shape[rank - len(ax):]), 1
    y = rt.empty(out_shape, x.dtype)
    reduce_middle(rt, name, src, y, outer, r, inner)
    return y


def _register_reduce(op: str, cl_name: str) -> None:
    since_input = AXES_INPUT_SINCE[op]

    def legacy(*, axes: list[int] | None = None, keepdims: int = 1, _provider):
        rt = _provider.rt
        return lambda x: reduce(rt, cl_name, x, axes, keepdims, 0)

    def modern(*, keepdims: int = 1, noop_with_empty_axes: int = 0, _provider):
        rt = _provider.rt

        def run(x, axes=None):
            lst = [int(a) for a in np.asarray(axes).reshape(-1)] if axes is not None else None
            return reduce(rt, cl_name, x, lst, keepdims, noop_with_empty_axes)

        return run

    kernel(op, 1, until=since_input - 1, dtypes=FLOATS, factory=True)(legacy)
    kernel(op, since_input, dtypes=FLOATS, factory=True)(modern)


for _op, _name in REDUCE_KERNELS.items():
    _register_reduce(_op, _name)


def softmax(rt: Launcher, x: Any, axis: int, log: bool, legacy: bool) -> Any:
    rank = x.ndim
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise ValueError(f"Softmax: axis {axis} out of range for rank {rank}")
    y = rt.empty(x.shape, x.dtype)
    if legacy:  # opset < 13: coerced to 2-D at `axis`
        outer, r, inner = prod(x.shape[:a]), prod(x.shape[a:]), 1
    else:
        outer, r, inner = prod(x.shape[:a]), (x.shape[a] if rank else 1), prod(x.shape[a + 1:])
    n = outer * inner
    if n and r:
        knl = rt.kernel(CL, "softmax", T=ftype(x.dtype))
        rt.launch1d(knl, n, np.int32(n), np.int32(r), np.int32(inner), np.int32(log), x.data, y.data)
    return y


for _op, _log in (("Softmax", False), ("LogSoftmax", True)):
    def _legacy(*, axis: int = 1, _provider, _log=_log):
        rt = _provider.rt
        return lambda x: softmax(rt, x, axis, _log, True)

    def _modern(*, axis: int = -1, _provider, _log=_log):
        rt = _provider.rt
        return lambda x: softmax(rt, x, axis, _log, False)

    kernel(_op, 1, until=12, dtypes=FLOATS, factory=True)(_legacy)
    kernel(_op, 13, dtypes=FLOATS, factory=True)(_modern)

