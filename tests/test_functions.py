"""Model-local ONNX functions: inlined at load, with attribute references and nested calls."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

import ep_runtime as ep
from tests.helpers.models import F


def model_with_functions() -> onnx.ModelProto:
    # scaled_relu(x; alpha) = Relu(x) * alpha, with alpha an attribute reference
    constant_alpha = helper.make_node("Constant", [], ["a"])
    constant_alpha.attribute.append(onnx.AttributeProto(name="value_float", ref_attr_name="alpha",
                                                        type=onnx.AttributeProto.FLOAT))
    scaled_relu = helper.make_function(
        "local", "ScaledRelu", ["x"], ["y"],
        [constant_alpha,
         helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Mul", ["r", "a"], ["y"])],
        [helper.make_opsetid("", 17)], attributes=["alpha"],
    )
    # twice(x) = ScaledRelu(ScaledRelu(x; alpha=2); alpha=3): a function calling a function
    twice = helper.make_function(
        "local", "Twice", ["x"], ["y"],
        [helper.make_node("ScaledRelu", ["x"], ["t"], domain="local", alpha=2.0),
         helper.make_node("ScaledRelu", ["t"], ["y"], domain="local", alpha=3.0)],
        [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
    )
    graph = helper.make_graph(
        [helper.make_node("Twice", ["x"], ["y"], domain="local", name="call")], "g",
        [helper.make_tensor_value_info("x", F, [4])], [helper.make_tensor_value_info("y", F, [4])],
    )
    return helper.make_model(graph, functions=[scaled_relu, twice],
                             opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])


def test_local_functions_run_with_their_attribute_values():
    sess = ep.InferenceSession(model_with_functions(), providers=["cpu"])
    x = np.array([-1.0, 0.5, 2.0, -3.0], np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], np.maximum(x, 0) * 6.0)


def test_functions_are_inlined_into_primitive_nodes_before_partitioning():
    part = ep.InferenceSession(model_with_functions(), providers=["cpu"]).get_partition()
    assert {d.node.domain for d in part.decisions} == {""}
    assert sorted(d.node.op_type for d in part.decisions) == ["Mul", "Mul", "Relu", "Relu"]
