"""Shape specialisation on the embedded C provider: nodes of symbolic shapes (a batch `N`, a sequence
length) are claimed, compiled at the first run for the shapes of their inputs (per node and fused),
cached per signature (bounded), and match the cpu provider; shapes that do not fit are a clear error.
Per-node mode allocates nothing per run but the outputs it hands back."""

from __future__ import annotations

import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession
from ep_runtime.errors import KernelError
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c import provider as provider_module
from tests.embedded_c_helpers import ATOL, RTOL, cpu_run, lenet_model, strict_session
from tests.test_embedded_c_lstm import lstm_classifier
from tests.test_embedded_c_models import DATA

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")
FUSED = pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])


def with_symbolic_dim(model: onnx.ModelProto, axis: int, name: str) -> onnx.ModelProto:
    """`model` with dim `axis` of every graph input and output made symbolic, inferred shapes dropped."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name for t in m.graph.initializer}
    for vi in list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in inits and len(dims) > axis:
            dims[axis].dim_param = name
    del m.graph.value_info[:]
    return m


def feed_of(model: onnx.ModelProto, shape: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    return {model.graph.input[0].name: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


class CountCompiles:
    """Counts the specialisations the provider compiles (EmbeddedCExecutionProvider.compile_shapes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = EmbeddedCExecutionProvider.compile_shapes

        def counting(provider, *args, **kwargs):
            self.count += 1
            return original(provider, *args, **kwargs)

        monkeypatch.setattr(EmbeddedCExecutionProvider, "compile_shapes", counting)


@FUSED
def test_symbolic_batch_cnn_runs_entirely_in_c_for_each_batch_size(fused, monkeypatch):
    model = with_symbolic_dim(lenet_model(), 0, "N")
    compiles = CountCompiles(monkeypatch)
    sess = strict_session(model, fused=fused)  # every node claimed, no CPU fallback
    assert "shapes specialised at run time" in sess.get_partition().explain()
    for batch in (2, 5, 2):
        feed = feed_of(model, (batch, 1, 28, 28), seed=batch)
        got = sess.run(None, feed)
        assert got[0].shape == (batch, 10)
        np.testing.assert_allclose(got[0], cpu_run(model, feed)[0], rtol=RTOL, atol=ATOL)
    assert compiles.count == 2  # batch 2 again is served by its first compilation


@FUSED
def test_lstm_with_symbolic_sequence_length_matches_cpu_provider(fused):
    model = with_symbolic_dim(lstm_classifier(), 0, "T")
    sess = strict_session(model, fused=fused)
    for seq in (3, 11):
        feed = feed_of(model, (seq, 2, 10), seed=seq)
        np.testing.assert_allclose(sess.run(None, feed)[0], cpu_run(model, feed)[0], rtol=RTOL, atol=ATOL)


@FUSED
def test_light_squeezenet_with_symbolic_batch_runs_in_c_and_matches_cpu_provider(fused):
    model = with_symbolic_dim(onnx.load(f"{DATA}/light_squeezenet.onnx"), 0, "N")
    sess = InferenceSession(model, providers=[("embedded_c", {"fused": fused}), "cpu"])
    part = sess.get_partition()
    assert len(part.nodes_on("EmbeddedCExecutionProvider")) == len(sess.get_graph().nodes), part.explain()
    inp = next(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
    for batch in (1, 2):
        feed = {inp: np.random.default_rng(batch).random((batch, 3, 224, 224), dtype=np.float32)}
        got, want = sess.run(None, feed), cpu_run(model, feed)
        assert got[0].shape == (batch, 1000, 1, 1)
        np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=2e-3)  # ill-conditioned softmax


def test_specialisations_are_bounded_least_recently_used_first(monkeypatch):
    monkeypatch.setattr(provider_module, "MAX_SPECIALISATIONS", 2)
    model = with_symbolic_dim(lenet_model(), 0, "N")
    compiles = CountCompiles(monkeypatch)
    sess = strict_session(model)
    for batch in (1, 2, 1, 3, 1, 2):  # 2 is dropped when 3 comes (1 was used more recently)
        sess.run(None, feed_of(model, (batch, 1, 28, 28)))
    assert compiles.count == 4


def symbolic_add_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Add", ["x", "y"], ["s"], name="add"), helper.make_node("Relu", ["s"], ["r"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3]),
                                       helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", 3])],
                          [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@FUSED
def test_input_shapes_that_do_not_fit_together_are_an_error_naming_the_node(fused):
    sess = strict_session(symbolic_add_model(), fused=fused)
    ones = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(sess.run(None, {"x": ones, "y": ones[:1]})[0], 2 * ones)
    with pytest.raises(KernelError, match=r"'add'.*EmbeddedCExecutionProvider.*do not broadcast"):
        sess.run(None, {"x": ones[:2], "y": ones})


def test_symbolic_node_that_cannot_fit_any_batch_is_refused_with_the_trial_dims():
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    node = helper.make_node("Gemm", ["x", "w"], ["y"], transA=1)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    text = InferenceSession(model, providers=["embedded_c", "cpu"]).get_partition().explain()
    assert "inner dimension" in text and "symbolic dims tried as" in text, text


def test_per_node_outputs_are_fresh_arrays_the_next_run_does_not_overwrite():
    model = lenet_model()
    sess = strict_session(model)
    first_feed, second_feed = feed_of(model, (2, 1, 28, 28), 1), feed_of(model, (2, 1, 28, 28), 2)
    first = sess.run(None, first_feed)[0]
    kept = first.copy()
    second = sess.run(None, second_feed)[0]
    np.testing.assert_array_equal(first, kept)
    assert not np.array_equal(first, second)
    np.testing.assert_allclose(second, cpu_run(model, second_feed)[0], rtol=RTOL, atol=ATOL)


def test_per_node_run_allocates_no_intermediate_or_scratch_buffers():
    model = lenet_model()
    sess = strict_session(model)
    feed = feed_of(model, (2, 1, 28, 28))
    sess.run(None, feed)
    tracemalloc.start()
    try:
        sess.run(None, feed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the first Conv's output alone is 2 * 6 * 28 * 28 floats, its im2col scratch 25 times that
    assert peak < 2 * 6 * 28 * 28 * 4, peak


# ---------------------------------------------------------------- shape computations folded (shape_values.py)

def _i64(name: str, *values: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def flatten_by_shape_model(extra_output: bool = False) -> onnx.ModelProto:
    """x [N, 2, 4, 4] -> Conv(3) -> Reshape to Concat(Shape(x)[0:1], [-1]) -> Gemm(5): the reshape target is
    computed from the batch dim, as exporters write `x.view(x.size(0), -1)`."""
    rng = np.random.default_rng(3)
    mk = helper.make_node
    nodes = [mk("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             mk("Shape", ["c"], ["s"]),
             mk("Gather", ["s", "zero"], ["n"], axis=0),
             mk("Unsqueeze", ["n", "axes0"], ["n1"]),
             mk("Concat", ["n1", "minus1"], ["target"], axis=0),
             mk("Reshape", ["c", "target"], ["flat"]),
             mk("Gemm", ["flat", "wg", "bg"], ["y"], transB=1)]
    inits = [numpy_helper.from_array((rng.standard_normal((3, 2, 3, 3)) * 0.3).astype(np.float32), "w"),
             numpy_helper.from_array((rng.standard_normal(3) * 0.1).astype(np.float32), "b"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"), _i64("axes0", 0), _i64("minus1", -1),
             numpy_helper.from_array((rng.standard_normal((5, 48)) * 0.2).astype(np.float32), "wg"),
             numpy_helper.from_array((rng.standard_normal(5) * 0.1).astype(np.float32), "bg")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])]
    if extra_output:
        outputs.append(helper.make_tensor_value_info("target", TensorProto.INT64, [2]))
    g = helper.make_graph(nodes, "flatten_by_shape",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])], outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@FUSED
def test_shape_chain_feeding_a_reshape_is_folded_and_the_model_runs_whole_in_c(fused, monkeypatch):
    model = flatten_by_shape_model()
    counter = CountCompiles(monkeypatch)
    sess = strict_session(model, fused=fused)
    assert len(sess.get_partition().nodes_on("EmbeddedCExecutionProvider")) == len(model.graph.node)
    for batch in (1, 3, 1):
        feed = feed_of(model, (batch, 2, 4, 4), batch)
        np.testing.assert_allclose(sess.run(None, feed)[0], cpu_run(model, feed)[0], rtol=RTOL, atol=ATOL)
    assert counter.count == 2  # one specialisation per batch size, the first reused


@FUSED
def test_folded_value_that_is_a_graph_output_is_returned(fused):
    model = flatten_by_shape_model(extra_output=True)
    sess = strict_session(model, fused=fused)
    y, target = sess.run(None, feed_of(model, (2, 2, 4, 4)))
    assert target.dtype == np.int64 and target.tolist() == [2, -1]
    assert y.shape == (2, 5)


@FUSED
def test_constant_of_shape_initial_state_is_folded_into_a_constant(fused):
    """LSTM initial_h = ConstantOfShape([1, Shape(x)[1], 16]): a zero state sized by the batch."""
    base = lstm_classifier()
    mk = helper.make_node
    nodes = [mk("Shape", ["x"], ["s"]), mk("Gather", ["s", "one"], ["b"], axis=0),
             mk("Unsqueeze", ["b", "axes0"], ["b1"]), mk("Concat", ["dirs", "b1", "hidden"], ["hshape"], axis=0),
             mk("ConstantOfShape", ["hshape"], ["h0"],
                value=numpy_helper.from_array(np.array([0.0], np.float32), "v")),
             mk("LSTM", ["x", "W", "R", "B", "", "h0"], ["", "h"], hidden_size=16), *list(base.graph.node)[1:]]
    inits = list(base.graph.initializer) + [numpy_helper.from_array(np.array(1, np.int64), "one"),
                                           _i64("axes0", 0), _i64("dirs", 1), _i64("hidden", 16)]
    g = helper.make_graph(nodes, "lstm_state_by_shape",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, "N", 10])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    sess = strict_session(model, fused=fused)
    for batch in (2, 3):
        feed = feed_of(model, (8, batch, 10), batch)
        np.testing.assert_allclose(sess.run(None, feed)[0], cpu_run(model, feed)[0], rtol=RTOL, atol=ATOL)


def test_folded_shape_from_another_subgraph_is_part_of_the_signature(monkeypatch):
    """Relu -> Shape chain (C) | Hardmax (cpu) | Reshape to the chain's shape (C): the Reshape's subgraph
    receives the shape as a value, and is specialised per value."""
    mk = helper.make_node
    nodes = [mk("Relu", ["x"], ["r"]), mk("Shape", ["r"], ["s"]),
             mk("Slice", ["s", "start", "stop"], ["head"]), mk("Concat", ["head", "minus1"], ["target"], axis=0),
             mk("Hardmax", ["r"], ["h"], axis=-1), mk("Reshape", ["h", "target"], ["y"])]
    inits = [_i64("start", 0), _i64("stop", 1), _i64("minus1", -1)]
    g = helper.make_graph(nodes, "shape_across_subgraphs",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 12])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    counter = CountCompiles(monkeypatch)
    sess = InferenceSession(model, providers=[("embedded_c", {"fused": True}), "cpu"])
    part = sess.get_partition()
    assert len(part.nodes_on("EmbeddedCExecutionProvider")) == 5, part.explain()
    assert len(part.subgraphs) == 3, part.explain()
    for batch in (2, 5, 2):
        feed = feed_of(model, (batch, 3, 4), batch)
        np.testing.assert_array_equal(sess.run(None, feed)[0], cpu_run(model, feed)[0])
    assert counter.count == 4  # the two C subgraphs, once for each batch size


def test_shape_chain_that_cannot_be_evaluated_is_refused_naming_the_reason():
    mk = helper.make_node
    nodes = [mk("Shape", ["x"], ["s"]), mk("Gather", ["s", "bad"], ["n"], axis=0),
             mk("Unsqueeze", ["n", "axes0"], ["n1"]), mk("Concat", ["n1", "minus1"], ["target"], axis=0),
             mk("Reshape", ["x", "target"], ["y"])]
    inits = [numpy_helper.from_array(np.array(7, np.int64), "bad"), _i64("axes0", 0), _i64("minus1", -1)]
    g = helper.make_graph(nodes, "bad_gather", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    part = InferenceSession(model, providers=["embedded_c", "cpu"]).get_partition()
    gather = next(d for d in part.decisions if d.node.op_type == "Gather")
    assert gather.provider != "EmbeddedCExecutionProvider"
    reason = str(gather.refusals["EmbeddedCExecutionProvider"])
    assert "Gather cannot be evaluated" in reason and "out of range" in reason, reason
