"""The small-op fast paths: native Softmax / LogSoftmax, and the shape kernels' per-call shortcuts
(Pad without np.pad, Split without np.split, axes and int lists without numpy scalars)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import threads
from ep_runtime.op_shapes import ints, normalize_axes, pad_widths
from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import softmax as ref
from providers.cpu import tensor
from providers.cpu.native import library
from providers.cpu.native import softmax as nat
from tests.helpers.models import F, make_model
from tests.helpers.native import build_driver, run_driver

needs_native = pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}")

SHAPES = [(1, 1), (1, 2), (3, 5), (2, 15), (4, 16), (3, 17), (2, 3, 33), (5, 127), (2, 3, 4, 129)]


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 4).astype(np.float32)


def run_native(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    """The registered native kernel of `op` (opset 13), as a session runs it."""
    return (nat.LogSoftmax if op == "LogSoftmax" else nat.Softmax)(x, axis=axis)


def reference(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    return (ref.log_softmax if op == "LogSoftmax" else ref.softmax)(x.astype(np.float64), axis).astype(np.float32)


# --------------------------------------------------------------------------- Softmax, LogSoftmax


@needs_native
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", SHAPES)
def test_native_softmax_matches_numpy_along_every_axis(op, shape):
    x = randn(*shape)
    for axis in range(len(shape)):
        got = run_native(op, x, axis)
        assert got.dtype == np.float32 and got.shape == x.shape
        np.testing.assert_allclose(got, reference(op, x, axis), rtol=2e-6, atol=2e-6, err_msg=f"axis {axis}")


@needs_native
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_native_softmax_of_a_strided_input_matches(op):
    x = randn(6, 40)[::2, 1::3]
    np.testing.assert_allclose(run_native(op, x, 1), reference(op, x, 1), rtol=2e-6, atol=2e-6)


@needs_native
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("n", [3, 16, 40])
def test_native_softmax_rows_with_nan_and_infinities_follow_numpy(op, n):
    x = randn(6, n)
    x[0, 1] = np.nan                    # a NaN row: all NaN
    x[1, :] = -np.inf                   # all -inf: NaN (-inf - -inf)
    x[2, 2] = np.inf                    # +inf: NaN (inf - inf)
    x[3, 0] = -np.inf                   # one -inf among finite values: 0 (log: -inf)
    x[4, :] = 1e30                      # huge equal values: uniform
    x[5, :] = -1e30
    with np.errstate(all="ignore"):
        want = (ref.log_softmax if op == "LogSoftmax" else ref.softmax)(x, 1)
    got = run_native(op, x, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[3:], want[3:], rtol=2e-6, atol=2e-6)
    if op == "Softmax":
        assert got[3, 0] == 0.0
        np.testing.assert_allclose(got[4:].sum(axis=1), 1.0, rtol=1e-6)
    else:
        assert got[3, 0] == -np.inf


@needs_native
def test_native_softmax_underflow_is_zero_and_large_inputs_do_not_overflow():
    x = np.array([[0.0, -87.0, -88.0, -200.0, -np.float32(3e38)], [88.0, 100.0, 3e38, 0.0, -3e38]], np.float32)
    got = run_native("Softmax", x, 1)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, reference("Softmax", x, 1), rtol=2e-6, atol=1e-37)
    assert (got[0, 2:] == 0.0).all() and got[1, 2] == 1.0


@needs_native
def test_native_softmax_leaves_empty_and_non_float32_tensors_to_numpy():
    assert run_native("Softmax", np.zeros((0, 4), np.float32), 1).shape == (0, 4)
    doubles = np.random.default_rng(1).standard_normal((3, 4))
    got = run_native("Softmax", doubles, 1)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, ref.softmax(doubles, 1))
    empty = np.zeros((2, 0, 3), np.float32)
    assert nat.Softmax(empty, axis=1).shape == (2, 0, 3)
    assert nat.LogSoftmax_1(empty, axis=2).shape == (2, 0, 3)
    with pytest.raises(ValueError, match="rank >= 1"):
        nat.Softmax(np.float32(1.0).reshape(()))
    with pytest.raises(ValueError, match="out of range"):
        nat.Softmax(randn(2, 3), axis=2)


@needs_native
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1])
def test_opset_12_softmax_coerces_to_2d_at_the_axis(op, axis):
    x = randn(2, 3, 4, 5)
    fn = getattr(nat, f"{op}_1")
    want = ref._coerced_2d(ref.log_softmax if op == "LogSoftmax" else ref.softmax, x, axis, op)
    np.testing.assert_allclose(fn(x, axis=axis), want, rtol=2e-6, atol=2e-6)


@needs_native
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape,axis", [((128, 2051), 1), ((8, 300, 111), 1)])  # above EP_SOFTMAX_LEAST
def test_native_softmax_gives_the_same_bits_on_1_2_and_3_threads(op, shape, axis):
    x = randn(*shape)
    results = []
    for count in (1, 2, 3):
        with intra_op_thread_limit(count):
            jobs = library.LIB.ep_pool_jobs()
            results.append(run_native(op, x, axis))
            assert (library.LIB.ep_pool_jobs() > jobs) == (count > 1), "the call should be split over threads"
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])


@needs_native
@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_nodes_run_natively_in_a_session_and_match_onnxruntime(opset):
    import onnxruntime as ort

    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="sm", axis=1),
             helper.make_node("LogSoftmax", ["s"], ["y"], name="lsm", axis=-1)]
    model = make_model(nodes, [("x", F, [2, 7, 19])], [("y", F, [2, 7, 19])], opset=opset)
    sess = ep.InferenceSession(model.SerializeToString(), providers=["cpu"])
    notes = {d.node.name for d in sess.get_partition().decisions if any("kernel native" in n for n in d.notes)}
    assert notes == {"sm", "lsm"}
    x = randn(2, 7, 19)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- Pad, Split, axes


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (1, 6), (4, 1)])
def test_pad_matches_np_pad_for_every_small_pad(mode, shape):
    x = randn(*shape)
    checked = 0
    for pads in itertools.product(range(-1, 6), repeat=2 * len(shape)):
        crop, width = pad_widths(x.shape, pads, mode)
        cropped = x if crop is None else x[crop]
        extra = {"constant_values": np.float32(2.5)} if mode == "constant" else {}
        try:
            want = np.pad(cropped, width, mode=mode, **extra)
        except ValueError:  # numpy refuses (reflect of an empty axis): no reference
            continue
        got = tensor.pad(x, list(pads), mode, 2.5)
        assert got.dtype == want.dtype and got.shape == want.shape, pads
        np.testing.assert_array_equal(got, want, err_msg=str(pads))
        checked += 1
    assert checked >= 40


def test_pad_keeps_the_dtype_of_int_bool_and_string_tensors():
    ints_ = np.arange(12, dtype=np.int64).reshape(3, 4)
    want = np.pad(ints_, [(1, 0), (2, 1)], "reflect")
    np.testing.assert_array_equal(tensor.pad(ints_, [1, 2, 0, 1], "reflect"), want)
    flags = np.array([[True, False, True]])
    assert tensor.pad(flags, [0, 1, 0, 1], "constant", True).tolist() == [[True, True, False, True, True]]
    words = np.array(["a", "b"], dtype=object)
    assert tensor.pad(words, [1, 1], "constant", "z").tolist() == ["z", "a", "b", "z"]
    assert tensor.pad(words, [1, 1], "edge").tolist() == ["a", "a", "b", "b"]


def test_split_gives_views_of_the_sizes_asked_for():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    parts = tensor.split_tensor(x, [3, 0, 9], 1, 3)
    assert [p.shape for p in parts] == [(2, 3), (2, 0), (2, 9)]
    assert all(np.shares_memory(p, x) for p in parts if p.size)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), x)
    uneven = tensor.Split(np.zeros((2, 13), np.float32), axis=-1, num_outputs=5, _num_outputs=5)
    assert [p.shape for p in uneven] == [(2, 3)] * 4 + [(2, 1)]
    with pytest.raises(ValueError, match="do not add up"):
        tensor.split_tensor(x, [3, 3], 1, 2)


def test_axes_and_int_lists_accept_lists_arrays_and_nested_values():
    assert normalize_axes([0, -1], 3) == (0, 2)
    assert normalize_axes(np.array([-3, 1], np.int64), 3) == (0, 1)
    assert normalize_axes(np.int64(-1), 2) == (1,)
    assert normalize_axes([[0], [2]], 3) == (0, 2)
    assert normalize_axes((np.int64(1), 2.0), 3) == (1, 2)
    with pytest.raises(ValueError, match="Squeeze: axis 3 is out of range"):
        normalize_axes([3], 3, "Squeeze")
    with pytest.raises(ValueError, match="repeated axis"):
        normalize_axes([1, -2], 3, "Unsqueeze")
    assert ints(np.array([[1, -2]], np.int64)) == [1, -2] and all(type(v) is int for v in ints(np.array([7], np.uint8)))
    assert ints(np.array([1.0, 2.0])) == [1, 2] and ints(None) == []


# --------------------------------------------------------------------------- small products on one BLAS thread


def _openblas_threads():
    functions = threads._openblas_thread_functions()
    if functions is None:
        pytest.skip("numpy's BLAS is not OpenBLAS (or threadpoolctl is missing)")
    return functions[1]


def test_small_products_hold_openblas_at_one_thread_and_restore_it():
    from threadpoolctl import threadpool_limits

    get = _openblas_threads()
    with threadpool_limits(2, user_api="blas"):
        assert get() == 2
        with threads.small_gemm(threads.SMALL_GEMM_MACS - 1):
            assert get() == 1
            with threads.small_gemm(threads.BLAS_SINGLE_THREADED_MACS):  # nested (another Python thread)
                assert get() == 1
            assert get() == 1
        assert get() == 2
        for macs in (threads.SMALL_GEMM_MACS, threads.BLAS_SINGLE_THREADED_MACS - 1):
            with threads.small_gemm(macs):
                assert get() == 2, macs


def test_a_run_resizing_the_pool_during_a_small_product_is_restored_after_it():
    from threadpoolctl import threadpool_limits

    get = _openblas_threads()
    with threadpool_limits(2, user_api="blas"):
        with threads.small_gemm(1 << 20):
            hold = threads.blas_thread_limit(3)
            hold.__enter__()
            assert get() == 1, "a small product in flight keeps one thread"
        assert get() == 3, "the run's count comes back when the product ends"
        hold.__exit__(None, None, None)
        assert get() == 2


def test_matmul_and_gemm_products_are_right_under_the_small_product_policy():
    from providers.cpu import matmul

    rng = np.random.default_rng(1)
    for m, k, n in [(64, 64, 64), (128, 128, 128), (1, 1280, 1000), (300, 300, 300)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        want = a.astype(np.float64) @ b
        np.testing.assert_allclose(matmul.MatMul(a, b), want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(matmul.Gemm(a, b.T.copy(), transB=1), want, rtol=1e-4, atol=1e-4)
    assert matmul._macs(np.zeros((2, 3, 5)), np.zeros((5, 7))) == 2 * 3 * 5 * 7
    assert matmul._macs(np.zeros((0, 5)), np.zeros((5,))) == 0


# --------------------------------------------------------------------------- the C code under sanitizers

SOFTMAX_DRIVER = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ep_native.h"

/* every geometry on 1 and 3 threads (EP_TINY_GRAIN splits every call): same bits, close to a
 * double-precision softmax, NaN where a row holds one */
int main(void) {
    static const int64_t outers[] = {1, 2, 5}, ns[] = {1, 2, 15, 16, 17, 33}, inners[] = {1, 3, 16};
    unsigned seed = 1;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 6; b++)
            for (int c = 0; c < 3; c++)
                for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
                    const int64_t outer = outers[a], n = ns[b], inner = inners[c], total = outer * n * inner;
                    float *x = malloc((size_t)total * sizeof *x), *y1 = malloc((size_t)total * sizeof *y1);
                    float *y3 = malloc((size_t)total * sizeof *y3);
                    for (int64_t i = 0; i < total; i++) {
                        seed = seed * 1103515245u + 12345u;
                        x[i] = (float)((seed >> 8) % 2000) / 100.0f - 10.0f;
                    }
                    if (total > 4) x[3] = NAN;
                    if (ep_softmax_f32(x, y1, outer, n, inner, log_softmax, 1) != 0) return 1;
                    if (ep_softmax_f32(x, y3, outer, n, inner, log_softmax, 3) != 0) return 2;
                    if (memcmp(y1, y3, (size_t)total * sizeof *y1) != 0) return 3;
                    for (int64_t o = 0; o < outer; o++)
                        for (int64_t in = 0; in < inner; in++) {
                            const float *xr = x + o * n * inner + in;
                            const float *yr = y1 + o * n * inner + in;
                            double m = -INFINITY, s = 0.0;
                            int nan = 0;
                            for (int64_t i = 0; i < n; i++) {
                                nan |= xr[i * inner] != xr[i * inner];
                                if (xr[i * inner] > m) m = xr[i * inner];
                            }
                            for (int64_t i = 0; i < n; i++) s += exp(xr[i * inner] - m);
                            for (int64_t i = 0; i < n; i++) {
                                const double v = xr[i * inner] - m;
                                const double want = log_softmax ? v - log(s) : exp(v) / s;
                                const float got = yr[i * inner];
                                if (nan ? got == got : fabs(got - want) > 1e-5 + 1e-5 * fabs(want)) return 4;
                            }
                        }
                    free(x);
                    free(y1);
                    free(y3);
                }
    puts("softmax OK");
    return 0;
}
"""


@needs_native
def test_the_softmax_c_code_runs_clean_under_sanitizers_and_splits_to_the_same_bits(tmp_path):
    run_driver(build_driver(tmp_path, SOFTMAX_DRIVER, ["softmax.c", "parallel.c"]), "softmax OK", timeout=120)


# --------------------------------------------------------------------------- GlobalAveragePool of small planes


@needs_native
@pytest.mark.parametrize("shape", [(1, 5, 7, 7), (2, 3, 1, 1), (1, 4, 15, 17), (1, 3, 16, 16), (3, 9, 5), (1, 3, 2, 9)])
def test_global_average_pool_of_small_and_odd_planes_matches_a_double_mean(shape):
    from providers.cpu.native import pool as nat_pool

    x = randn(*shape)
    x.reshape(-1, x[0, 0].size)[1, 0] = np.nan  # plane 1 holds a NaN
    x.reshape(-1, x[0, 0].size)[2, -1] = np.inf
    got = nat_pool.GlobalAveragePool(x)
    want = x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6, atol=1e-7)


@needs_native
def test_global_average_pool_of_small_planes_gives_the_same_bits_on_1_2_and_3_threads():
    from providers.cpu.native import pool as nat_pool

    x = randn(1, 6000, 7, 7)
    results = []
    for count in (1, 2, 3):
        with intra_op_thread_limit(count):
            jobs = library.LIB.ep_pool_jobs()
            results.append(nat_pool.GlobalAveragePool(x))
            assert (library.LIB.ep_pool_jobs() > jobs) == (count > 1), "the call should be split over threads"
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])


# --------------------------------------------------------------------------- 2x2 stride-2 pooling


@needs_native
@pytest.mark.parametrize("shape", [(1, 200, 2, 96), (2, 3, 5, 7), (1, 4, 9, 2), (1, 2, 1, 6), (3, 1, 4, 4)])
@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_2x2_stride_2_pooling_matches_the_numpy_kernels(shape, ceil_mode):
    from providers.cpu import pool as ref_pool
    from providers.cpu.native import pool as nat_pool

    x = randn(*shape)
    flat = x.reshape(-1)
    flat[::7] = np.nan
    flat[3::11] = np.inf
    flat[5::13] = -np.inf
    geometry = dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=ceil_mode)
    if shape[2] < 2:
        geometry["pads"] = [1, 0, 0, 0]  # a 1-row input needs a pad for a 2-row window
    with np.errstate(invalid="ignore"):
        want_max = ref_pool.MaxPool(x, **geometry)[0]
        want_avg = ref_pool.AveragePool(x, **geometry)
    np.testing.assert_array_equal(nat_pool.MaxPool(x, **geometry)[0], want_max)
    np.testing.assert_allclose(nat_pool.AveragePool(x, **geometry), want_avg, rtol=1e-6, atol=1e-6)


@needs_native
def test_2x2_stride_2_pooling_gives_the_same_bits_on_1_2_and_3_threads():
    from providers.cpu.native import pool as nat_pool

    x = randn(1, 64, 112, 112)
    results = []
    for count in (1, 2, 3):
        with intra_op_thread_limit(count):
            jobs = library.LIB.ep_pool_jobs()
            results.append(nat_pool.MaxPool(x, kernel_shape=[2, 2], strides=[2, 2])[0])
            assert (library.LIB.ep_pool_jobs() > jobs) == (count > 1), "the call should be split over threads"
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])


# --------------------------------------------------------------------------- ReduceMean without np.mean's wrapper


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axes,keepdims", [((1, 3), [1], 1), ((4, 5, 6), [0, -1], 0), ((7,), None, 0),
                                                 ((7,), None, 1), ((2, 1000), [1], 1), ((3, 0, 2), [2], 1)])
def test_reduce_mean_gives_the_bits_of_np_mean(dtype, shape, axes, keepdims):
    from providers.cpu import reduce as ref_reduce

    x = randn(*shape).astype(dtype)
    if x.size > 3:
        x.reshape(-1)[0] = np.nan
    got = ref_reduce.reduce(ref_reduce.REDUCERS["ReduceMean"], x, axes, keepdims, 0, "ReduceMean")
    want = np.mean(x, axis=None if axes is None else tuple(a % x.ndim for a in axes), keepdims=bool(keepdims))
    assert got.dtype == x.dtype and got.shape == np.shape(want)
    np.testing.assert_array_equal(got, want)
