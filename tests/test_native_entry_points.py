"""The extension's direct entry points of the pooling and GEMM kernels (csrc/pyentry.c: global_pool_f32,
pool3d_f32, sgemm_f32): a buffer of the wrong size, dtype or layout, overlapping buffers or a geometry out of
range are a ValueError (never a read or write past a buffer); the nodes that call them give the numpy
kernels' answers; the small products with a constant B that the packed GEMM does not take run numpy
straight (gemm.small_product), with the numpy kernel's bits."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from providers.cpu import matmul as ref_matmul
from providers.cpu import pool as ref_pool
from providers.cpu.native import gemm as nat_gemm
from providers.cpu.native import library
from providers.cpu.native import pool as nat_pool
from tests.helpers.models import F, const, make_model
from tests.helpers.native import build_driver, run_driver

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.skipif(nat_pool.POOL3D_F32 is None or nat_gemm.SGEMM_F32 is None,
                                 reason=f"native entry points not built: {library.UNAVAILABLE_REASON}")]
RNG = np.random.default_rng(11)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def geometry(d=1, h=5, w=6, k=(1, 2, 2), s=(1, 2, 2), dil=(1, 1, 1), begin=(0, 0, 0), end=(0, 0, 0), out=None):
    """ep_pool3d_f32's 21 geometry values (the output extents of the floor rule unless given)."""
    ins = (d, h, w)
    if out is None:
        out = tuple((i + b + e - (kk - 1) * dd - 1) // ss + 1
                    for i, kk, ss, dd, b, e in zip(ins, k, s, dil, begin, end))
    return np.array([*ins, *k, *s, *dil, *begin, *end, *out], dtype=np.int64), out


# --------------------------------------------------------------------------- global_pool_f32


def test_global_pool_entry_pools_each_plane():
    x = randn(6, 37)
    x[2, 5] = np.nan
    y = np.empty(6, np.float32)
    assert nat_pool.GLOBAL_POOL_F32(x, y, 6, 37, library.POOL_MAX, 1) == 0
    np.testing.assert_array_equal(y, x.max(axis=1))
    assert nat_pool.GLOBAL_POOL_F32(x, y, 6, 37, library.POOL_AVG, 1) == 0
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=1), rtol=1e-6)
    assert np.isnan(y[2])


@pytest.mark.parametrize("case", ["x short", "x long", "y short", "x float64", "y read-only", "x strided",
                                  "overlap", "planes 0", "size -1", "mode 2", "y float16"])
def test_global_pool_entry_rejects_bad_buffers_and_sizes(case):
    x, y = randn(4, 10), np.empty(4, np.float32)
    planes, size, mode = 4, 10, library.POOL_AVG
    if case == "x short":
        x = randn(39)
    elif case == "x long":
        x = randn(41)
    elif case == "y short":
        y = np.empty(3, np.float32)
    elif case == "x float64":
        x = x.astype(np.float64)
    elif case == "y read-only":
        y.flags.writeable = False
    elif case == "x strided":
        x = randn(4, 20)[:, ::2]
    elif case == "overlap":
        buf = randn(44)
        x, y = buf[:40], buf[36:40]
    elif case == "planes 0":
        planes = 0
    elif case == "size -1":
        size = -1
    elif case == "mode 2":
        mode = library.POOL_AVG_INCLUDE_PAD
    elif case == "y float16":
        y = np.empty(4, np.float16)
    with pytest.raises(ValueError):
        nat_pool.GLOBAL_POOL_F32(x, y, planes, size, mode, 1)


def test_global_pool_entry_wants_its_six_arguments():
    with pytest.raises(TypeError, match="6 arguments"):
        nat_pool.GLOBAL_POOL_F32(randn(4), np.empty(1, np.float32), 1, 4, 0)
    with pytest.raises(TypeError):
        nat_pool.GLOBAL_POOL_F32(randn(4), np.empty(1, np.float32), 1, "4", 0, 1)


# --------------------------------------------------------------------------- pool3d_f32


def test_pool3d_entry_matches_the_numpy_max_pool():
    x = randn(3, 1, 5, 6)
    geo, out = geometry()
    y = np.empty((3,) + out[1:], np.float32)
    assert nat_pool.POOL3D_F32(x, y, 3, geo, library.POOL_MAX, 1) == 0
    np.testing.assert_array_equal(y[None], ref_pool.MaxPool(x.reshape(1, 3, 5, 6), kernel_shape=[2, 2],
                                                            strides=[2, 2])[0])


@pytest.mark.parametrize("case", ["x short", "x long", "y short", "y long", "geo 20 values", "geo int32",
                                  "geo float64", "kernel 0", "stride 0", "dilation 0", "pad -1", "out -1",
                                  "overlap", "planes 0", "mode 3", "absurd extent", "x float64"])
def test_pool3d_entry_rejects_bad_buffers_and_geometries(case):
    geo, out = geometry()
    x, y = randn(2, 5, 6), np.empty((2,) + out[1:], np.float32)
    planes, mode = 2, library.POOL_MAX
    if case == "x short":
        x = randn(2 * 30 - 1)
    elif case == "x long":
        x = randn(2 * 30 + 1)
    elif case == "y short":
        y = np.empty(2 * 6 - 1, np.float32)
    elif case == "y long":
        y = np.empty(2 * 6 + 1, np.float32)
    elif case == "geo 20 values":
        geo = geo[:20].copy()
    elif case == "geo int32":
        geo = geo.astype(np.int32)
    elif case == "geo float64":
        geo = geo.astype(np.float64)
    elif case == "kernel 0":
        geo[4] = 0
    elif case == "stride 0":
        geo[7] = 0
    elif case == "dilation 0":
        geo[10] = 0
    elif case == "pad -1":
        geo[13] = -1
    elif case == "out -1":
        geo[19] = -1
    elif case == "overlap":
        buf = randn(80)
        x, y = buf[:60], buf[50:62]
    elif case == "planes 0":
        planes = 0
    elif case == "mode 3":
        mode = 3
    elif case == "absurd extent":
        geo[1] = geo[2] = 1 << 40  # the input a geometry implies: far past any buffer
    elif case == "x float64":
        x = x.astype(np.float64)
    with pytest.raises(ValueError):
        nat_pool.POOL3D_F32(x, y, planes, geo, mode, 1)


def test_pool3d_entry_takes_output_extents_past_the_padded_input_without_reading_past_x():
    """A geometry whose outputs reach past the input and its pads (more than ceil_mode gives) reads only x:
    those windows have no taps (-inf for the max, 0 for the average)."""
    geo, out = geometry(h=4, w=5, k=(1, 2, 2), s=(1, 2, 2), out=(1, 4, 5))
    x = randn(3, 4, 5)
    y = np.empty((3, 4, 5), np.float32)
    assert nat_pool.POOL3D_F32(x, y, 3, geo, library.POOL_MAX, 1) == 0
    np.testing.assert_array_equal(y[:, :2, :2], ref_pool.MaxPool(x[None], kernel_shape=[2, 2], strides=[2, 2])[0][0])
    assert np.all(y[:, 2:, :] == -np.inf) and np.all(y[:, :, 3:] == -np.inf)
    assert nat_pool.POOL3D_F32(x, y, 3, geo, library.POOL_AVG, 1) == 0
    assert np.all(y[:, 2:, :] == 0) and np.all(y[:, :, 3:] == 0)


# --------------------------------------------------------------------------- pooling nodes

POOLS = [  # (op, attrs, shape)
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2]), (1, 7, 9, 13)),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), (2, 3, 11, 10)),
    ("MaxPool", dict(kernel_shape=[3, 2], strides=[1, 3], pads=[1, 0, 2, 1], dilations=[2, 1]), (1, 5, 12, 17)),
    ("MaxPool", dict(kernel_shape=[5], strides=[1], pads=[2, 2]), (2, 3, 19)),
    ("MaxPool", dict(kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[0, 1, 0, 1, 1, 0]), (1, 2, 5, 7, 6)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), (1, 6, 9, 11)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
     (1, 6, 9, 11)),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), (2, 4, 7, 7)),
    ("AveragePool", dict(kernel_shape=[7, 7]), (1, 9, 7, 7)),  # the whole map: the global kernel
    # 3-D pools of one slice with depth pads: output slices of padding only (-inf / 0), read nothing
    ("MaxPool", dict(kernel_shape=[1, 2, 2], strides=[1, 2, 2], pads=[1, 0, 0, 1, 0, 0]), (1, 2, 1, 6, 7)),
    ("MaxPool", dict(kernel_shape=[1, 3, 3], strides=[2, 2, 2], pads=[2, 0, 0, 0, 0, 0], ceil_mode=1), (1, 3, 1, 9, 8)),
    ("AveragePool", dict(kernel_shape=[1, 2, 2], strides=[1, 2, 2], pads=[1, 0, 0, 1, 0, 0]), (1, 2, 1, 6, 7)),
]


@pytest.mark.parametrize("op, attrs, shape", POOLS, ids=lambda v: str(v))
def test_pooling_nodes_give_the_numpy_kernels_answer(op, attrs, shape):
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", F, list(shape))], [("y", F, None)],
                       opset=19)
    sess = ep.InferenceSession(model.SerializeToString(), providers=["cpu"])
    reference = ref_pool.MaxPool if op == "MaxPool" else ref_pool.AveragePool
    for nan in (False, True):
        x = randn(*shape)
        if nan:
            x.reshape(-1)[::5] = np.nan
        want = reference(x, **attrs)
        want = want[0] if isinstance(want, tuple) else want
        got = sess.run(None, {"x": x})[0]
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        if op == "MaxPool":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(1, 512, 7, 7), (2, 3, 5), (1, 4, 3, 2, 5)], ids=str)
def test_global_pooling_nodes_give_the_numpy_kernels_answer(op, shape):
    model = make_model([helper.make_node(op, ["x"], ["y"])], [("x", F, list(shape))], [("y", F, None)])
    sess = ep.InferenceSession(model.SerializeToString(), providers=["cpu"])
    x = randn(*shape)
    x.reshape(shape[0] * shape[1], -1)[1, -1] = np.nan
    got = sess.run(None, {"x": x})[0]
    want = getattr(ref_pool, op)(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pool_nodes_take_a_non_contiguous_input():
    x = randn(1, 4, 10, 12)[:, :, :, ::2]
    node = nat_pool.max_pool_node(kernel_shape=[2, 2], strides=[2, 2])
    np.testing.assert_array_equal(node(x)[0], ref_pool.MaxPool(np.ascontiguousarray(x), kernel_shape=[2, 2],
                                                               strides=[2, 2])[0])
    np.testing.assert_array_equal(nat_pool.global_max_pool_node()(x), ref_pool.GlobalMaxPool(x))


# --------------------------------------------------------------------------- sgemm_f32


def packed(b: np.ndarray) -> tuple[np.ndarray, int]:
    nr = nat_gemm.SGEMM_NR()
    return nat_gemm.pack_b(b, nr), nr


def test_sgemm_entry_multiplies_with_and_without_bias():
    a, b, bias = randn(5, 70), randn(70, 45), randn(45)
    bp, nr = packed(b)
    y = np.empty((5, 45), np.float32)
    assert nat_gemm.SGEMM_F32(a, bp, nr, bias, y, 5, 45, 70, 1) == 0
    np.testing.assert_allclose(y, a @ b + bias, rtol=1e-4, atol=1e-4)
    assert nat_gemm.SGEMM_F32(a, bp, nr, None, y, 5, 45, 70, 1) == 0
    np.testing.assert_allclose(y, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", ["a short", "a long", "y short", "bias short", "bias float64", "bp short", "nr",
                                  "y overlaps a", "y overlaps bias", "y read-only", "rows 0", "k 0", "a strided",
                                  "bp float64"])
def test_sgemm_entry_rejects_bad_buffers_and_sizes(case):
    rows, n, k = 3, 40, 20
    a, b, bias = randn(rows, k), randn(k, n), randn(n)
    bp, nr = packed(b)
    y = np.empty((rows, n), np.float32)
    if case == "a short":
        a = randn(rows * k - 1)
    elif case == "a long":
        a = randn(rows * k + 1)
    elif case == "y short":
        y = np.empty(rows * n - 1, np.float32)
    elif case == "bias short":
        bias = randn(n - 1)
    elif case == "bias float64":
        bias = bias.astype(np.float64)
    elif case == "bp short":
        bp = bp[:-1]
    elif case == "nr":
        nr = nr * 2
    elif case == "y overlaps a":
        buf = randn(rows * n + rows * k)
        y, a = buf[:rows * n], buf[rows * n - 1:rows * n - 1 + rows * k]
    elif case == "y overlaps bias":
        buf = randn(rows * n)
        y, bias = buf, buf[:n]
    elif case == "y read-only":
        y.flags.writeable = False
    elif case == "rows 0":
        rows = 0
    elif case == "k 0":
        k = 0
    elif case == "a strided":
        a = randn(rows, 2 * k)[:, ::2]
    elif case == "bp float64":
        bp = bp.astype(np.float64)
    with pytest.raises(ValueError):
        nat_gemm.SGEMM_F32(a, bp, nr, bias, y, rows, n, k, 1)


# --------------------------------------------------------------------------- Gemm and MatMul nodes


def gemm_session(b: np.ndarray, c: np.ndarray | None, trans_b: int, k: int) -> ep.InferenceSession:
    inits = [const("B", b)] + ([] if c is None else [const("C", c)])
    node = helper.make_node("Gemm", ["A", "B"] + ([] if c is None else ["C"]), ["Y"], transB=trans_b)
    model = make_model([node], [("A", F, ["rows", k])], [("Y", F, None)], inits, opset=13)
    return ep.InferenceSession(model.SerializeToString(), providers=["cpu"])


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias", [None, (1,), (2,)], ids=["no-bias", "bias-n", "bias-1xn"])
@pytest.mark.parametrize("k, n", [(1280, 4), (257, 300)])
def test_gemm_nodes_with_a_constant_b_match_the_numpy_kernel_on_1_to_48_rows(trans_b, bias, k, n):
    b = randn(n, k) if trans_b else randn(k, n)
    c = None if bias is None else randn(n) if bias == (1,) else randn(1, n)
    sess = gemm_session(b, c, trans_b, k)
    for rows in (1, 2, 3, 7, 17, 48, 49):
        a = randn(rows, k)
        a[0, rows % k] = np.nan
        got = sess.run(None, {"A": a})[0]
        want = ref_matmul.Gemm(a, b, c, transB=trans_b)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        if rows == 1:  # numpy straight (small_product): the numpy kernel's operations
            np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("a_shape", [(1, 1280), (1, 1, 1280), (2, 1, 1280), (3, 1280), (1, 5, 1280)], ids=str)
def test_matmul_nodes_with_a_constant_b_match_the_numpy_kernel(a_shape):
    b = randn(1280, 64)
    model = make_model([helper.make_node("MatMul", ["A", "B"], ["Y"])], [("A", F, list(a_shape))],
                       [("Y", F, None)], [const("B", b)])
    sess = ep.InferenceSession(model.SerializeToString(), providers=["cpu"])
    a = randn(*a_shape)
    a.reshape(-1)[3] = np.nan
    got = sess.run(None, {"A": a})[0]
    want = ref_matmul.MatMul(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_small_product_takes_only_what_numpy_runs_alike():
    a, b, c = randn(1, 64), randn(64, 8), randn(8)
    np.testing.assert_array_equal(nat_gemm.small_product(a, b, c, False), ref_matmul.Gemm(a, b, c))
    np.testing.assert_array_equal(nat_gemm.small_product(a[None], b, None, True), ref_matmul.MatMul(a[None], b))
    assert nat_gemm.small_product(a[None], b, None, False) is None  # Gemm's A must be 2-D: the numpy kernel says so
    assert nat_gemm.small_product(a, b[:-1], None, True) is None  # a shape error: the numpy kernel reports it
    assert nat_gemm.small_product(a, b, randn(2, 8), False) is None  # C of another shape: the numpy kernel's
    assert nat_gemm.small_product(a.astype(np.float64), b, None, True) is None
    assert nat_gemm.small_product(randn(64, 1024), randn(1024, 64), None, True) is None  # large: small_gemm's


def test_a_gemm_node_with_a_3d_a_and_no_c_is_still_a_clear_error():
    node = helper.make_node("Gemm", ["A", "B"], ["Y"])
    model = make_model([node], [("A", F, None)], [("Y", F, None)], [const("B", randn(16, 4))], opset=13)
    sess = ep.InferenceSession(model.SerializeToString(), providers=["cpu"])
    with pytest.raises(Exception, match="2-D"):
        sess.run(None, {"A": randn(1, 2, 16)})


# --------------------------------------------------------------------------- any geometry the entry takes

POOL_GEOMETRY_DRIVER = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "ep_native.h"

static unsigned long long state = 88172645463325252ULL;
static int64_t pick(int64_t lo, int64_t hi) { /* lo..hi */
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return lo + (int64_t)(state % (unsigned long long)(hi - lo + 1));
}

int main(void) {
    for (int it = 0; it < 6000; it++) {
        int64_t geo[21];
        const int rank = (int)pick(1, 3);
        for (int a = 0; a < 3; a++) {
            const int used = a >= 3 - rank; /* a leading axis of a 1-D or 2-D pool: one slice, one tap */
            const int64_t n = used ? (pick(0, 3) ? pick(1, 9) : pick(10, 40)) : 1;
            const int64_t k = used ? pick(1, 4) : 1, s = used ? pick(1, 3) : 1, d = used ? pick(1, 2) : 1;
            /* pads on unused axes too: a 3-D pool of one slice with depth pads */
            const int64_t p0 = pick(0, 3), p1 = pick(0, 3);
            const int64_t span = n + p0 + p1 - (k - 1) * d - 1;
            const int64_t rule = span >= 0 ? span / s + 1 : 0;
            /* any output extent the entry takes: below the floor rule's, at it, or up to 3 past it */
            const int64_t o = pick(0, 4) == 0 ? pick(0, rule + 3) : rule + pick(0, 3);
            geo[a] = n, geo[3 + a] = k, geo[6 + a] = s, geo[9 + a] = d, geo[12 + a] = p0, geo[15 + a] = p1;
            geo[18 + a] = o;
        }
        const int64_t planes = pick(1, 3), mode = pick(0, 2), threads = pick(0, 1) ? 3 : 1;
        const int64_t nx = planes * geo[0] * geo[1] * geo[2], ny = planes * geo[18] * geo[19] * geo[20];
        float *x = malloc((size_t)nx * sizeof(float)), *y = malloc((size_t)(ny ? ny : 1) * sizeof(float));
        for (int64_t i = 0; i < nx; i++) x[i] = pick(0, 30) == 0 ? NAN : (float)pick(-50, 50);
        const int rc = ep_pool3d_f32(x, y, planes, geo, (int)mode, threads);
        if (rc != 0) {
            printf("iteration %d: rc %d\n", it, rc);
            return 1;
        }
        free(x);
        free(y);
    }
    printf("ok\n");
    return 0;
}
"""


def test_pool3d_reads_and_writes_only_its_buffers_for_any_geometry_the_entry_takes(tmp_path):
    """pool3d_f32 checks the buffers' sizes against the geometry but takes any output extent (at, below or past
    the padded input's): under AddressSanitizer, the kernel on exactly sized buffers for random such geometries
    (among them one-slice 3-D pools with depth pads, whose pad-only output slices the 2-D paths read past x)."""
    run_driver(build_driver(tmp_path, POOL_GEOMETRY_DRIVER, ["parallel.c", "pool.c"]), "ok")
