"""Whole models on the CUDA provider: the nine light models (every node claimed; outputs against
the CPU provider, on the shipped weights and on randomized ones so a wrong kernel cannot hide)
and a transformer encoder block. Runs on numpy standing in for CuPy everywhere, and on CuPy
where a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest

import ep_runtime as ep
from tests.cuda_support import CUDA, cuda
from tests.device_support import bench_models
from tests.helpers.devices import assert_all_on, check_randomized_weights, check_transformer_block, light_model_params

FIXTURES = (cuda,)  # the fixtures this module uses, imported from tests.cuda_support


#: the fast set covers every op of the nine (LRN through inception_v1); the big-weight ones are slow
FAST = ("inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet")
SLOW = ("alexnet", "densenet121", "vgg19", "zfnet512")


def _feed(path):
    import onnxruntime as ort

    inputs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()
    return bench_models.random_feed(inputs, np.random.default_rng(0))


def _light(name, entry):
    # The shipped weights are constants (ConstantOfShape): inception_v1's logits reach 8e20 and differ
    # only by rounding, so any other summation order (the CPU provider's native GEMM against numpy's)
    # reorders its softmax. On them every node must run on CUDA with finite outputs of the CPU's shapes;
    # the numbers are compared on randomized weights.
    path = bench_models.light_models()[name]
    feed = _feed(path)
    sess = ep.InferenceSession(path, providers=[entry, "cpu"])
    assert_all_on(sess, CUDA)
    want = ep.InferenceSession(path, providers=["cpu"]).run(None, feed)
    for got, ref in zip(sess.run(None, feed), want):
        assert got.shape == ref.shape and got.dtype == ref.dtype and np.isfinite(got).all()
    check_randomized_weights(path, feed, entry, CUDA, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", light_model_params(FAST, SLOW))
def test_light_model(cuda, name):
    _light(name, cuda)


def test_transformer_encoder_block_is_one_subgraph(cuda):
    check_transformer_block(cuda, CUDA, rtol=1e-4, atol=1e-5)
