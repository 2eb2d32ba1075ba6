"""CPU kernels of providers/cpu/matmul.py (Gemm, MatMul), compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1237)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("cshape", [None, (5,), (1, 5), (4, 1), (4, 5), ()])
def test_gemm_matches_onnxruntime(ta, tb, cshape):
    a = randn(3, 4) if ta else randn(4, 3)
    b = randn(5, 3) if tb else randn(3, 5)
    c = None if cshape is None else randn(*cshape)
    check("Gemm", [a, b, c], {"transA": ta, "transB": tb, "alpha": 0.5, "beta": 2.0}, opset=13)


def test_gemm_opset6_accepts_broadcast_attribute():
    a, b, c = randn(2, 3), randn(3, 4), randn(4)
    y = run_kernel("Gemm", [a, b, c], {"broadcast": 1, "beta": 0.5}, opset=6)[0]
    np.testing.assert_allclose(y, a @ b + 0.5 * c, rtol=1e-5)


def test_gemm_inner_dim_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="Gemm: cannot multiply shapes"):
        run_kernel("Gemm", [randn(2, 3), randn(4, 5)], opset=13)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                                   ((4,), (4, 3)), ((2, 3, 4), (4,)), ((4,), (4,))])
def test_matmul_matches_onnxruntime(sa, sb):
    check("MatMul", [randn(*sa), randn(*sb)], opset=13)


def test_matmul_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"MatMul: cannot multiply shapes \(2, 3\) and \(4, 5\)"):
        run_kernel("MatMul", [randn(2, 3), randn(4, 5)])
