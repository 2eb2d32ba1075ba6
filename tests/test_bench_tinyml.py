"""The TensorFlow Lite Micro example models of bench/tinyml.py: int8 after onnxruntime's quantize_static,
every node claimed by embedded_c, the same outputs as onnxruntime. No timing, no footprint assertion."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import ep_runtime as ep
from bench import tinyml

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxruntime.quantization")


@pytest.mark.parametrize("name", sorted(tinyml.MODELS))
def test_tinyml_model_is_int8_runs_wholly_on_embedded_c_and_matches_onnxruntime(name):
    model = tinyml.MODELS[name]()
    ops = {n.op_type for n in model.graph.node}
    assert {"QLinearConv", "QLinearMatMul", "QuantizeLinear"} <= ops
    onnx.checker.check_model(model)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    sess = ep.InferenceSession(model.SerializeToString(), providers=["embedded_c"])
    got = sess.run(None, {"x": x})[0]
    assert sess.get_providers() == ["EmbeddedCExecutionProvider"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tinyml_models_follow_the_published_architectures():
    speech = tinyml.micro_speech_model()
    conv = next(n for n in speech.graph.node if n.op_type == "Conv")
    weights = {i.name: list(i.dims) for i in speech.graph.initializer}
    assert weights[conv.input[1]] == [8, 1, 10, 8] and weights["fc"] == [4000, 4]
    person = tinyml.person_detection_model()
    assert [d.dim_value for d in person.graph.input[0].type.tensor_type.shape.dim] == [1, 1, 96, 96]
    assert sum(n.op_type == "Conv" and any(a.name == "group" for a in n.attribute) for n in person.graph.node) == 13
