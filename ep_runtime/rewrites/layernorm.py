"""LayerNormalization fusion (EXTENDED level, float32).

The exported chain `d = x - ReduceMean(x); d / Sqrt(ReduceMean(d^2) + eps) [* gamma] [+ beta]`,
over trailing axes of statically known size, with constant gamma / beta, becomes one
LayerNormalization (gamma and beta broadcast to the normalized shape; ones when absent). A value of
unknown rank (shape inference stopped at a computed Reshape) qualifies when both means reduce exactly
axis -1 and a constant gamma of n > 1 values on the last axis gives the normalized size (a last axis of
another size would fail in the original Mul as in the fused node, but for size 1, where the original
graph broadcasts: the fused node then reports the mismatch). Below
opset 17 the node is the ai.onnx LayerNormalization of version 1 that onnxruntime's LayerNormFusion
writes (a contrib schema with the semantics of version 17); it appears only where a provider claims it
(the CPU provider registers its kernel for both).
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..graph import Node
from .editor import GraphEdit, fused_name


def _raw_axes(edit: GraphEdit, node: Node) -> list[int] | None:
    """The axes of a keepdims ReduceMean as written, or None when not constant."""
    if node.attrs.get("keepdims", 1) != 1:
        return None
    if node.opset >= 18:
        v = edit.const(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
        return None if v is None else [int(a) for a in v.reshape(-1)]
    axes = node.attrs.get("axes")
    return None if axes is None else list(axes)


def _reduced_axes(edit: GraphEdit, node: Node, rank: int | None) -> list[int] | None:
    """The sorted, non-negative axes of a keepdims ReduceMean, or None when not constant; with an unknown
    rank, [-1] when the node reduces exactly the last axis (written -1), else None."""
    axes = _raw_axes(edit, node)
    if rank is None:
        return [-1] if axes == [-1] else None
    if not axes or any(not -rank <= a < rank for a in axes):
        return None
    return sorted(a % rank for a in axes)


def _last_axis_from_gamma(edit: GraphEdit, div: Node) -> tuple[int, ...] | None:
    """(n,) when the normalized value is scaled by a constant gamma of n > 1 values on its last axis:
    the normalized shape of a chain over the last axis of a value of unknown rank."""
    scale = edit.only_consumer(div.outputs[0], "Mul")
    name = None if scale is None else edit.other(scale, div.outputs[0])
    v = None if name is None else edit.const(name)
    if v is None or v.ndim == 0 or v.shape[-1] < 2 or v.size != v.shape[-1]:
        return None
    return (int(v.shape[-1]),)


def _affine_param(edit: GraphEdit, name: str | None, norm_shape: tuple[int, ...], dtype: np.dtype
                  ) -> np.ndarray | None:
    """A constant gamma or beta as an array of the normalized shape, None when it is not one."""
    v = edit.const(name or "")
    if v is None or v.dtype != dtype:
        return None
    k = len(norm_shape)
    if v.ndim > k:
        if any(d != 1 for d in v.shape[:-k]):
            return None
        v = v.reshape(v.shape[-k:])
    try:
        if np.broadcast_shapes(v.shape, norm_shape) != norm_shape:
            return None
    except ValueError:
        return None
    return np.ascontiguousarray(np.broadcast_to(v, norm_shape))


def _match(edit: GraphEdit, mean: Node) -> tuple[list[Node], str, tuple[int, ...], float, str, Node | None,
                                                  Node | None] | None:
    x = mean.inputs[0]
    shape = edit.graph.value(x).shape
    if edit.dtype(x) != np.float32:
        return None
    rank = None if shape is None else len(shape)
    axes = _reduced_axes(edit, mean, rank)
    if axes is None or (rank is not None and axes != list(range(rank - len(axes), rank))):
        return None
    norm_shape = None if rank is None else tuple(shape[rank - len(axes):])
    if norm_shape is not None and not all(isinstance(d, int) and d > 0 for d in norm_shape):
        return None
    sub = edit.only_consumer(mean.outputs[0], "Sub")
    if sub is None or list(sub.inputs) != [x, mean.outputs[0]]:
        return None
    d = sub.outputs[0]
    users = edit.consumers(d)
    if len(users) != 2 or d in edit.graph_outputs:
        return None
    square = next((u for u in users if u.op_type in ("Pow", "Mul") and not u.domain), None)
    div = next((u for u in users if u.op_type == "Div" and not u.domain), None)
    if square is None or div is None:
        return None
    if square.op_type == "Pow" and not (square.inputs[0] == d and edit.scalar(square.inputs[1]) == 2.0):
        return None
    if square.op_type == "Mul" and list(square.inputs) != [d, d]:
        return None
    var = edit.only_consumer(square.outputs[0], "ReduceMean")
    if var is None or _reduced_axes(edit, var, rank) != axes:
        return None
    add_eps = edit.only_consumer(var.outputs[0], "Add")
    eps_name = None if add_eps is None else edit.other(add_eps, var.outputs[0])
    eps = None if eps_name is None else edit.scalar(eps_name)
    sqrt = None if add_eps is None else edit.only_consumer(add_eps.outputs[0], "Sqrt")
    if eps is None or sqrt is None or list(div.inputs) != [d, sqrt.outputs[0]]:
        return None
    if edit.only_consumer(sqrt.outputs[0]) is not div:
        return None
    if norm_shape is None:
        norm_shape = _last_axis_from_gamma(edit, div)
        if norm_shape is None:
            return None
    chain = [mean, sub, square, var, add_eps, sqrt, div]
    scale = edit.only_consumer(div.outputs[0], "Mul")
    if scale is not None and _affine_param(edit, edit.other(scale, div.outputs[0]), norm_shape, np.float32) is None:
        scale = None
    tail = scale or div
    bias = edit.only_consumer(tail.outputs[0], "Add")
    if bias is not None and _affine_param(edit, edit.other(bias, tail.outputs[0]), norm_shape, np.float32) is None:
        bias = None
    return chain, x, norm_shape, eps, (bias or tail).outputs[0], scale, bias


def fuse_layer_norm(edit: GraphEdit) -> None:
    """Replace each matched LayerNorm chain by one LayerNormalization node."""
    for node in edit.graph.nodes:
        if node.op_type != "ReduceMean" or node.domain or node.index in edit.removed:
            continue
        found = _match(edit, node)
        if found is None:
            continue
        chain, x, norm_shape, eps, out, scale, bias = found
        chain = chain + [n for n in (scale, bias) if n is not None]
        if not edit.closed(chain, out):
            continue
        f32 = np.dtype(np.float32)
        gamma = (_affine_param(edit, edit.other(scale, chain[6].outputs[0]), norm_shape, f32) if scale is not None
                 else np.ones(norm_shape, np.float32))
        inputs = [x, edit.add_initializer(out + "_ln_scale", gamma)]
        if bias is not None:
            beta = _affine_param(edit, edit.other(bias, (scale or chain[6]).outputs[0]), norm_shape, f32)
            inputs.append(edit.add_initializer(out + "_ln_bias", beta))
        new = helper.make_node("LayerNormalization", inputs, [out], name=fused_name([node, chain[-1]]),
                               axis=-len(norm_shape), epsilon=eps)
        if not edit.replace(chain, [new]):
            for name in inputs[1:]:
                del edit.new_initializers[name]
