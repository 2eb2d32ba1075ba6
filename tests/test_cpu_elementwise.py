"""CPU kernels of providers/cpu/elementwise.py and activation.py: unary math, activations, binary broadcasting,
comparisons, logic, Where, Clip, Swish/SwiGLU, CausalConvWithState."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1241)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


UNARY = ["Abs", "Neg", "Exp", "Log", "Sqrt", "Floor", "Ceil", "Reciprocal", "Tanh", "Sigmoid", "Relu", "Sin",
         "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Atanh", "Sign", "Erf", "Round",
         "Softplus", "Softsign", "HardSwish", "IsNaN", "Mish"]


@pytest.mark.parametrize("op", UNARY)
def test_unary_math_matches_onnxruntime(op):
    x = randn(3, 4) * 3
    if op in ("Log", "Sqrt"):
        x = np.abs(x) + 0.1
    if op in ("Asin", "Acos", "Atanh"):
        x = np.tanh(x) * 0.9
    check(op, [x], opset=18)


def test_acosh_matches_onnxruntime():
    check("Acosh", [np.abs(randn(5)) + 1.0], opset=18)


def test_sigmoid_has_no_overflow_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = run_kernel("Sigmoid", [np.array([-1000.0, 0.0, 1000.0], np.float32)])[0]
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("op,attrs,opset", [
    ("Elu", {"alpha": 0.7}, 6), ("LeakyRelu", {"alpha": 0.2}, 16), ("Selu", {}, 6),
    ("Selu", {"alpha": 1.5, "gamma": 2.0}, 6), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 6),
    ("ThresholdedRelu", {"alpha": 0.5}, 10), ("Celu", {"alpha": 1.3}, 12), ("Shrink", {"lambd": 0.7, "bias": 0.2}, 9),
    ("Gelu", {}, 20), ("Gelu", {"approximate": "tanh"}, 20), ("IsInf", {"detect_negative": 0}, 10),
])
def test_activations_match_onnxruntime(op, attrs, opset):
    x = randn(3, 5) * 2
    if op == "IsInf":
        x[0, :2] = [np.inf, -np.inf]
    check(op, [x], attrs, opset=opset)


@pytest.mark.parametrize("slope_shape", [(1,), (5,), (3, 1, 1), ()])
def test_prelu_matches_onnxruntime(slope_shape):
    x = randn(2, 3, 4, 5)
    slope = randn(*slope_shape) if slope_shape != (5,) else randn(5)
    check("PRelu", [x, slope], opset=16)


def test_prelu_before_opset7_applies_a_1d_slope_per_channel():
    x, s = randn(2, 3, 4), randn(3)
    y = run_kernel("PRelu", [x, s], opset=6)[0]
    np.testing.assert_allclose(y, np.where(x < 0, x * s[:, None], x))


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 2))])
def test_binary_broadcasting_matches_onnxruntime(op, sa, sb):
    a, b = randn(*sa), randn(*sb)
    if op == "Pow":
        a = np.asarray(np.abs(a) + 0.5, np.float32)
    if op == "Div":
        b = np.asarray(np.where(np.abs(b) < 0.1, 1.0, b), np.float32)
    check(op, [a, b], opset=14)


def test_binary_kernels_return_arrays_for_0d_inputs():
    a, b = np.array(2.0, np.float32), np.array(3.0, np.float32)
    for op in ("Add", "Sub", "Mul", "Div", "Pow", "Relu", "Abs", "Equal"):
        ins = [a] if op in ("Relu", "Abs") else [a, b]
        out = run_kernel(op, ins, opset=14)[0]
        assert type(out) is np.ndarray and out.shape == ()


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_division_truncates_toward_zero(dtype):
    a = np.array([7, -7, 7, -7, 6], dtype)
    b = np.array([2, 2, -2, -2, 3], dtype)
    check("Div", [a, b], opset=14)


def test_pow_with_integer_exponent_keeps_base_dtype():
    check("Pow", [np.abs(randn(3, 4)) + 0.1, np.array([2, 3, 1, 0], np.int64)], opset=15)


def test_variadic_sum_max_min_of_three():
    xs = [randn(3, 1), randn(1, 4), randn(4)]
    for op in ("Sum", "Max", "Min", "Mean"):
        check(op, xs, opset=13)


@pytest.mark.parametrize("opset", [6, 1])
def test_legacy_broadcast_with_axis(opset):
    a, b = randn(2, 3, 4, 5), randn(3, 4)
    for op, fn in (("Add", np.add), ("Mul", np.multiply), ("Sub", np.subtract)):
        y = run_kernel(op, [a, b], {"broadcast": 1, "axis": 1}, opset=opset)[0]
        np.testing.assert_allclose(y, fn(a, b[None, :, :, None]))


def test_legacy_no_broadcast_requires_equal_shapes():
    with pytest.raises(ValueError, match="broadcast=0"):
        run_kernel("Add", [randn(2, 3), randn(3)], opset=6)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparisons_match_onnxruntime(op):
    a = rng.integers(0, 3, (3, 4)).astype(np.float32)
    b = rng.integers(0, 3, (4,)).astype(np.float32)
    check(op, [a, b], opset=19 if op == "Equal" else 16)


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logical_ops_match_onnxruntime(op):
    a, b = rng.random((3, 4)) > 0.5, rng.random((4,)) > 0.5
    check(op, [a, b], opset=7)
    check("Not", [a], opset=1)


def test_where_matches_onnxruntime():
    check("Where", [rng.random((3, 1)) > 0.5, randn(1, 4), randn(3, 4)], opset=16)


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.2), (-0.1, None), (None, None), (0.5, -0.5)])
def test_clip_matches_onnxruntime(lo, hi):
    x = randn(3, 4)
    ins = [x, None if lo is None else np.array(lo, np.float32), None if hi is None else np.array(hi, np.float32)]
    check("Clip", ins, opset=13)
    if lo is None or hi is None or lo <= hi:  # onnxruntime's Clip-6 refuses min > max
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        check("Clip", [x], attrs, opset=6)


def test_swish_and_swiglu_by_hand():
    a, b = randn(3, 5) * 20, randn(3, 5)
    (s,) = run_kernel("Swish", [a], {"alpha": 0.5}, opset=24)
    np.testing.assert_allclose(s, a / (1 + np.exp(-0.5 * a.astype(np.float64))), rtol=1e-6, atol=1e-6)
    (y,) = run_kernel("SwiGLU", [a, b], {"alpha": 0.5}, opset=28)
    np.testing.assert_allclose(y, s * b, rtol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        run_kernel("SwiGLU", [a, b[:1]], opset=28)


def test_causal_conv_with_state_streams_like_one_call():
    """Two calls chained through the state equal one call on the whole sequence."""
    x, w, bias = randn(2, 3, 10), randn(3, 1, 4), randn(3)
    whole, state = run_kernel("CausalConvWithState", [x, w, bias], {"activation": "silu"}, opset=27, n_outputs=2)
    first, mid = run_kernel("CausalConvWithState", [x[..., :6], w, bias], {"activation": "silu"}, opset=27,
                            n_outputs=2)
    second, end = run_kernel("CausalConvWithState", [x[..., 6:], w, bias, mid], {"activation": "silu"}, opset=27,
                             n_outputs=2)
    np.testing.assert_allclose(np.concatenate([first, second], axis=2), whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(state, end)
    np.testing.assert_array_equal(state, x[..., -3:])
