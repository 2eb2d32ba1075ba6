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
