"""Whole models on the CUDA provider: the nine light models (every node claimed; outputs against
the CPU provider, on the shipped weights and on randomized ones so a wrong kernel cannot hide)
and a transformer encoder block. Runs on numpy standing in for CuPy everywhere, and on CuPy
where a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest

import ep_runtime as ep
from tests.cuda_support import assert_all_on_cuda, cuda, run_and_compare
from tests.device_support import bench_models, transformer_block

FIXTURES = (cuda,)  # the fixtures this module uses, imported from tests.cuda_support


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


def test_transformer_encoder_block_is_one_subgraph(cuda):
    model = transformer_block()
    x = np.random.default_rng(1).standard_normal((2, 7, 32)).astype(np.float32)
    sess = run_and_compare(model, {"x": x}, cuda, rtol=1e-4, atol=1e-5)
    assert len(sess.get_partition().subgraphs) == 1
