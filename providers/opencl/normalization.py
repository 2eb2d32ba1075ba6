"""BatchNormalization (inference), LayerNormalization and LRN (normalization.cl)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node

from .registry import FLOATS, kernel
from .runtime import Launcher, ftype, prod

CL = "normalization.cl"


def batch_norm(rt: Launcher, x: Any, scale: Any, bias: Any, mean: Any, var: Any, epsilon: float) -> Any:
    if x.ndim < 2:
        raise ValueError(f"BatchNormalization: input must have rank >= 2, got {x.shape}")
    c = x.shape[1]
    for name, v in (("scale", scale), ("B", bias), ("mean", mean), ("var", var)):
        if v.size != c:
            raise ValueError(f"BatchNormalization: {name} has {v.size} values for {c} channels")
        if v.dtype != x.dtype:
            raise TypeError(f"BatchNormalization: {name} is {v.dtype}, X is {x.dtype}")
    y = rt.empty(x.shape, x.dtype)
    knl = rt.kernel(CL, "batch_norm", T=ftype(x.dtype))
    inner = prod(x.shape[2:])
    rt.launch(knl, (inner, c, x.shape[0]), (min(64, max(inner, 1)), 1, 1), np.int32(x.shape[0]), np.int32(c),
              np.int32(inner), np.float32(epsilon), x.data, scale.data, bias.data, mean.data, var.data, y.data)
    return y


def _bn_inference(node: Node, graph: Graph) -> str | None:
    if node.attrs.get("training_mode", 0):
        return "BatchNormalization training_mode=1 unsupported"
    if len([o for o in node.outputs if o]) > 1:
        return "BatchNormalization with running-statistics outputs (training) unsupported"
    dts = {graph.value(n).dtype for n in node.inputs[1:] if n}
    if len(dts) > 1 or (dts and graph.value(node.inputs[0]).dtype not in dts):
        return "BatchNormalization with parameters of another dtype than X unsupported"
    return None


@kernel("BatchNormalization", since=7, until=8, dtypes=FLOATS, factory=True, supports=_bn_inference)
def BatchNormalization_7(*, epsilon: float = 1e-5, momentum: float = 0.9, spatial: int = 1, _provider):
    if not spatial:
        raise ValueError("BatchNormalization spatial=0 unsupported")
    rt = _provider.rt
    return lambda x, s, b, m, v: batch_norm(rt, x, s, b, m, v, epsilon)


@kernel("BatchNormalization", since=9, dtypes=FLOATS, factory=True, supports=_bn_inference)
def BatchNormalization(*, epsilon: float = 1e-5, momentum: float = 0.9, training_mode: int = 0, _provider):
    rt = _provider.rt
    return lambda x, s, b, m, v: batch_norm(rt, x, s, b, m, v, epsilon)


def _ln_check(node: Node, graph: Graph) -> str | None:
    if node.attrs.get("stash_type", 1) != 1:
        return "LayerNormalization stash_type other than float unsupported"
    return None


@kernel("LayerNormalization", since=17, dtypes=FLOATS, factory=True, multi_output=True, supports=_ln_check)
def LayerNormalization(*, axis: int = -1, epsilon: float = 1e-5, stash_type: int = 1, _provider,
                       _num_outputs: int = 1):
    rt = _provider.rt

    def run(x, scale, bias=None):
        a = axis + x.ndim if axis < 0 else axis
        rows, r = prod(x.shape[:a]), prod(x.shape[a:])
        y = rt.empty(x.shape, x.dtype)
        stat_shape = tuple(x.shape[:a]) + (1,) * (x.ndim - a)
        mean = rt.empty(stat_shape, np.float32) if _num_outputs > 1 else None
        inv = rt.empty(stat_shape, np.float32) if _num_outputs > 2 else None
        for name, v in (("Scale", scale), ("B", bias)):
            if v is not None and v.size not in (1, r):
                raise ValueError(f"LayerNormalization: {name} of shape {v.shape} does not match {x.shape[a:]}")
        if rows and r:
            knl = rt.kernel(CL, "layer_norm", T=ftype(x.dtype))
            dummy = mean if mean is not None else y
            rt.launch1d(knl, rows, np.int32(rows), np.int32(r), np.float32(epsilon), x.data, scale.data,
                        np.int32(scale.size != 1), (bias if bias is not None else scale).data,
                        np.int32(bias is not None and bias.size != 1), np.int32(bias is not None), y.data,
                        dummy.data, (inv if inv is not None else dummy).data, np.int32(_num_outputs > 1))
        outs = [y, mean, inv][:_num_outputs]
        return outs

    return run


@kernel("LRN", since=1, dtypes=FLOATS, factory=True)
def LRN(*, alpha: float = 0.0001, beta: float = 0.75, bias: float = 1.0, size: int, _provider):
    rt = _provider.rt

    def run(x):
        if x.ndim < 3:
            raise ValueError(f"LRN: input must have rank >= 3, got {x.shape}")
        y = rt.empty(x.shape, x.dtype)
        knl = rt.kernel(CL, "lrn", T=ftype(x.dtype))
        rt.launch1d(knl, y.size, np.int32(y.size), np.int32(x.shape[1]), np.int32(prod(x.shape[2:])),
                    np.float32(alpha), np.float32(beta), np.float32(bias), np.int32(size), x.data, y.data)
        return y

    return run
