"""CPU kernels of providers/cpu/softmax.py (Softmax, LogSoftmax, Hardmax): onnxruntime's answers, precision far
from the maximum, NaN and infinite rows."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1239)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 0), (11, 2), (11, -1), (13, None), (13, 1), (13, -3)])
def test_softmax_family_matches_onnxruntime(op, opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(op, [randn(2, 3, 4) * 10], attrs, opset=opset)


def test_softmax_is_stable_for_large_logits():
    y = run_kernel("Softmax", [np.array([[1000.0, 1000.0, -1000.0]], np.float32)], opset=13)[0]
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0]])


def _softmax64(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.astype(np.float64).max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_rows_far_from_the_tensor_maximum_keep_their_precision():
    x = randn(6, 40) * 3
    x[1] -= 200  # exp(x - max) of this row underflows if shifted by the tensor's maximum
    x[2] += 90  # exp(x) overflows if not shifted at all
    x[3, 5] = -np.inf
    (y,) = run_kernel("Softmax", [x], {"axis": -1}, opset=13)
    want = _softmax64(x)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-30)
    for row in (x[:1], x[1:2], x[1:2] + 250, x[4:] * 20):
        (y,) = run_kernel("Softmax", [row], {"axis": -1}, opset=13)
        np.testing.assert_allclose(y, _softmax64(row), rtol=1e-5, atol=1e-30)


def test_softmax_of_nan_and_infinite_rows_is_nan_per_row():
    x = randn(3, 5)
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    with np.errstate(invalid="ignore"):
        (y,) = run_kernel("Softmax", [x], {"axis": -1}, opset=13)
    assert np.isnan(y[:2]).all() and np.isfinite(y[2]).all()
    np.testing.assert_allclose(y[2], _softmax64(x[2:])[0], rtol=1e-5)
