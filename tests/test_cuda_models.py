"""Whole models on the CUDA provider: the nine light models (every node claimed; outputs against
the CPU provider, on the shipped weights and on randomized ones so a wrong kernel cannot hide)
and a transformer encoder block. Runs on numpy standing in for CuPy everywhere, and on CuPy
where a GPU is present."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import ep_runtime as ep
from tests.cuda_support import assert_all_on_cuda, cuda, run_and_compare

FIXTURES = (cuda,)  # the fixtures this module uses, imported from tests.cuda_support

_spec = importlib.util.spec_from_file_location(
    "bench_models", pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_models.py")
bench_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_models)

#: the fast set covers every op of the nine (LRN through inception_v1); the big-weight ones are slow
FAST = ("inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet")
SLOW = ("alexnet", "densenet121", "vgg19", "zfnet512")


def _feed(path):
    import onnxruntime as ort

    inputs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()
    return bench_models.random_feed(inputs, np.random.default_rng(0))


def _light(name, entry):
    path = bench_models.light_models()[name]
    feed = _feed(path)
    run_and_compare(path, feed, entry, rtol=1e-4, atol=1e-5)
    # the shipped weights give flat outputs: randomized ones cannot hide a wrong kernel; outputs
    # are compared relative to their scale
    data = bench_models.randomized_variant(path, 0)
    sess = ep.InferenceSession(data, providers=[entry, "cpu"])
    assert_all_on_cuda(sess)
    got = sess.run(None, feed)
    want = ep.InferenceSession(data, providers=["cpu"]).run(None, feed)
    for g, w in zip(got, want):
        scale = float(np.max(np.abs(w))) or 1.0
        np.testing.assert_allclose(g / scale, w / scale, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", FAST)
def test_light_model(cuda, name):
    _light(name, cuda)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_light_model_slow(cuda, name):
    _light(name, cuda)


def transformer_block(d=32, heads=4, ffn=64, seed=0):
    """One post-norm encoder block: attention from MatMul/Reshape/Transpose/Softmax, residuals,
    LayerNormalization, a Gelu feed-forward."""
    from onnx import helper

    from tests.conftest import F, const, make_model

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
        nodes += [n("MatMul", ["x", f"w{h}"], [f"{h}0"]), n("Add", [f"{h}0", f"b{h}"], [f"{h}1"]),
                  n("Reshape", [f"{h}1", "split_heads"], [f"{h}2"])]
    nodes += [
        n("Transpose", ["q2"], ["q"], perm=[0, 2, 1, 3]), n("Transpose", ["k2"], ["kt"], perm=[0, 2, 3, 1]),
        n("Transpose", ["v2"], ["v"], perm=[0, 2, 1, 3]), n("MatMul", ["q", "kt"], ["s0"]),
        n("Mul", ["s0", "scale"], ["s1"]), n("Softmax", ["s1"], ["p"], axis=-1), n("MatMul", ["p", "v"], ["c0"]),
        n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3]), n("Reshape", ["c1", "merge_heads"], ["c2"]),
        n("MatMul", ["c2", "wo"], ["o0"]), n("Add", ["o0", "bo"], ["o1"]), n("Add", ["o1", "x"], ["r1"]),
        n("LayerNormalization", ["r1", "g1", "be1"], ["h1"], axis=-1, epsilon=1e-5),
        n("MatMul", ["h1", "w1"], ["f0"]), n("Add", ["f0", "b1"], ["f1"]), n("Gelu", ["f1"], ["f2"]),
        n("MatMul", ["f2", "w2"], ["f3"]), n("Add", ["f3", "b2"], ["f4"]), n("Add", ["f4", "h1"], ["r2"]),
        n("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1, epsilon=1e-5),
    ]
    return make_model(nodes, [("x", F, ["B", "S", d])], [("y", F, ["B", "S", d])], inits, opset=20)


def test_transformer_encoder_block_is_one_subgraph(cuda):
    model = transformer_block()
    x = np.random.default_rng(1).standard_normal((2, 7, 32)).astype(np.float32)
    sess = run_and_compare(model, {"x": x}, cuda, rtol=1e-4, atol=1e-5)
    assert len(sess.get_partition().subgraphs) == 1
