"""CPU kernels of providers/cpu/normalization.py (BatchNormalization, InstanceNormalization, LRN,
LayerNormalization, GroupNormalization, RMSNormalization, LpNormalization), compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1238)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def test_batch_normalization_inference_matches_onnxruntime():
    x = randn(2, 3, 4, 5)
    params = [randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.1]
    check("BatchNormalization", [x] + params, {"epsilon": 1e-3}, opset=15)
    check("BatchNormalization", [x] + params, {"epsilon": 1e-3}, opset=9)


def test_batch_normalization_training_mode_matches_onnxruntime():
    x = randn(4, 3, 5)
    params = [randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.1]
    check("BatchNormalization", [x] + params, {"training_mode": 1, "momentum": 0.8}, opset=15, n_outputs=3)


def test_batch_normalization_opset6_is_test():
    x = randn(2, 3, 4)
    s, b, m, v = randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.1
    y = run_kernel("BatchNormalization", [x, s, b, m, v], {"is_test": 1, "epsilon": 1e-5}, opset=6)[0]
    want = (x - m[:, None]) / np.sqrt(v[:, None] + 1e-5) * s[:, None] + b[:, None]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_instance_normalization_matches_onnxruntime():
    check("InstanceNormalization", [randn(2, 3, 4, 5), randn(3), randn(3)], {"epsilon": 1e-4}, opset=6)


@pytest.mark.parametrize("size", [1, 3, 5])  # onnxruntime takes odd sizes only
def test_lrn_matches_onnxruntime(size):
    check("LRN", [randn(2, 7, 3, 3)], {"size": size, "alpha": 1e-3, "beta": 0.7, "bias": 2.0}, opset=13)


@pytest.mark.parametrize("axis", [-1, -2, 1])
def test_layer_normalization_matches_onnxruntime(axis):
    x = randn(2, 3, 4)
    shape = x.shape[axis:]
    check("LayerNormalization", [x, randn(*shape), randn(*shape)], {"axis": axis}, opset=17, n_outputs=3)


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_rms_normalization_by_hand(axis):
    x, scale = randn(2, 3, 4), randn(*(2, 3, 4)[axis:])
    (got,) = run_kernel("RMSNormalization", [x, scale], {"axis": axis, "epsilon": 1e-3}, opset=23)
    axes = tuple(range(axis % 3, 3))
    want = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=axes, keepdims=True) + 1e-3) * scale
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_rms_normalization_float16_computes_in_float32():
    x = (randn(2, 64) * 30).astype(np.float16)
    (got,) = run_kernel("RMSNormalization", [x, np.ones(64, np.float16)], opset=23)
    assert got.dtype == np.float16 and np.isfinite(got).all()


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [0, -1])
def test_lp_normalization_matches_onnxruntime(p, axis):
    check("LpNormalization", [randn(3, 4, 5)], {"p": p, "axis": axis}, opset=1)


def test_lp_normalization_of_a_zero_vector_is_zero():
    (got,) = run_kernel("LpNormalization", [np.zeros((2, 3), np.float32)], {"axis": 1}, opset=22)
    assert (got == 0).all()


def test_group_normalization_21_scales_per_channel():
    x, scale, bias = randn(2, 6, 3, 3), randn(6), randn(6)
    (got,) = run_kernel("GroupNormalization", [x, scale, bias], {"num_groups": 3}, opset=21)
    g = x.reshape(2, 3, -1)
    norm = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(got, norm * scale[:, None, None] + bias[:, None, None], rtol=1e-5, atol=1e-5)


def test_group_normalization_18_scales_per_group():
    x, scale, bias = randn(2, 6, 4), randn(3), randn(3)
    (got,) = run_kernel("GroupNormalization", [x, scale, bias], {"num_groups": 3, "epsilon": 1e-2}, opset=18)
    g = x.reshape(2, 3, -1)
    norm = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-2)
    np.testing.assert_allclose(got, (norm * scale[:, None] + bias[:, None]).reshape(x.shape), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        run_kernel("GroupNormalization", [x, randn(6), randn(6)], {"num_groups": 3}, opset=18)
