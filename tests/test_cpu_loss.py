"""CPU kernels of providers/cpu/loss.py (SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss), compared with
onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1244)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 1, -5])
def test_softmax_cross_entropy_matches_onnxruntime(reduction, weighted, ignore_index):
    x = randn(3, 4, 2, 5)
    t = rng.integers(0, 4, size=(3, 2, 5)).astype(np.int64)
    if ignore_index is not None:
        t[0, 0, :2] = ignore_index
    w = rng.random(4).astype(np.float32) if weighted else None
    attrs = {"reduction": reduction} | ({} if ignore_index is None else {"ignore_index": ignore_index})
    check("SoftmaxCrossEntropyLoss", [x, t, w], attrs, opset=13, n_outputs=2)


def test_nll_loss_mean_divides_by_the_weights_of_kept_targets():
    x = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], np.float32))
    t = np.array([0, 1, 2], np.int64)
    w = np.array([1.0, 2.0, 4.0], np.float32)
    (got,) = run_kernel("NegativeLogLikelihoodLoss", [x, t, w], {"ignore_index": 2}, opset=22)
    want = -(x[0, 0] * 1 + x[1, 1] * 2) / 3
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_nll_loss_rejects_an_out_of_range_target():
    with pytest.raises(ValueError, match="target values"):
        run_kernel("NegativeLogLikelihoodLoss", [randn(2, 3), np.array([0, 3], np.int64)], opset=22)
