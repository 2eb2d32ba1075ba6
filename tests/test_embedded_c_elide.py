"""A copy of an intermediate into a subgraph output is dropped and its producer writes the output
(providers/embedded_c/elide.py), per node and fused, with the same results; copies it must keep stay."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.elide import elide_output_copies
from providers.embedded_c.provider import call_shapes, claim
from tests.embedded_c_helpers import ATOL, RTOL, cpu_run, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")


def _model(tail: str, second_reader: bool = False):
    """x -> Sigmoid -> s -> `tail` (Identity or Reshape) -> y; with `second_reader`, s is also read by a Neg."""
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"])]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, (3, 20) if tail == "Reshape" else (3, 4, 5))]
    inits = []
    if tail == "Reshape":
        nodes.append(helper.make_node("Reshape", ["s", "shape"], ["y"]))
        inits.append(numpy_helper.from_array(np.int64([3, 20]), "shape"))
    else:
        nodes.append(helper.make_node(tail, ["s"], ["y"]))
    if second_reader:
        nodes.append(helper.make_node("Neg", ["s"], ["z"]))
        outs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, (3, 4, 5)))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (3, 4, 5))], outs,
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _elided(model) -> tuple[list, list]:
    model = onnx.shape_inference.infer_shapes(model)
    graph = Graph(model.graph, {"": 17})
    calls = [claim(n, graph) for n in graph.nodes]
    shapes = call_shapes(graph, calls)
    return elide_output_copies(calls, list(graph.nodes), graph, {o.name for o in graph.outputs}, shapes)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("tail,second_reader", [("Identity", False), ("Reshape", False), ("Identity", True)],
                         ids=["identity_dropped", "reshape_kept_other_shape", "identity_kept_second_reader"])
def test_copy_into_an_output_matches_cpu(tail, second_reader, fused):
    model = _model(tail, second_reader)
    x = np.random.default_rng(9).standard_normal((3, 4, 5)).astype(np.float32)
    x.flat[3] = np.nan
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})
    for g, w in zip(got, cpu_run(model, {"x": x})):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_only_the_plain_copy_into_an_output_is_dropped():
    calls, _ = _elided(_model("Identity"))
    assert [c.func for c in calls] == ["ep_sigmoid"] and calls[0].outputs == ["y"]
    assert ("t", "y") in calls[0].args and ("t", "s") not in calls[0].args
    for model in (_model("Reshape"), _model("Identity", second_reader=True)):
        calls, _ = _elided(model)
        assert "ep_identity" in [c.func for c in calls]
