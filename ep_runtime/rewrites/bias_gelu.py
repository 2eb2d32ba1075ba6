"""Bias Add + GELU -> com.microsoft BiasGelu (EXTENDED level), as onnxruntime's BiasGeluFusion.

`Gelu(Add(x, bias))` — the erf GELU that the activation rewrites write (com.microsoft Gelu, or Gelu of
opset 20 with approximate "none") — with a float32 x whose last axis is statically n and a constant
float32 bias of n values (a Linear layer's bias, leading axes of size 1), the Add read only by the GELU,
becomes one BiasGelu(x, bias): the bias is added inside the activation's pass.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..graph import Node
from .editor import GraphEdit, fused_name

_MS = "com.microsoft"


def _is_erf_gelu(node: Node) -> bool:
    if node.op_type != "Gelu" or len(node.inputs) != 1:
        return False
    if node.domain == _MS:
        return True
    return not node.domain and node.attrs.get("approximate", "none") == "none"


def fuse_bias_gelu(edit: GraphEdit) -> None:
    """Replace each bias Add + erf GELU pair by one com.microsoft BiasGelu."""
    for gelu in edit.graph.nodes:
        if not _is_erf_gelu(gelu) or gelu.index in edit.removed:
            continue
        add = edit.producer(gelu.inputs[0], "Add")
        if add is None or add.opset < 7 or len(add.inputs) != 2 or edit.consumers(add.outputs[0]) != [gelu]:
            continue
        for x, b in (add.inputs, add.inputs[::-1]):
            bias = edit.const(b)
            shape = edit.graph.value(x).shape
            if bias is None or edit.const(x) is not None or shape is None or not shape or edit.dtype(x) != np.float32:
                continue
            n = shape[-1]
            if not isinstance(n, int) or bias.dtype != np.float32 or bias.size != n or bias.ndim < 1 \
                    or bias.shape[-1] != n or bias.ndim > len(shape):
                continue
            chain = [add, gelu]
            if not edit.closed(chain, gelu.outputs[0]):
                break
            name = b if bias.ndim == 1 else edit.add_initializer(b + "_1d", bias.reshape(n))
            new = helper.make_node("BiasGelu", [x, name], [gelu.outputs[0]], name=fused_name(chain), domain=_MS)
            if not edit.replace(chain, [new], {_MS: 1}) and name != b:
                del edit.new_initializers[name]
            break
