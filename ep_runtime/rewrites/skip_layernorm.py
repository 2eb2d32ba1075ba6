"""Residual Add + LayerNormalization -> com.microsoft SkipLayerNormalization (EXTENDED level), as
onnxruntime's SkipLayerNormFusion:

`LayerNormalization(Add(input, skip))` over the last axis of a float32 tensor of rank 2 or 3, with
constant gamma (and beta) of the hidden size, becomes one SkipLayerNormalization(input, skip, gamma,
beta). When one side of the Add is itself `Add(v, bias)` with a constant 1-D bias of the hidden size,
read only there (a Linear layer's bias), the bias moves into the fused node's bias input and `v` is
added directly. When the residual sum is read elsewhere too (a pre-norm block's next residual, a graph
output), the fused node writes it as its output 3 under its old name. The normalization's Mean and
InvStdDev outputs must be unused. `skip` has the input's shape, or the shapes the kernel broadcasts:
the input's trailing axes, or the input's shape with a leading 1 (checked on the static shapes).
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..graph import Node
from .editor import GraphEdit, fused_name

_F32 = np.dtype(np.float32)


def _hidden_vector(edit: GraphEdit, name: str, n: int) -> np.ndarray | None:
    """A float32 constant of n values on the last axis (leading axes of size 1), as a 1-D array."""
    v = edit.const(name)
    if v is None or v.dtype != _F32 or v.ndim < 1 or v.shape[-1] != n or v.size != n:
        return None
    return v.reshape(n)


def _as_vector_input(edit: GraphEdit, name: str, value: np.ndarray) -> str:
    """`name` when the constant already is 1-D, else a new 1-D initializer of its values."""
    return name if edit.const(name).ndim == 1 else edit.add_initializer(name + "_1d", value)


def _skip_fits(x_shape: tuple, skip_shape: tuple) -> bool:
    """Whether the kernel takes a skip of `skip_shape` with an input of `x_shape` (static shapes)."""
    if len(x_shape) not in (2, 3) or any(d is None for d in x_shape + skip_shape):
        return False
    k = len(skip_shape)
    return skip_shape == x_shape or (0 < k <= len(x_shape) and skip_shape == x_shape[len(x_shape) - k:]) or \
        skip_shape == (1,) + x_shape[1:]


def _operands(edit: GraphEdit, add: Node) -> tuple[str, str] | None:
    """(input, skip) of the residual Add: the input has the sum's full shape; None when unknown."""
    if len(add.inputs) != 2 or not all(add.inputs) or add.opset < 7:
        return None
    a, b = add.inputs
    sa, sb = (edit.graph.value(v).shape for v in (a, b))
    if sa is None or sb is None or edit.dtype(a) != _F32 or edit.dtype(b) != _F32:
        return None
    sa, sb = tuple(sa), tuple(sb)
    if _skip_fits(sa, sb):
        return a, b
    if _skip_fits(sb, sa):
        return b, a
    return None


def _bias_add(edit: GraphEdit, value: str, add: Node, n: int) -> tuple[Node, str, str, np.ndarray] | None:
    """(bias Add, its other input, bias name, bias) when `value` is `Add(v, bias)` read only by `add`."""
    producer = edit.producer(value, "Add")
    if producer is None or producer.opset < 7 or edit.only_consumer(value) is not add:
        return None
    for v, c in (producer.inputs, producer.inputs[::-1]) if len(producer.inputs) == 2 else ():
        bias = _hidden_vector(edit, c, n)
        if bias is not None and v and edit.const(v) is None:
            shape = edit.graph.value(v).shape
            if shape is not None and tuple(shape) == tuple(edit.graph.value(value).shape or ()):
                return producer, v, c, bias
    return None


def fuse_skip_layer_norm(edit: GraphEdit) -> None:
    """Replace each Add [+ bias Add] + LayerNormalization match by one SkipLayerNormalization."""
    for ln in edit.graph.nodes:
        if ln.op_type != "LayerNormalization" or ln.domain or ln.index in edit.removed:
            continue
        if len([o for o in ln.outputs if o]) != 1 or not ln.outputs[0] or ln.attrs.get("stash_type", 1) != 1:
            continue
        add = edit.producer(ln.inputs[0], "Add")
        if add is None or add.index in edit.removed:
            continue
        found = _operands(edit, add)
        if found is None:
            continue
        x, skip = found
        shape = edit.graph.value(x).shape
        n = shape[-1]
        axis = ln.attrs.get("axis", -1)
        if not isinstance(n, int) or n <= 0 or axis not in (-1, len(shape) - 1):
            continue
        gamma = _hidden_vector(edit, ln.inputs[1], n)
        beta_name = ln.inputs[2] if len(ln.inputs) > 2 and ln.inputs[2] else ""
        beta = _hidden_vector(edit, beta_name, n) if beta_name else None
        if gamma is None or (beta_name and beta is None):
            continue
        chain = [add, ln]
        bias_name = ""
        for side in (skip, x) if skip != x else ():
            bias = _bias_add(edit, side, add, n)
            if bias is not None:
                producer, v, bias_name, value = bias
                chain.insert(0, producer)
                x, skip = (v, skip) if side == x else (x, v)
                bias_name = _as_vector_input(edit, bias_name, value)
                break
        total = add.outputs[0]
        keep_sum = not edit.closed([add, ln], ln.outputs[0])
        inputs = [x, skip, _as_vector_input(edit, ln.inputs[1], gamma),
                  _as_vector_input(edit, beta_name, beta) if beta_name else "", bias_name]
        while not inputs[-1]:
            inputs.pop()
        outputs = [ln.outputs[0]] + (["", "", total] if keep_sum else [])
        new = helper.make_node("SkipLayerNormalization", inputs, outputs, name=fused_name(chain),
                               domain="com.microsoft", epsilon=float(ln.attrs.get("epsilon", 1e-5)))
        added = [i for i in inputs if i in edit.new_initializers]
        if not edit.replace(chain, [new], {"com.microsoft": 1}):
            for name in added:
                del edit.new_initializers[name]
