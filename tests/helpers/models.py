"""Small model builders the tests share."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def make_model(nodes, inputs, outputs, initializers=(), opset=17, **kwargs) -> onnx.ModelProto:
    """A model from nodes; inputs/outputs are (name, elem_type, shape) triples."""
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)


def const(name: str, array) -> onnx.TensorProto:
    """An initializer named `name` holding `array`."""
    return onnx.numpy_helper.from_array(np.asarray(array), name)
