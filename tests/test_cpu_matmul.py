"""CPU kernels of providers/cpu/matmul.py (Gemm, MatMul), compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from providers.cpu import matmul as reference
from providers.cpu.native import gemm as native_gemm
from providers.cpu.native import library
from tests.helpers.kernels import check, run_kernel
from tests.helpers.models import F, const, make_model

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


# ---- the native Gemm (providers/cpu/native/gemm.py): a constant B and few rows of A


def gemm_model(b, c, attrs, rows):
    """A one-Gemm model with B (and C) as initializers, and the shape of its input A."""
    n, k = b.shape if attrs.get("transB") else b.shape[::-1]
    a_shape = [k, rows] if attrs.get("transA") else [rows, k]
    inits = [const("B", b)] + ([] if c is None else [const("C", c)])
    node = helper.make_node("Gemm", ["A", "B"] + ([] if c is None else ["C"]), ["Y"], **attrs)
    return make_model([node], [("A", F, a_shape)], [("Y", F, None)], inits, opset=13), a_shape


@pytest.mark.skipif(library.LIB is None, reason="native kernels not built")
@pytest.mark.parametrize("rows", [2, 17, 48])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("cshape", [None, (70,), (1, 70)])
def test_gemm_with_a_constant_b_and_few_rows_runs_natively_and_matches_numpy(rows, trans_b, cshape, monkeypatch):
    natively = []
    full = native_gemm.gemm
    monkeypatch.setattr(native_gemm, "gemm", lambda *a: natively.append((y := full(*a)) is not None) or y)
    b = randn(70, 33) if trans_b else randn(33, 70)
    c = None if cshape is None else randn(*cshape)
    model, a_shape = gemm_model(b, c, {"transB": trans_b}, rows)
    sess = ep.InferenceSession(model.SerializeToString(), providers=["cpu"])
    for _ in range(2):  # B packed on the first run, kept for the second
        a = randn(*a_shape)
        got = sess.run(None, {"A": a})[0]
        want = reference.Gemm(a, b, c, transB=trans_b)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert natively == [True, True]


@pytest.mark.parametrize("attrs,rows,cshape", [({"alpha": 0.5}, 4, (70,)), ({"transA": 1}, 4, (70,)),
                                               ({"beta": 2.0}, 4, (70,)), ({}, 4, (4, 70)), ({}, 1, (70,)),
                                               ({}, 49, (70,)), ({"beta": 0.0}, 4, (4, 1))])
def test_gemm_the_native_kernel_does_not_take_matches_onnxruntime(attrs, rows, cshape):
    model, a_shape = gemm_model(randn(33, 70), randn(*cshape), attrs, rows)
    a = randn(*a_shape)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    want = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"A": a})
    got = ep.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, {"A": a})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
