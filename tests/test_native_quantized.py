"""The native integer kernels (csrc/qgemm.c, providers/cpu/native/quantized.py): MatMulInteger, ConvInteger,
DynamicQuantizeLinear, MatMulIntegerToFloat and DynamicQuantizeMatMul against the numpy kernels, bit for bit,
with every GEMM kernel this CPU runs, on sizes off the kernels' tiles, every 8-bit type pairing, scalar and
per-row / per-column zero points, broadcast batches, empty tensors, sums that overflow int32, thread counts,
and the per-node cache of packed constant weights."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import quantization as ref
from providers.cpu.contrib import quantized as ref_contrib
from providers.cpu.native import library
from providers.cpu.native import quantized as nat
from tests.helpers.models import const, make_model
from tests.helpers.native import build_driver, forced_kernel, run_driver

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # numpy on NaN / inf inputs
    pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}"),
]
RNG = np.random.default_rng(11)
KERNELS = {"portable": nat.KERNEL_PORTABLE, "avx2": nat.KERNEL_AVX2, "vnni": nat.KERNEL_VNNI}
BYTE_TYPES = [np.uint8, np.int8]
SIZES = [1, 3, 17, 64, 129]


@pytest.fixture(params=sorted(KERNELS))
def gemm_kernel(request):
    """Each GEMM kernel this CPU runs, forced for the test, then the automatic choice again."""
    with forced_kernel(library.LIB.ep_qgemm_force_kernel, KERNELS[request.param], request.param) as name:
        yield name


def rand_bytes(dtype, *shape: int) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, int(info.max) + 1, shape).astype(dtype)


def same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- MatMulInteger


@pytest.mark.parametrize("a_type", BYTE_TYPES)
@pytest.mark.parametrize("b_type", BYTE_TYPES)
def test_matmul_integer_equals_numpy_on_odd_sizes_and_every_type_pairing(gemm_kernel, a_type, b_type):
    for m in SIZES:
        for k in SIZES:
            for n in SIZES:
                a, b = rand_bytes(a_type, m, k), rand_bytes(b_type, k, n)
                za, zb = rand_bytes(a_type), rand_bytes(b_type, n) if n % 2 else rand_bytes(b_type)
                same(nat.matmul_integer(a, b, za, zb), ref.MatMulInteger(a, b, za, zb))


def test_matmul_integer_takes_per_row_a_zero_points_and_absent_ones(gemm_kernel):
    a, b = rand_bytes(np.uint8, 2, 17, 33), rand_bytes(np.int8, 33, 19)
    for za, zb in [(rand_bytes(np.uint8, 17), None), (None, rand_bytes(np.int8, 19)), (None, None),
                   (rand_bytes(np.uint8, 2, 17, 1), rand_bytes(np.int8))]:
        same(nat.matmul_integer(a, b, za, zb), ref.MatMulInteger(a, b, za, zb))


@pytest.mark.parametrize("a_shape,b_shape", [((2, 1, 3, 5), (4, 5, 6)), ((3, 5), (2, 5, 7)), ((5,), (5, 4)),
                                             ((2, 3, 5), (5,)), ((5,), (5,)), ((1, 4, 9), (3, 9, 2))])
def test_matmul_integer_broadcasts_batch_dims_and_1d_operands_as_numpy(gemm_kernel, a_shape, b_shape):
    a, b = rand_bytes(np.uint8, *a_shape), rand_bytes(np.uint8, *b_shape)
    za, zb = np.array(17, np.uint8), np.array(201, np.uint8)
    y = nat.matmul_integer(a, b, za, zb)
    assert y is not None
    same(y, ref.MatMulInteger(a, b, za, zb))


def test_matmul_integer_hands_empty_tensors_and_other_types_to_numpy():
    assert nat.matmul_integer(np.zeros((0, 3), np.uint8), rand_bytes(np.uint8, 3, 4), None, None) is None
    assert nat.matmul_integer(rand_bytes(np.uint8, 2, 0), np.zeros((0, 4), np.uint8), None, None) is None
    assert nat.matmul_integer(rand_bytes(np.int16, 2, 3), rand_bytes(np.int8, 3, 4), None, None) is None
    kernel = nat.MatMulInteger()
    same(kernel(np.zeros((0, 3), np.uint8), rand_bytes(np.uint8, 3, 4)),
         ref.MatMulInteger(np.zeros((0, 3), np.uint8), rand_bytes(np.uint8, 3, 4)))


def test_sums_beyond_int32_wrap_as_the_numpy_kernel_does(gemm_kernel):
    # 255 * -128 * 70000 is below -2^31: the int32 output holds the sum modulo 2^32, as numpy's does
    k = 70000
    a = np.full((2, k), 255, np.uint8)
    b = np.full((k, 3), -128, np.int8)
    b[: k // 2, 1] = 127
    want = ref.MatMulInteger(a, b, None, None)
    assert np.abs(a[0].astype(np.int64) @ b.astype(np.int64)).max() > 2**31  # the case does overflow
    same(nat.matmul_integer(a, b, None, None), want)
    zb = np.array([5, -7, 100], np.int8)
    same(nat.matmul_integer(a, b, np.array(3, np.uint8), zb), ref.MatMulInteger(a, b, np.array(3, np.uint8), zb))


# --------------------------------------------------------------------------- ConvInteger

# (x shape, w shape, attributes)
CONV_CASES = [
    ((1, 1, 9, 13), (5, 1, 3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2])),
    ((2, 6, 9, 11), (4, 3, 3, 2), dict(group=2, pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2])),
    ((1, 17, 5, 7), (3, 17, 1, 1), {}),
    ((1, 8, 6, 6), (8, 1, 3, 3), dict(group=8, pads=[1, 1, 1, 1])),
    ((2, 3, 17), (7, 3, 4), dict(pads=[2, 1], strides=[3], dilations=[2])),
    ((1, 4, 7, 8), (6, 4, 3, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    ((1, 24, 12, 20), (65, 24, 3, 3), dict(pads=[1, 1, 1, 1])),
]


@pytest.mark.parametrize("x_type", BYTE_TYPES)
@pytest.mark.parametrize("w_type", BYTE_TYPES)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv_integer_equals_numpy_with_pads_strides_dilations_and_groups(gemm_kernel, x_type, w_type, case):
    x_shape, w_shape, attrs = CONV_CASES[case]
    x, w = rand_bytes(x_type, *x_shape), rand_bytes(w_type, *w_shape)
    zx = rand_bytes(x_type)
    for zw in (rand_bytes(w_type), rand_bytes(w_type, w_shape[0]), None):
        full = dict(dict(auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None),
                    **attrs)
        y = nat.conv_integer(x, w, zx, zw, full)
        assert y is not None
        same(y, ref.ConvInteger(x, w, zx, zw, **full))


def test_conv_integer_hands_what_it_does_not_cover_to_numpy():
    x, w = rand_bytes(np.uint8, 1, 2, 4, 4, 4), rand_bytes(np.uint8, 3, 2, 1, 1, 1)
    assert nat.conv_integer(x, w, None, None, {}) is None  # 3-D
    x2, w2 = rand_bytes(np.uint8, 1, 2, 5, 5), rand_bytes(np.uint8, 3, 2, 3, 3)
    assert nat.conv_integer(x2, w2, None, None, dict(pads=[-1, 0, 0, 0])) is None
    assert nat.conv_integer(x2, w2, rand_bytes(np.int8), None, {}) is None  # zero point of another type
    kernel = nat.ConvInteger(pads=[1, 1, 1, 1])
    same(kernel(np.zeros((0, 2, 5, 5), np.uint8), w2), ref.ConvInteger(np.zeros((0, 2, 5, 5), np.uint8), w2,
                                                                       pads=[1, 1, 1, 1]))


# --------------------------------------------------------------------------- DynamicQuantizeLinear


@pytest.mark.parametrize("n", [1, 3, 17, 1000, 70001])
def test_dynamic_quantize_linear_gives_the_numpy_kernels_bits(n):
    for scale in (1e-3, 1.0, 37.0, 1e4):
        for shift in (0.0, 0.7, -0.7):
            x = ((RNG.standard_normal(n) + shift) * scale).astype(np.float32)
            x[::7] = np.round(x[::7] * 2) / 2  # halves: round half to even
            got, want = nat.dynamic_quantize(x), ref.DynamicQuantizeLinear(x)
            for g, w in zip(got, want):
                same(g, np.asarray(w))


def test_dynamic_quantize_linear_rounds_quotients_at_and_near_half_integers_as_numpy():
    # x / scale on (and a few ulp around) every half-integer: the native kernel's x * (1 / scale) must
    # hand these to the exact division
    for lo, hi in ((-1.0, 3.0), (-0.37, 0.0), (0.0, 1e-3), (-250.0, 5.0), (0.0, 3e-41), (-1e-43, 2e-42)):
        scale = np.float32(np.float32(hi) - np.float32(lo)) / np.float32(255)
        halves = (np.arange(-256, 256) + 0.5).astype(np.float32) * scale
        x = np.concatenate([halves, np.nextafter(halves, np.inf), np.nextafter(halves, -np.inf),
                            np.array([lo, hi], np.float32)]).astype(np.float32)
        x = x[(x >= lo) & (x <= hi)]
        for got, want in zip(nat.dynamic_quantize(x), ref.DynamicQuantizeLinear(x)):
            same(got, np.asarray(want))


def test_dynamic_quantize_linear_of_zeros_nan_and_infinity_matches_numpy():
    for x in (np.zeros(5, np.float32), -np.zeros(4, np.float32), np.abs(RNG.standard_normal(9)).astype(np.float32),
              -np.abs(RNG.standard_normal(9)).astype(np.float32)):
        for g, w in zip(nat.DynamicQuantizeLinear(x), ref.DynamicQuantizeLinear(x)):
            same(g, np.asarray(w))
    for bad in (np.array([1.0, np.nan, -2.0], np.float32), np.array([np.inf, 1.0], np.float32),
                np.zeros(0, np.float32)):
        assert nat.dynamic_quantize(bad) is None  # the numpy kernel's semantics
        for g, w in zip(nat.DynamicQuantizeLinear(bad), ref.DynamicQuantizeLinear(bad)):
            same(g, np.asarray(w))


# --------------------------------------------------------------------------- float outputs


@pytest.mark.parametrize("a_type", BYTE_TYPES)
@pytest.mark.parametrize("b_type", BYTE_TYPES)
def test_matmul_integer_to_float_equals_numpy_bit_for_bit(gemm_kernel, a_type, b_type, monkeypatch):
    monkeypatch.setattr(nat, "SMALL_MACS", 0)  # the native GEMM for every size
    kernel = nat.MatMulIntegerToFloat()
    for m, k, n in [(1, 1, 1), (3, 17, 129), (64, 129, 3), (2, 64, 17)]:
        a, b = rand_bytes(a_type, 2, m, k), rand_bytes(b_type, k, n)
        a_scale = np.array(0.0173, np.float32)
        b_scale = np.abs(RNG.standard_normal(n)).astype(np.float32) + 0.01
        za, zb, bias = rand_bytes(a_type), rand_bytes(b_type, n), RNG.standard_normal(n).astype(np.float32)
        for args in [(za, zb, bias), (None, None, None), (za, None, bias)]:
            assert nat._float_matmul(a, b, a_scale, b_scale, *args, nat.WeightCache(False), "test") is not None
            same(kernel(a, b, a_scale, b_scale, *args), ref_contrib.MatMulIntegerToFloat(a, b, a_scale, b_scale, *args))


def test_dynamic_quantize_matmul_equals_numpy_bit_for_bit(gemm_kernel, monkeypatch):
    monkeypatch.setattr(nat, "SMALL_MACS", 0)
    kernel = nat.DynamicQuantizeMatMul()
    for b_type in BYTE_TYPES:
        a = RNG.standard_normal((2, 5, 67)).astype(np.float32)
        b = rand_bytes(b_type, 67, 33)
        b_scale, zb = np.array(0.02, np.float32), rand_bytes(b_type, 33)
        bias = RNG.standard_normal(33).astype(np.float32)
        qa, a_scale, za = ref.DynamicQuantizeLinear(a)
        assert nat._float_matmul(qa, b, a_scale, b_scale, za, zb, bias, nat.WeightCache(False), "test") is not None
        same(kernel(a, b, b_scale, zb, bias), ref_contrib.DynamicQuantizeMatMul(a, b, b_scale, zb, bias))
        same(kernel(a, b, b_scale), ref_contrib.DynamicQuantizeMatMul(a, b, b_scale))


def test_dynamic_quantize_matmul_with_constant_weights_takes_the_plan_and_gives_numpys_bits(gemm_kernel,
                                                                                             monkeypatch):
    node = SimpleNamespace(inputs=["A", "B", "B_scale", "B_zero", "bias"])
    graph = SimpleNamespace(is_constant={"B", "B_scale", "B_zero", "bias"}.__contains__)
    general = []
    monkeypatch.setattr(nat, "dynamic_quantize", lambda x: general.append(1) or ref.DynamicQuantizeLinear(x))
    for b_type in BYTE_TYPES:
        # K a multiple of 4 (the plan; tiny products numpy ran before, large ones) and not (the general path)
        # (2500,) x 64 and (3, 700) x 128: A quantized in several blocks of rows (ep_qmatmul_f32's block_rows),
        # the latter split over two threads
        for lead, k, n in [((50,), 64, 1), ((1, 3), 8, 5), ((2, 5), 68, 33), ((129,), 128, 17), ((), 12, 7),
                           ((33,), 67, 64), ((2500,), 64, 1), ((3, 700), 128, 17)]:
            b = rand_bytes(b_type, k, n)
            b_scale = np.abs(RNG.standard_normal(n)).astype(np.float32) + 0.01 if n % 2 else np.array(0.02, np.float32)
            zb, bias = rand_bytes(b_type, n) if n > 5 else rand_bytes(b_type), RNG.standard_normal(n).astype(np.float32)
            for args in [(zb, bias), (None, None)]:
                kernel = nat.DynamicQuantizeMatMul(_node=node, _graph=graph)
                general.clear()
                outs = []
                for _ in range(2):
                    a = RNG.standard_normal(lead + (k,)).astype(np.float32)
                    outs.append((kernel(a, b, b_scale, *args), a))
                for got, a in outs:  # the second run did not overwrite the first one's output
                    same(got, ref_contrib.DynamicQuantizeMatMul(a, b, b_scale, *args))
                assert not general if k % 4 == 0 else general, (lead, k, n)
    kernel = nat.DynamicQuantizeMatMul(_node=node, _graph=graph)
    b, b_scale = rand_bytes(np.int8, 8, 3), np.array(0.5, np.float32)
    a = RNG.standard_normal((2, 8)).astype(np.float32)
    a[1, 2] = np.nan  # the numpy kernel's semantics
    same(kernel(a, b, b_scale), ref_contrib.DynamicQuantizeMatMul(a, b, b_scale))


def test_matmul_integer_to_float_with_constant_weights_takes_the_plan_and_gives_numpys_bits(gemm_kernel,
                                                                                            monkeypatch):
    node = SimpleNamespace(inputs=["A", "B", "a_scale", "b_scale", "a_zero", "b_zero", "bias"])
    graph = SimpleNamespace(is_constant={"B", "b_scale", "b_zero", "bias"}.__contains__)
    general, unsigned_rows = [], nat.unsigned_rows
    monkeypatch.setattr(nat, "unsigned_rows", lambda *a: general.append(1) or unsigned_rows(*a))
    for b_type in BYTE_TYPES:
        # K a multiple of 4 (the plan; small products numpy ran before, large ones) and not (the general path)
        for lead, k, n in [((128,), 512, 1), ((1, 3), 8, 5), ((64,), 256, 16), ((), 12, 7), ((33,), 67, 64)]:
            b = rand_bytes(b_type, k, n)
            b_scale = np.abs(RNG.standard_normal(n)).astype(np.float32) + 0.01 if n % 2 else np.array(0.02, np.float32)
            zb, bias = rand_bytes(b_type, n) if n > 5 else rand_bytes(b_type), RNG.standard_normal(n).astype(np.float32)
            for za, b_args in [(rand_bytes(np.uint8), (zb, bias)), (None, (None, None))]:
                kernel = nat.MatMulIntegerToFloat(_node=node, _graph=graph)
                general.clear()
                outs = []
                for _ in range(2):
                    a, a_scale = rand_bytes(np.uint8, *lead, k), np.array(RNG.uniform(0.01, 0.1), np.float32)
                    args = (a, b, a_scale, b_scale, za, *b_args)
                    outs.append((kernel(*args), args))
                for got, args in outs:  # the second run did not overwrite the first one's output
                    same(got, ref_contrib.MatMulIntegerToFloat(*args))
                assert not general if k % 4 == 0 else general, (lead, k, n)
    # an int8 A is the general path's
    kernel = nat.MatMulIntegerToFloat(_node=node, _graph=graph)
    args = (rand_bytes(np.int8, 40, 64), rand_bytes(np.int8, 64, 64), np.array(0.1, np.float32),
            np.array(0.2, np.float32), rand_bytes(np.int8))
    same(kernel(*args), ref_contrib.MatMulIntegerToFloat(*args))


def test_small_products_run_on_numpy_and_large_ones_natively():
    small, large = rand_bytes(np.uint8, 4, 8), rand_bytes(np.uint8, 64, 64)
    assert not nat._large(small, rand_bytes(np.int8, 8, 3)) and nat._large(large, rand_bytes(np.int8, 64, 64))
    for a in (small, large):
        b = rand_bytes(np.int8, a.shape[1], a.shape[1])
        same(nat.MatMulInteger()(a, b), ref.MatMulInteger(a, b))


def test_float_outputs_beyond_the_exact_int32_range_run_on_numpy():
    k = nat.FLOAT_MAX_K + 1
    a, b = np.full((1, k), 255, np.uint8), np.full((k, 2), 255, np.uint8)
    scale = np.array(1.0, np.float32)
    assert nat._float_matmul(a, b, scale, scale, None, None, None, nat.WeightCache(False), "test") is None
    same(nat.MatMulIntegerToFloat()(a, b, scale, scale), ref_contrib.MatMulIntegerToFloat(a, b, scale, scale))


# --------------------------------------------------------------------------- QLinearMatMul, QLinearConv


@pytest.mark.parametrize("a_type", BYTE_TYPES)
@pytest.mark.parametrize("b_type", BYTE_TYPES)
def test_qlinear_matmul_equals_numpy_bit_for_bit(gemm_kernel, a_type, b_type, monkeypatch):
    monkeypatch.setattr(nat, "SMALL_MACS", 0)
    kernel = nat.QLinearMatMul()
    for a_shape, b_shape in [((3, 17), (17, 129)), ((2, 64, 33), (33, 5)), ((1, 1), (1, 1)), ((2, 4, 9), (2, 9, 7))]:
        a, b = rand_bytes(a_type, *a_shape), rand_bytes(b_type, *b_shape)
        n = b_shape[-1]
        args = [a, np.array(0.02, np.float32), rand_bytes(a_type), b,
                np.abs(RNG.standard_normal(n)).astype(np.float32) * 0.01 + 1e-3, rand_bytes(b_type, n),
                np.array(0.7, np.float32), rand_bytes(a_type)]
        assert nat.matmul_integer(a, b, args[2], args[5]) is not None
        same(kernel(*args), ref.QLinearMatMul(*args))


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_qlinear_conv_equals_numpy_bit_for_bit(gemm_kernel, case):
    x_shape, w_shape, attrs = CONV_CASES[case]
    full = dict(dict(auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None), **attrs)
    kernel = nat.QLinearConv(**full)
    m = w_shape[0]
    for x_type, w_type in [(np.uint8, np.int8), (np.int8, np.int8), (np.uint8, np.uint8)]:
        x, w = rand_bytes(x_type, *x_shape), rand_bytes(w_type, *w_shape)
        w_scale = np.abs(RNG.standard_normal(m)).astype(np.float32) * 0.01 + 1e-3
        bias = RNG.integers(-5000, 5000, m).astype(np.int32)
        for b, ws in [(bias, w_scale), (None, np.array(0.004, np.float32))]:
            args = [x, np.array(0.05, np.float32), rand_bytes(x_type), w, ws, rand_bytes(w_type),
                    np.array(0.3, np.float32), rand_bytes(x_type)]
            assert nat.conv_integer(x, w, args[2], args[5], full) is not None
            same(kernel(*args, b), ref.QLinearConv(*args, b, **full))


# --------------------------------------------------------------------------- threads, caching, sessions


def test_integer_kernels_give_the_same_bits_on_1_2_and_3_threads():
    a, b = rand_bytes(np.uint8, 67, 300), rand_bytes(np.int8, 300, 129)
    x, w = rand_bytes(np.uint8, 2, 24, 20, 30), rand_bytes(np.uint8, 40, 24, 3, 3)
    f = RNG.standard_normal(300_000).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        with intra_op_thread_limit(threads):
            results.append((nat.matmul_integer(a, b, np.array(3, np.uint8), None),
                            nat.conv_integer(x, w, np.array(9, np.uint8), None, dict(pads=[1, 1, 1, 1])),
                            *nat.dynamic_quantize(f)))
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            same(got, want)


def test_packed_weights_are_kept_for_the_same_arrays_only():
    cache, built = nat.WeightCache(True), []
    w, z = rand_bytes(np.uint8, 4, 4), np.array(1, np.uint8)
    first = cache.get((w, z), lambda: built.append(1) or "packed")
    assert cache.get((w, z), lambda: built.append(1) or "again") == first and len(built) == 1
    assert cache.get((w.copy(), z), lambda: built.append(1) or "other") == "other"
    off = nat.WeightCache(False)
    assert off.get((w, z), lambda: "a") == "a" and off.get((w, z), lambda: "b") == "b"


def _quantized_model(weights_as_input: bool):
    """DynamicQuantizeLinear -> ConvInteger and MatMulInteger with constant (or graph input) weights."""
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="dql"),
        helper.make_node("ConvInteger", ["xq", "w", "xz", "wz"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["x", "shape"], ["x2"], name="flat"),  # 192 x 128: above SMALL_MACS
        helper.make_node("DynamicQuantizeLinear", ["x2"], ["aq", "as", "az"], name="dql2"),
        helper.make_node("MatMulInteger", ["aq", "b", "az", "bz"], ["m"], name="mm"),
    ]
    w, b = rand_bytes(np.uint8, 6, 3, 3, 3), rand_bytes(np.int8, 128, 40)
    inits = [const("wz", np.array(128, np.uint8)), const("bz", np.array(-3, np.int8)),
             const("shape", np.array([-1, 128], np.int64))]
    inputs = [("x", TensorProto.FLOAT, [2, 3, 64, 64])]
    if weights_as_input:
        inputs += [("w", TensorProto.UINT8, [6, 3, 3, 3]), ("b", TensorProto.INT8, [128, 40])]
    else:
        inits += [const("w", w), const("b", b)]
    outputs = [("c", TensorProto.INT32, [2, 6, 64, 64]), ("m", TensorProto.INT32, [192, 40])]
    return make_model(nodes, inputs, outputs, inits, opset=13), w, b


def _reference(x, w, b):
    xq, _, xz = ref.DynamicQuantizeLinear(x)
    aq, _, az = ref.DynamicQuantizeLinear(x.reshape(-1, 128))
    return (ref.ConvInteger(xq, w, xz, np.array(128, np.uint8), pads=[1, 1, 1, 1]),
            ref.MatMulInteger(aq, b, az, np.array(-3, np.int8)))


@pytest.mark.skipif(not nat.FAST_GEMM, reason="the GEMM operators run natively only with AVX2 or AVX-512 VNNI")
def test_sessions_run_quantized_models_natively_and_match_numpy():
    model, w, b = _quantized_model(weights_as_input=False)
    sess = ep.InferenceSession(model, providers=["cpu"])
    native = {d.node.name for d in sess.get_partition().decisions if any("kernel native" in n for n in d.notes)}
    assert {"dql", "conv", "mm"} <= native
    for _ in range(2):  # the second run reuses the packed weights
        x = RNG.standard_normal((2, 3, 64, 64)).astype(np.float32)
        for got, want in zip(sess.run(None, {"x": x}), _reference(x, w, b)):
            same(got, want)


def test_weights_given_at_run_time_are_packed_on_every_run():
    model, w, b = _quantized_model(weights_as_input=True)
    sess = ep.InferenceSession(model, providers=["cpu"])
    x = RNG.standard_normal((2, 3, 64, 64)).astype(np.float32)
    for _ in range(2):  # the same arrays, changed in place between runs
        w[...] = rand_bytes(np.uint8, *w.shape)
        b[...] = rand_bytes(np.int8, *b.shape)
        for got, want in zip(sess.run(None, {"x": x, "w": w, "b": b}), _reference(x, w, b)):
            same(got, want)


# --------------------------------------------------------------------------- sanitizers

#: every GEMM kernel this CPU runs on small sizes against a naive C reference (int32 and float outputs,
#: scalar and per-row / per-column zero points), ConvInteger's panels against a naive gather, and 1 against
#: 3 threads (EP_TINY_GRAIN splits every call)
SANITIZER_DRIVER = r"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ep_native.h"

static uint32_t seed = 12345;
static uint32_t rnd(void) { seed = seed * 1664525u + 1013904223u; return seed >> 8; }

/* reference: c[i][j] = sum (u - zu_i)(s - zs_j) modulo 2^32, s given as n rows of k */
static int32_t ref_dot(const uint8_t *u, const int8_t *s, int64_t k, int32_t zu, int32_t zs) {
    uint32_t t = 0;
    for (int64_t q = 0; q < k; q++) t += (uint32_t)(((int32_t)u[q] - zu) * ((int32_t)s[q] - zs));
    int32_t r;
    memcpy(&r, &t, 4);
    return r;
}

int main(void) {
    static const int64_t ms[] = {1, 2, 3, 5, 6, 7, 13}, ns[] = {1, 3, 8, 15, 16, 17, 33};
    static const int64_t ks[] = {1, 3, 4, 5, 9, 64, 67};
    long checks = 0;
    for (int level = 1; level <= 3; level++) {
        if (ep_qgemm_force_kernel(level) != level) continue;
        for (int a = 0; a < 7; a++) for (int b = 0; b < 7; b++) for (int kk = 0; kk < 7; kk++) {
            const int64_t m = ms[a], n = ns[b], k = ks[kk], kp = (k + 3) / 4 * 4;
            uint8_t *u = calloc((size_t)(m * kp), 1);
            int8_t *rows = malloc((size_t)(n * k)), *pan = malloc((size_t)((n + 15) / 16 * kp * 16));
            int32_t *usum = malloc((size_t)m * 4), *ssum = malloc((size_t)n * 4), *uz = malloc((size_t)m * 4);
            int32_t *sz = malloc((size_t)n * 4), *c1 = malloc((size_t)(m * n) * 4), *c3 = malloc((size_t)(m * n) * 4);
            float *mult = malloc((size_t)n * 4), *bias = malloc((size_t)n * 4);
            float *f1 = malloc((size_t)(m * n) * 4), *f3 = malloc((size_t)(m * n) * 4);
            for (int64_t i = 0; i < m; i++) for (int64_t q = 0; q < k; q++) u[i * kp + q] = (uint8_t)rnd();
            for (int64_t i = 0; i < n * k; i++) rows[i] = (int8_t)rnd();
            for (int64_t i = 0; i < m; i++) uz[i] = (int32_t)(rnd() % 400) - 150;
            for (int64_t j = 0; j < n; j++) { sz[j] = (int32_t)(rnd() % 400) - 200; mult[j] = 0.25f; bias[j] = 1.0f; }
            if (ep_qrow_sums(u, m, kp, kp, 0, usum, 3) || ep_qpack_panels(rows, n, k, k, kp, pan, ssum, 3)) return 1;
            for (int step = 0; step <= 1; step++) {
                if (ep_qgemm_u8s8(u, kp, pan, m, n, k, kp, usum, ssum, uz, step, sz, step, c1, n, NULL, NULL, 1) ||
                    ep_qgemm_u8s8(u, kp, pan, m, n, k, kp, usum, ssum, uz, step, sz, step, c3, n, NULL, NULL, 3) ||
                    ep_qgemm_u8s8(u, kp, pan, m, n, k, kp, usum, ssum, uz, step, sz, step, f1, n, mult, bias, 1) ||
                    ep_qgemm_u8s8(u, kp, pan, m, n, k, kp, usum, ssum, uz, step, sz, step, f3, n, mult, bias, 3))
                    return 1;
                for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) {
                    const int32_t want = ref_dot(u + i * kp, rows + j * k, k, uz[step * i], sz[step * j]);
                    if (c1[i * n + j] != want || c3[i * n + j] != want) {
                        printf("level %d m %ld n %ld k %ld: c[%ld][%ld] = %d / %d, want %d\n", level, (long)m, (long)n,
                               (long)k, (long)i, (long)j, c1[i * n + j], c3[i * n + j], want);
                        return 2;
                    }
                    const float fw = (float)want * 0.25f + 1.0f;
                    if (f1[i * n + j] != fw || f3[i * n + j] != fw) { printf("float epilogue differs\n"); return 2; }
                    checks++;
                }
            }
            free(u); free(rows); free(pan); free(usum); free(ssum); free(uz); free(sz); free(c1); free(c3);
            free(mult); free(bias); free(f1); free(f3);
        }
    }
    /* convolution panels: against a naive gather, on small geometries, 1 and 3 threads */
    for (int64_t c = 1; c <= 8; c += 3) for (int64_t kh = 1; kh <= 3; kh += 2) for (int64_t st = 1; st <= 2; st++) {
        const int64_t h = 5, w = 7, pad = kh / 2, dil = 1, eh = h + 2 * pad, ew = w + 2 * pad;
        const int64_t ho = (eh - kh) / st + 1, wo = (ew - kh) / st + 1, kd = kh * kh * c, kp = (kd + 3) / 4 * 4;
        const int64_t plane = ho * wo;
        uint8_t *x = malloc((size_t)(c * h * w)), *hwc = malloc((size_t)(eh * ew * c));
        int8_t *p1 = malloc((size_t)((plane + 15) / 16 * kp * 16)), *p3 = malloc((size_t)((plane + 15) / 16 * kp * 16));
        int32_t *s1 = malloc((size_t)plane * 4), *s3 = malloc((size_t)plane * 4);
        for (int64_t i = 0; i < c * h * w; i++) x[i] = (uint8_t)rnd();
        if (ep_qpad_hwc(x, hwc, c, h, w, pad, pad, eh, ew, 0x80, 7, 3)) return 1;
        if (ep_qconv_panels(hwc, p1, s1, c, ew, 0, c, kh, kh, st, st, dil, dil, ho, wo, kp, 1) ||
            ep_qconv_panels(hwc, p3, s3, c, ew, 0, c, kh, kh, st, st, dil, dil, ho, wo, kp, 3))
            return 1;
        for (int64_t p = 0; p < plane; p++) {
            const int64_t oy = p / wo, ox = p % wo;
            int32_t sum = 0;
            for (int64_t ky = 0; ky < kh; ky++) for (int64_t kx = 0; kx < kh; kx++) for (int64_t ch = 0; ch < c; ch++) {
                const int64_t iy = oy * st + ky - pad, ix = ox * st + kx - pad, q = (ky * kh + kx) * c + ch;
                const int outside = iy < 0 || iy >= h || ix < 0 || ix >= w;
                const int8_t want = (int8_t)(outside ? 7 : x[(ch * h + iy) * w + ix] ^ 0x80);
                const int8_t got = p1[(p / 16) * kp * 16 + (q / 4) * 64 + (p % 16) * 4 + q % 4];
                const int8_t got3 = p3[(p / 16) * kp * 16 + (q / 4) * 64 + (p % 16) * 4 + q % 4];
                if (got != want || got3 != want) { printf("conv panel differs\n"); return 2; }
                sum += want;
                checks++;
            }
            if (s1[p] != sum || s3[p] != sum) { printf("conv sums differ\n"); return 2; }
        }
        free(x); free(hwc); free(p1); free(p3); free(s1); free(s3);
    }
    /* DynamicQuantizeLinear: 1 and 3 threads give the same bits */
    for (int64_t n = 1; n < 5000; n = n * 3 + 1) {
        float *x = malloc((size_t)n * 4);
        uint8_t *y1 = malloc((size_t)n), *y3 = malloc((size_t)n), z1, z3;
        float sc1, sc3;
        for (int64_t i = 0; i < n; i++) x[i] = (float)((int32_t)(rnd() % 20001) - 9000) / 37.0f;
        if (ep_dynamic_quantize_u8(x, n, y1, &sc1, &z1, 1) || ep_dynamic_quantize_u8(x, n, y3, &sc3, &z3, 3)) return 1;
        if (memcmp(y1, y3, (size_t)n) || sc1 != sc3 || z1 != z3) { printf("dql threads differ\n"); return 2; }
        free(x); free(y1); free(y3);
    }
    /* ep_qmatmul_f32 (qmatmul.c) against its steps called one by one: the same bits, float and uint8 A */
    for (int64_t m = 1; m <= 9; m += 4) for (int64_t k = 4; k <= 68; k += 32) for (int64_t n = 1; n <= 33; n += 16) {
        const int64_t kp = k;
        float *x = malloc((size_t)(m * k) * 4), *bs = malloc((size_t)n * 4), *mult = malloc((size_t)n * 4);
        float *bias = malloc((size_t)n * 4), *y1 = malloc((size_t)(m * n) * 4), *y2 = malloc((size_t)(m * n) * 4);
        int8_t *rows = malloc((size_t)(n * k)), *pan = malloc((size_t)((n + 15) / 16 * kp * 16));
        uint8_t *q = malloc((size_t)(m * k)), z8;
        int32_t *ssum = malloc((size_t)n * 4), *usum = malloc((size_t)m * 4), sz = 3, uz;
        float sc;
        for (int64_t i = 0; i < m * k; i++) x[i] = (float)((int32_t)(rnd() % 2001) - 900) / 37.0f;
        for (int64_t i = 0; i < n * k; i++) rows[i] = (int8_t)rnd();
        for (int64_t j = 0; j < n; j++) { bs[j] = 0.001f * (float)(1 + rnd() % 9); bias[j] = 0.5f; }
        if (ep_qpack_panels(rows, n, k, k, kp, pan, ssum, 1)) return 1;
        if (ep_dynamic_quantize_u8(x, m * k, q, &sc, &z8, 1) || ep_qrow_sums(q, m, k, k, 0, usum, 1)) return 1;
        uz = z8;
        for (int64_t j = 0; j < n; j++) mult[j] = sc * bs[j];
        if (ep_qgemm_u8s8(q, k, pan, m, n, k, kp, usum, ssum, &uz, 0, &sz, 0, y1, n, mult, bias, 1)) return 1;
        if (ep_qmatmul_f32(x, NULL, 0.0f, 0, m, k, pan, ssum, &sz, 0, n, bs, bias, y2, 3)) return 1;
        if (memcmp(y1, y2, (size_t)(m * n) * 4)) { printf("qmatmul (float A) differs\n"); return 2; }
        if (ep_qmatmul_f32(NULL, q, sc, uz, m, k, pan, ssum, &sz, 0, n, bs, bias, y2, 3)) return 1;
        if (memcmp(y1, y2, (size_t)(m * n) * 4)) { printf("qmatmul (uint8 A) differs\n"); return 2; }
        if (ep_qmatmul_f32(NULL, q, sc, uz, m, k + 1, pan, ssum, &sz, 0, n, bs, bias, y2, 3) != -2) return 3;
        checks++;
        free(x); free(bs); free(mult); free(bias); free(y1); free(y2); free(rows); free(pan); free(q); free(ssum);
        free(usum);
    }
    printf("qgemm OK (%ld checks)\n", checks);
    return 0;
}
"""


def test_the_integer_kernels_run_clean_under_sanitizers(tmp_path):
    """csrc/qgemm.c and csrc/qmatmul.c built with AddressSanitizer and UndefinedBehaviorSanitizer (and -pedantic
    -Werror): no out-of-bounds access or undefined arithmetic on small geometries, and the results are exact."""
    run_driver(build_driver(tmp_path, SANITIZER_DRIVER, ["parallel.c", "qgemm.c", "qmatmul.c"], no_clones=False),
               "qgemm OK")
