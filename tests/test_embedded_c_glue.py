"""An island of only glue ops (Identity, Reshape, Equal, ...) between nodes another provider runs is left to
that provider: a fused C call would cost its subgraph crossing for almost no work (silero_vad's Equal before
and Identities after an If the embedded C provider refuses made it 1.1-1.2x slower than the cpu provider)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime as ep
from providers.embedded_c.provider import EmbeddedCExecutionProvider

pytestmark = pytest.mark.skipif(EmbeddedCExecutionProvider.unavailable_reason() is not None,
                                reason=str(EmbeddedCExecutionProvider.unavailable_reason()))
C = "EmbeddedCExecutionProvider"


def _model(nodes: list, out_shape: list[int]) -> bytes:
    graph = helper.make_graph(nodes, "glue", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(np.array([3, 2], np.int64), "shape")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _placed(model: bytes) -> tuple[dict[str, str], ep.InferenceSession]:
    sess = ep.InferenceSession(model, providers=[("embedded_c", {"fused": True}), "cpu"])
    part = sess.get_partition()
    return {d.node.name: d.provider for d in part.decisions}, sess


# Einsum has no C kernel: the cpu provider runs it
EINSUM = helper.make_node("Einsum", ["r"], ["e"], name="einsum", equation="ij->ji")


def test_glue_islands_around_a_refused_node_go_to_the_cpu_provider_and_give_the_same_values():
    model = _model([helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"), EINSUM,
                    helper.make_node("Identity", ["e"], ["y"], name="identity")], [2, 3])
    placed, sess = _placed(model)
    assert placed == {"reshape": "CPUExecutionProvider", "einsum": "CPUExecutionProvider",
                      "identity": "CPUExecutionProvider"}
    refusal = sess.get_partition().decisions[0].refusals[C]
    assert refusal.kind == "host" and "glue" in refusal.reason
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], x.reshape(3, 2).T)


def test_a_piece_with_real_work_keeps_its_glue_on_the_c_provider():
    model = _model([helper.make_node("Relu", ["x"], ["a"], name="relu"),
                    helper.make_node("Reshape", ["a", "shape"], ["r"], name="reshape"), EINSUM,
                    helper.make_node("Identity", ["e"], ["y"], name="identity")], [2, 3])
    placed, sess = _placed(model)
    assert placed["relu"] == placed["reshape"] == C
    assert placed["identity"] == "CPUExecutionProvider"
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.maximum(x, 0).reshape(3, 2).T)


def test_a_graph_of_only_glue_that_the_c_provider_takes_whole_stays_on_it():
    model = _model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")], [3, 2])
    placed, sess = _placed(model)
    assert placed == {"reshape": C}
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], x.reshape(3, 2))
