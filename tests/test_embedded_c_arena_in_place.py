"""The arena planner writes a copy (ep_identity: Reshape, Flatten, Squeeze, ...) in place when its input
dies at it: the output takes the input's block, and the copy becomes a no-op that still computes the
same outputs (in process and in the exported C folder)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime as ep
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.calls import Call
from providers.embedded_c.codegen import ALIGN, plan_arena
from providers.embedded_c.export import export_model, verify
from tests.embedded_c_helpers import ATOL, RTOL
from tests.test_embedded_c_csrc import SANITIZE

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _chain(copy_reads_on: bool) -> list[Call]:
    """x -> f -> a -> copy b -> copy c -> g -> y; with `copy_reads_on`, g also reads a."""
    return [Call("f", "f", [], inputs=["x"], outputs=["a"]),
            Call("ep_identity", "identity", [], inputs=["a"], outputs=["b"]),
            Call("ep_identity", "identity", [], inputs=["b"], outputs=["c"]),
            Call("g", "g", [], inputs=["c", "a"] if copy_reads_on else ["c"], outputs=["y"])]


def test_chain_of_copies_whose_inputs_die_shares_one_block():
    plan = plan_arena(_chain(False), {"a", "b", "c"}, {"a": 400, "b": 400, "c": 400})
    assert plan.offsets["a"] == plan.offsets["b"] == plan.offsets["c"]
    assert plan.size == _aligned(400) and plan.total_intermediate == 1200
    assert plan.lifetimes["a"] == (0, 1) and plan.lifetimes["c"] == (2, 3)


def test_copy_whose_input_is_read_later_gets_its_own_block():
    plan = plan_arena(_chain(True), {"a", "b", "c"}, {"a": 400, "b": 400, "c": 400})
    assert plan.offsets["a"] != plan.offsets["b"] and plan.offsets["b"] == plan.offsets["c"]
    assert plan.size == 2 * _aligned(400)


def test_copy_into_a_value_written_twice_is_not_placed_on_its_input():
    calls = [Call("f", "f", [], inputs=["x"], outputs=["a"]),
             Call("ep_identity", "identity", [], inputs=["a"], outputs=["b"]),
             Call("f", "f", [], inputs=["x"], outputs=["b"]), Call("g", "g", [], inputs=["b"], outputs=["y"])]
    plan = plan_arena(calls, {"a", "b"}, {"a": 400, "b": 400})
    assert plan.offsets["a"] != plan.offsets["b"]


def _relu_reshape_model() -> tuple:
    """Relu -> Reshape -> Flatten -> Mul: two copies whose inputs die at them."""
    mk = helper.make_node
    nodes = [mk("Relu", ["x"], ["r"]), mk("Reshape", ["r", "shape"], ["s"]), mk("Flatten", ["s"], ["f"], axis=1),
             mk("Mul", ["f", "f2"], ["y"])]
    inits = [numpy_helper.from_array(np.array([2, 3, 20], np.int64), "shape"),
             numpy_helper.from_array(np.full((2, 60), 0.5, np.float32), "f2")]
    g = helper.make_graph(nodes, "copies", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 10])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 60])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_in_place_copies_compute_the_same_outputs_in_process_and_exported(tmp_path):
    model = _relu_reshape_model()
    x = np.random.default_rng(0).standard_normal((2, 6, 10)).astype(np.float32)
    want = np.maximum(x, 0).reshape(2, 60) * 0.5
    sess = ep.InferenceSession(model.SerializeToString(), providers=["embedded_c"])
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=RTOL, atol=ATOL)
    res = export_model(model, tmp_path / "out")
    assert res.arena_bytes == _aligned(480)  # r, s and f in one block (r and s apart without the copies in place)
    _, _, got, ref = verify(model, res, extra_flags=SANITIZE)
    np.testing.assert_allclose(got[0], ref[0], rtol=RTOL, atol=ATOL)


def test_micro_speech_arena_holds_only_the_int8_convolution_input_and_output(tmp_path):
    pytest.importorskip("onnxruntime.quantization")
    from bench import tinyml

    model = tinyml.MODELS["micro_speech"]()
    assert "DequantizeLinear" not in {n.op_type for n in model.graph.node[:4]}  # the Reshape stays int8
    res = export_model(model, tmp_path / "out")
    # x_quantized (1x1x49x40) and the convolution's output (1x8x25x20), whose Reshape is written in place
    assert res.arena_bytes == _aligned(49 * 40) + _aligned(8 * 25 * 20)
