"""The Reshape-by-its-own-shape rewrite (ep_runtime.rewrites.reshape): exporters' flatten patterns become a
Reshape by a constant with the same results for every input shape; pieces at other positions, shapes of
other tensors, shared shape values, allowzero and the BASIC level are left alone."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

import ep_runtime as ep
from tests.helpers.models import I64, F, const, make_model

LEVEL = ep.GraphOptimizationLevel
RNG = np.random.default_rng(20)


def session(model: onnx.ModelProto, level=LEVEL.ORT_ENABLE_ALL) -> ep.InferenceSession:
    so = ep.SessionOptions()
    so.graph_optimization_level = level
    return ep.InferenceSession(model.SerializeToString(), so, providers=["cpu"])


def ops(sess: ep.InferenceSession) -> Counter:
    return Counter(n.op_type for n in sess.get_graph().nodes)


def flatten_model(pieces: list[onnx.NodeProto], parts: list[str], inits=(), *, data="x", allowzero=0,
                  extra_outputs=(), rank=4, opset=17) -> onnx.ModelProto:
    """Reshape(data, Concat(parts)) after y = x * 2 (so that `y` is computed), with the shape pieces' nodes."""
    dims = ["n", 3, "h", 5][:rank]
    nodes = [helper.make_node("Mul", ["x", "two"], ["y"], name="double"), *pieces,
             helper.make_node("Concat", parts, ["target"], name="concat", axis=0),
             helper.make_node("Reshape", ["y" if data == "x" else data, "target"], ["out"], name="reshape",
                              **({"allowzero": 1} if allowzero else {}))]
    outputs = [("out", F, None)] + [(name, I64, None) for name in extra_outputs]
    return make_model(nodes, [("x", F, dims)], outputs, [const("two", np.float32(2)), *inits], opset=opset)


def paddle_flatten(**kw) -> onnx.ModelProto:
    """Reshape(y, Concat(Slice(Shape(y), 0, 1), [-1])), as Paddle's exporter writes flatten."""
    pieces = [helper.make_node("Shape", ["y"], ["s"], name="shape"),
              helper.make_node("Slice", ["s", "zero", "one", "zero"], ["lead"], name="slice")]
    inits = [const("zero", np.array([0], np.int64)), const("one", np.array([1], np.int64)),
             const("minus_one", np.array([-1], np.int64))]
    return flatten_model(pieces, ["lead", "minus_one"], inits, **kw)


def torch_flatten() -> onnx.ModelProto:
    """Reshape(y, Concat(Unsqueeze(Gather(Shape(y), 0)), Unsqueeze(Gather(Shape(y), 1)), [-1])), as
    PyTorch's exporter writes x.view(x.size(0), x.size(1), -1)."""
    pieces = [helper.make_node("Shape", ["y"], ["s"], name="shape"),
              helper.make_node("Gather", ["s", "i0"], ["d0"], name="gather0", axis=0),
              helper.make_node("Unsqueeze", ["d0", "axes"], ["u0"], name="unsqueeze0"),
              helper.make_node("Gather", ["s", "i1"], ["d1"], name="gather1", axis=0),
              helper.make_node("Unsqueeze", ["d1", "axes"], ["u1"], name="unsqueeze1")]
    inits = [const("i0", np.array(0, np.int64)), const("i1", np.array(1, np.int64)),
             const("axes", np.array([0], np.int64)), const("minus_one", np.array([-1], np.int64))]
    return flatten_model(pieces, ["u0", "u1", "minus_one"], inits)


def check_same_as_onnxruntime(model: onnx.ModelProto, expect_fused: bool) -> None:
    sess = session(model)
    counts = ops(sess)
    assert (counts["Shape"] == 0) == expect_fused, counts
    plain = session(model, LEVEL.ORT_DISABLE_ALL)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rank = len(model.graph.input[0].type.tensor_type.shape.dim)
    for dims in [(2, 3, 4, 5), (1, 3, 7, 5)]:
        x = RNG.standard_normal(dims[:rank]).astype(np.float32)
        want = ref.run(None, {"x": x})
        for got in (sess.run(None, {"x": x}), plain.run(None, {"x": x})):
            for g, w in zip(got, want):
                assert g.shape == w.shape
                np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("make", [paddle_flatten, torch_flatten], ids=["paddle-slice", "torch-gather"])
def test_exporters_flatten_becomes_a_reshape_by_a_constant_with_the_same_results(make):
    model = make()
    check_same_as_onnxruntime(model, expect_fused=True)
    counts = ops(session(model))
    assert counts["Reshape"] == 1 and not counts["Concat"] and not counts["Slice"] and not counts["Gather"]


def test_whole_shape_and_shape_start_end_pieces_keep_their_positions():
    # Concat(Shape(y, end=2), [-1]) and Concat(Shape(y, start=0, end=1), Shape(y, start=1, end=2), [-1])
    pieces = [helper.make_node("Shape", ["y"], ["s"], name="shape", end=2)]
    model = flatten_model(pieces, ["s", "minus_one"], [const("minus_one", np.array([-1], np.int64))], opset=17)
    check_same_as_onnxruntime(model, expect_fused=True)
    pieces = [helper.make_node("Shape", ["y"], ["a"], name="sa", end=1),
              helper.make_node("Shape", ["y"], ["b"], name="sb", start=1, end=2)]
    model = flatten_model(pieces, ["a", "b", "minus_one"], [const("minus_one", np.array([-1], np.int64))])
    check_same_as_onnxruntime(model, expect_fused=True)


def test_a_piece_away_from_its_position_is_left_alone():
    # Concat([-1], Slice(Shape(y), 0, 1)): dimension 0 lands at position 1
    pieces = [helper.make_node("Shape", ["y"], ["s"], name="shape"),
              helper.make_node("Slice", ["s", "zero", "one", "zero"], ["lead"], name="slice")]
    inits = [const("zero", np.array([0], np.int64)), const("one", np.array([1], np.int64)),
             const("minus_one", np.array([-1], np.int64))]
    check_same_as_onnxruntime(flatten_model(pieces, ["minus_one", "lead"], inits), expect_fused=False)


def test_the_shape_of_another_tensor_is_left_alone():
    pieces = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
              helper.make_node("Slice", ["s", "zero", "one", "zero"], ["lead"], name="slice")]
    inits = [const("zero", np.array([0], np.int64)), const("one", np.array([1], np.int64)),
             const("minus_one", np.array([-1], np.int64))]
    model = flatten_model(pieces, ["lead", "minus_one"], inits)
    assert ops(session(model))["Shape"] == 1


def test_a_shape_value_read_elsewhere_or_allowzero_is_left_alone():
    check_same_as_onnxruntime(paddle_flatten(extra_outputs=["lead"]), expect_fused=False)
    check_same_as_onnxruntime(paddle_flatten(allowzero=1), expect_fused=False)


def test_the_basic_level_keeps_the_shape_nodes():
    assert ops(session(paddle_flatten(), LEVEL.ORT_ENABLE_BASIC))["Shape"] == 1
