"""Whole models on OpenCL: the nine light models (every node claimed; outputs against the CPU
provider and onnxruntime, on the shipped weights and on randomized ones), a transformer encoder
block built from primitives, and an LSTM model whose LSTM falls back to the CPU with its reason."""

from __future__ import annotations

import collections
import importlib.util
import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime as ep
from tests.conftest import F, const, make_model
from tests.opencl_support import (
    needs_opencl,
    opencl_fixture,  # noqa: F401  (the `opencl` fixture: one per device)
    run_and_compare,
)

pytestmark = needs_opencl

_spec = importlib.util.spec_from_file_location(
    "bench_models", pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_models.py")
bench_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_models)

#: models that take more than a few seconds on PoCL (2 cores) are marked slow
FAST = ("squeezenet", "shufflenet")
SLOW = ("alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "vgg19", "zfnet512")


def _compare(data, opencl_entry, feed, rtol=1e-3, atol=1e-4):
    import onnxruntime as ort

    sess = ep.InferenceSession(data, providers=[opencl_entry, "cpu"])
    where = collections.Counter(sess.get_partition().assignment().values())
    assert set(where) == {"OpenCLExecutionProvider"}, sess.get_partition().explain()
    got = sess.run(None, feed)
    want_ort = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    want_cpu = ep.InferenceSession(data, providers=["cpu"]).run(None, feed)
    for g, o, c in zip(got, want_ort, want_cpu):
        np.testing.assert_allclose(g, o, rtol=rtol, atol=atol)
        np.testing.assert_allclose(g, c, rtol=rtol, atol=atol)
    return sess


def _light(name, opencl_entry):
    path = bench_models.light_models()[name]
    import onnxruntime as ort

    inputs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()
    feed = bench_models.random_feed(inputs, np.random.default_rng(0))
    _compare(path, opencl_entry, feed)
    # the shipped weights are constant (flat outputs): randomized ones cannot hide a wrong kernel;
    # outputs are compared relative to their scale
    data = bench_models.randomized_variant(path, 0)
    import onnxruntime as ort2

    want = ort2.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    got = ep.InferenceSession(data, providers=[opencl_entry, "cpu"]).run(None, feed)
    for g, w in zip(got, want):
        scale = float(np.max(np.abs(w))) or 1.0
        np.testing.assert_allclose(g / scale, w / scale, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", FAST)
def test_light_model(opencl, name):
    _light(name, opencl)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_light_model_slow(opencl, name):
    _light(name, opencl)


def transformer_block(d=32, heads=4, ffn=64, seed=0):
    """One post-norm encoder block: multi-head self-attention from MatMul/Reshape/Transpose/Softmax,
    residuals, LayerNormalization, a Gelu feed-forward."""
    rng = np.random.default_rng(seed)
    dh = d // heads

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)

    inits = [const("wq", w(d, d)), const("wk", w(d, d)), const("wv", w(d, d)), const("wo", w(d, d)),
             const("bq", w(d)), const("bk", w(d)), const("bv", w(d)), const("bo", w(d)),
             const("w1", w(d, ffn)), const("b1", w(ffn)), const("w2", w(ffn, d)), const("b2", w(d)),
             const("g1", 1 + 0.1 * w(d)), const("be1", w(d)), const("g2", 1 + 0.1 * w(d)), const("be2", w(d)),
             const("split_heads", np.array([0, 0, heads, dh], np.int64)),
             const("merge_heads", np.array([0, 0, d], np.int64)),
             const("scale", np.array(1 / np.sqrt(dh), np.float32))]
    n = helper.make_node
    nodes = []
    for h in "qkv":
        nodes += [n("MatMul", ["x", f"w{h}"], [f"{h}0"], name=f"proj_{h}"),
                  n("Add", [f"{h}0", f"b{h}"], [f"{h}1"], name=f"bias_{h}"),
                  n("Reshape", [f"{h}1", "split_heads"], [f"{h}2"], name=f"split_{h}")]
    nodes += [
        n("Transpose", ["q2"], ["q"], perm=[0, 2, 1, 3], name="q_heads"),
        n("Transpose", ["k2"], ["kt"], perm=[0, 2, 3, 1], name="k_heads_t"),
        n("Transpose", ["v2"], ["v"], perm=[0, 2, 1, 3], name="v_heads"),
        n("MatMul", ["q", "kt"], ["s0"], name="scores"),
        n("Mul", ["s0", "scale"], ["s1"], name="scale_scores"),
        n("Softmax", ["s1"], ["p"], axis=-1, name="attention"),
        n("MatMul", ["p", "v"], ["c0"], name="context"),
        n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3], name="merge_t"),
        n("Reshape", ["c1", "merge_heads"], ["c2"], name="merge"),
        n("MatMul", ["c2", "wo"], ["o0"], name="out_proj"),
        n("Add", ["o0", "bo"], ["o1"], name="out_bias"),
        n("Add", ["o1", "x"], ["r1"], name="residual1"),
        n("LayerNormalization", ["r1", "g1", "be1"], ["h1"], axis=-1, epsilon=1e-5, name="norm1"),
        n("MatMul", ["h1", "w1"], ["f0"], name="ffn1"),
        n("Add", ["f0", "b1"], ["f1"], name="ffn1_bias"),
        n("Gelu", ["f1"], ["f2"], name="gelu"),
        n("MatMul", ["f2", "w2"], ["f3"], name="ffn2"),
        n("Add", ["f3", "b2"], ["f4"], name="ffn2_bias"),
        n("Add", ["f4", "h1"], ["r2"], name="residual2"),
        n("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1, epsilon=1e-5, name="norm2"),
    ]
    return make_model(nodes, [("x", F, ["B", "S", d])], [("y", F, ["B", "S", d])], inits, opset=20)


def test_transformer_encoder_block(opencl):
    model = transformer_block()
    x = np.random.default_rng(1).standard_normal((2, 7, 32)).astype(np.float32)
    sess = run_and_compare(model, {"x": x}, opencl, rtol=1e-3, atol=1e-4)
    assert len(sess.get_partition().subgraphs) == 1
    import onnxruntime as ort

    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want[0], rtol=1e-3, atol=1e-4)


def lstm_model(seq=5, batch=3, inp=6, hidden=8, seed=0):
    """Linear -> LSTM -> Squeeze -> MatMul -> Relu: the LSTM has no OpenCL kernel."""
    rng = np.random.default_rng(seed)
    n = helper.make_node
    inits = [
        const("w_in", rng.standard_normal((inp, inp)).astype(np.float32) * 0.5),
        const("W", rng.standard_normal((1, 4 * hidden, inp)).astype(np.float32) * 0.3),
        const("R", rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.3),
        const("B", rng.standard_normal((1, 8 * hidden)).astype(np.float32) * 0.1),
        const("axes", np.array([1], np.int64)),
        const("w_out", rng.standard_normal((hidden, 4)).astype(np.float32)),
    ]
    nodes = [
        n("MatMul", ["x", "w_in"], ["xi"], name="embed"),
        n("Tanh", ["xi"], ["xt"], name="embed_act"),
        n("LSTM", ["xt", "W", "R", "B"], ["ys", "yh"], hidden_size=hidden, name="lstm"),
        n("Squeeze", ["ys", "axes"], ["ys2"], name="drop_dir"),
        n("MatMul", ["ys2", "w_out"], ["o"], name="head"),
        n("Relu", ["o"], ["y"], name="head_act"),
    ]
    return make_model(nodes, [("x", F, [seq, batch, inp])], [("y", F, None), ("yh", F, None)], inits)


def test_lstm_falls_back_to_cpu_with_its_reason(opencl):
    model = lstm_model()
    x = np.random.default_rng(2).standard_normal((5, 3, 6)).astype(np.float32)
    sess = run_and_compare(model, {"x": x}, opencl, rtol=1e-4, atol=1e-5, all_on_opencl=False)
    part = sess.get_partition()
    where = part.assignment()
    assert where.pop("lstm") == "CPUExecutionProvider"
    assert set(where.values()) == {"OpenCLExecutionProvider"}
    lstm = next(d for d in part.to_dict()["nodes"] if d["node"] == "lstm")
    assert lstm["refusals"]["OpenCLExecutionProvider"] == {"kind": "op", "reason": "no kernel for ai.onnx::LSTM"}
    assert "no kernel for ai.onnx::LSTM" in part.explain()


def test_model_output_that_is_a_view_of_an_input_shaped_value(opencl):
    """Reshape outputs are views on the device: returning one as a graph output still copies it out."""
    model = make_model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "s"], ["y"])],
                       [("x", F, [2, 6])], [("y", F, [3, 4]), ("r", F, [2, 6])],
                       [numpy_helper.from_array(np.array([3, 4], np.int64), "s")])
    x = np.random.default_rng(3).standard_normal((2, 6)).astype(np.float32)
    run_and_compare(model, {"x": x}, opencl)


del onnx, TensorProto
