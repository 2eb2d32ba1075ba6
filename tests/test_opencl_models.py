"""Whole models on OpenCL: the nine light models (every node claimed; outputs against the CPU
provider and onnxruntime, on the shipped weights and on randomized ones), a transformer encoder
block built from primitives, and an LSTM model whose LSTM falls back to the CPU with its reason."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime as ep
from bench import bench_models
from tests.helpers.devices import check_randomized_weights, check_transformer_block, light_model_params
from tests.helpers.models import F, const, make_model
from tests.opencl_support import (
    OPENCL,
    needs_opencl,
    opencl_fixture,  # noqa: F401  (the `opencl` fixture: one per device)
    run_and_compare,
)

pytestmark = needs_opencl


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
    check_randomized_weights(path, feed, opencl_entry, OPENCL, rtol=1e-3, atol=1e-4, reference=lambda data, f:
                             ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, f))


@pytest.mark.parametrize("name", light_model_params(FAST, SLOW))
def test_light_model(opencl, name):
    _light(name, opencl)


def test_transformer_encoder_block(opencl):
    sess, model, feed = check_transformer_block(opencl, OPENCL, rtol=1e-3, atol=1e-4)
    import onnxruntime as ort

    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)
    np.testing.assert_allclose(sess.run(None, feed)[0], want[0], rtol=1e-3, atol=1e-4)


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
