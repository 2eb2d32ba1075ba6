"""The native pooling kernels (providers/cpu/native/csrc/pool.c): equal to the numpy kernels over 1-D,
2-D and 3-D windows (max bit for bit, NaN included; the average to float rounding), the same bits on
1, 2 and 3 threads, run per node through the registry, and safe on degenerate calls."""

from __future__ import annotations

import ctypes
import itertools

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import pool as ref_pool
from providers.cpu.native import library
from providers.cpu.native import pool as nat_pool
from tests.helpers.models import F, make_model

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}")]
RNG = np.random.default_rng(5)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def with_specials(x: np.ndarray, every: int = 7) -> np.ndarray:
    """x with NaN, +-inf and huge values scattered through it (not only at its start)."""
    flat = x.reshape(-1)
    specials = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, -0.0], dtype=np.float32)
    flat[::every] = np.resize(specials, flat[::every].size)
    return x


#: (kernel, strides, dilations, pads, ceil_mode) per rank: odd sizes, strides 1-3, dilations, asymmetric pads
GEOMETRIES_2D = [
    ([3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 0),
    ([5, 5], [1, 1], [1, 1], [2, 2, 2, 2], 0),        # yolo's SPPF
    ([2, 2], [2, 2], [1, 1], [0, 0, 0, 0], 0),        # crnn / captcha
    ([2, 2], [2, 1], [1, 1], [0, 1, 0, 1], 0),        # crnn's (2, 1) stride
    ([3, 3], [2, 2], [1, 1], [0, 0, 0, 0], 1),        # squeezenet / inception, ceil_mode
    ([3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 1),
    ([3, 2], [3, 2], [2, 1], [1, 0, 2, 1], 0),
    ([4, 3], [1, 3], [1, 2], [0, 2, 3, 1], 1),
    ([2, 2], [2, 2], [1, 1], [0, 0, 0, 0], 1),        # 2x2 with a ceil_mode column past the input
    ([1, 1], [1, 1], [1, 1], [0, 0, 0, 0], 0),
]
SHAPES_2D = [(1, 3, 13, 11), (2, 5, 7, 33), (1, 2, 1, 17), (1, 4, 30, 80)]


def attrs_of(kernel, strides, dilations, pads, ceil_mode) -> dict:
    return dict(kernel_shape=kernel, strides=strides, dilations=dilations, pads=pads, ceil_mode=ceil_mode)


def too_small(shape, attrs) -> bool:
    """Whether the window is larger than the padded input: then both kernels refuse it alike."""
    x = randn(*shape)
    try:
        ref_pool.MaxPool(x, **attrs)
    except ValueError as exc:
        with pytest.raises(ValueError, match="larger than the padded input"):
            nat_pool.MaxPool(x, **attrs)
        assert "larger than the padded input" in str(exc)
        return True
    return False


@pytest.mark.parametrize("geometry", GEOMETRIES_2D, ids=lambda g: "k{}s{}d{}p{}c{}".format(*g))
@pytest.mark.parametrize("shape", SHAPES_2D, ids=str)
def test_native_max_pool_gives_the_numpy_kernels_bits(geometry, shape):
    attrs = attrs_of(*geometry)
    if too_small(shape, attrs):
        return
    for x in (randn(*shape), with_specials(randn(*shape))):
        want = ref_pool.MaxPool(x, **attrs)[0]
        got = nat_pool.pool(x, library.POOL_MAX, **attrs)
        assert got is not None
        np.testing.assert_array_equal(got, want)  # NaN where the numpy kernel has NaN


@pytest.mark.parametrize("geometry", GEOMETRIES_2D, ids=lambda g: "k{}s{}d{}p{}c{}".format(*g))
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_native_average_pool_matches_the_numpy_kernel(geometry, count_include_pad):
    attrs = attrs_of(*geometry)
    for shape in SHAPES_2D:
        if too_small(shape, attrs):
            continue
        x = randn(*shape)
        want = ref_pool.AveragePool(x, count_include_pad=count_include_pad, **attrs)
        got = nat_pool.AveragePool(x, count_include_pad=count_include_pad, **attrs)
        assert nat_pool.pool(x, library.POOL_AVG, **attrs) is not None
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_native_average_pool_at_stride_1_sums_in_the_numpy_kernels_order():
    """Rows first, then columns, as the numpy kernel adds: with huge values in a window the sums
    cancel the same way (another order would leave a different remainder)."""
    x = randn(2, 3, 14, 14) * 10
    x[:, :, ::3, ::4] = 1e30
    x[:, :, 1::3, 2::4] = -1e30
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    want = ref_pool.AveragePool(x, **attrs)
    np.testing.assert_allclose(nat_pool.AveragePool(x, **attrs), want, rtol=1e-6)


@pytest.mark.parametrize("geometry", [
    ([3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1, 1, 1, 1], 0),
    ([2, 2, 2], [2, 2, 2], [1, 1, 1], [0, 0, 0, 0, 0, 0], 0),
    ([3, 2, 3], [2, 1, 2], [2, 1, 1], [1, 0, 1, 2, 1, 0], 1),
    ([1, 3, 3], [1, 2, 2], [1, 1, 1], [0, 1, 1, 0, 1, 1], 0),
], ids=str)
def test_native_3d_pools_match_the_numpy_kernels(geometry):
    attrs = attrs_of(*geometry)
    x = randn(2, 3, 7, 9, 10)
    got = nat_pool.pool(x, library.POOL_MAX, **attrs)
    assert got is not None  # 3-D windows ran on numpy before
    np.testing.assert_array_equal(got, ref_pool.MaxPool(x, **attrs)[0])
    x = with_specials(x, every=11)
    np.testing.assert_array_equal(nat_pool.MaxPool(x, **attrs)[0], ref_pool.MaxPool(x, **attrs)[0])
    x = randn(2, 3, 7, 9, 10)
    for cip in (0, 1):
        np.testing.assert_allclose(nat_pool.AveragePool(x, count_include_pad=cip, **attrs),
                                   ref_pool.AveragePool(x, count_include_pad=cip, **attrs), rtol=1e-6, atol=1e-7)


def test_native_1d_pools_match_the_numpy_kernels():
    for (k, s, d, p, c), n in itertools.product([(3, 2, 1, [1, 1], 0), (5, 1, 2, [4, 0], 1), (2, 3, 1, [0, 1], 1)],
                                                [9, 16, 37]):
        attrs = attrs_of([k], [s], [d], p, c)
        x = with_specials(randn(2, 3, n), every=5)
        np.testing.assert_array_equal(nat_pool.MaxPool(x, **attrs)[0], ref_pool.MaxPool(x, **attrs)[0])
        x = randn(2, 3, n)
        np.testing.assert_allclose(nat_pool.AveragePool(x, **attrs), ref_pool.AveragePool(x, **attrs),
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", [library.POOL_MAX, library.POOL_AVG, library.POOL_AVG_INCLUDE_PAD])
@pytest.mark.parametrize("geometry", [GEOMETRIES_2D[0], GEOMETRIES_2D[2], GEOMETRIES_2D[4], GEOMETRIES_2D[6]],
                         ids=str)
def test_native_pools_give_the_same_bits_on_1_2_and_3_threads(mode, geometry):
    attrs = attrs_of(*geometry)
    x = with_specials(randn(3, 37, 29, 31), every=997)
    outs = []
    for threads in (1, 2, 3):
        with intra_op_thread_limit(threads):
            outs.append(nat_pool.pool(x, mode, **attrs))
    assert outs[0] is not None
    for other in outs[1:]:
        np.testing.assert_array_equal(other, outs[0])


def test_what_the_c_kernel_does_not_take_runs_on_numpy():
    absurd = dict(kernel_shape=[3, 3], strides=[2**40, 2**40], pads=[0, 0, 2**41, 2**41])
    x = randn(1, 2, 6, 6)
    assert nat_pool.pool(x, library.POOL_MAX, **absurd) is None
    np.testing.assert_array_equal(nat_pool.MaxPool(x, **absurd)[0], ref_pool.MaxPool(x, **absurd)[0])
    assert nat_pool.pool(np.zeros((0, 2, 6, 6), np.float32), library.POOL_MAX, kernel_shape=[3, 3]) is None
    x4 = randn(1, 1, 3, 3, 3, 3)
    assert nat_pool.pool(x4, library.POOL_MAX, kernel_shape=[2, 2, 2, 2]) is None
    np.testing.assert_array_equal(nat_pool.MaxPool(x4, kernel_shape=[2, 2, 2, 2])[0],
                                  ref_pool.MaxPool(x4, kernel_shape=[2, 2, 2, 2])[0])


def test_the_c_entry_points_take_degenerate_calls_without_crashing():
    """No planes, or a geometry the C code does not take, returns instead of dividing by zero or
    reading out of bounds (ep_global_pool_f32 with no planes divided by zero before)."""
    lib = library.LIB
    buf = np.zeros(64, np.float32)
    p = buf.ctypes.data
    assert lib.ep_global_pool_f32(p, p, 0, 5, library.POOL_AVG, 1) == 0
    geo = np.array([1, 4, 4, 1, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 3, 3], dtype=np.int64)
    assert lib.ep_pool3d_f32(p, p, 0, geo.ctypes.data, library.POOL_MAX, 1) == 0
    for bad in ((4, 0), (7, -1), (13, -2)):  # kernel 0, stride -1, a negative pad
        g = geo.copy()
        g[bad[0]] = bad[1]
        assert lib.ep_pool3d_f32(p, p, 1, g.ctypes.data, library.POOL_MAX, 1) == -3
    assert lib.ep_pool3d_f32(p, p, 1, geo.ctypes.data, 7, 1) == -2
    assert isinstance(lib.ep_pool3d_f32.restype(), ctypes.c_int)


def pool_model(op: str, shape: list, **attrs) -> bytes:
    node = helper.make_node(op, ["x"], ["y"], name="pool", **attrs)
    return make_model([node], [("x", F, shape)], [("y", F, None)]).SerializeToString()


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3, 3], strides=[2, 2, 2], pads=[1, 1, 1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[2, 3], strides=[1, 2], ceil_mode=1, count_include_pad=1)),
])
def test_pooling_nodes_run_natively_and_keep_one_plan_per_input_shape(op, attrs):
    """The node kernel prepares the C call once per input shape: inputs of changing shapes (a free
    dimension) each get their own geometry, and every run equals the numpy kernel."""
    rank = len(attrs["kernel_shape"])
    sess = ep.InferenceSession(pool_model(op, ["n", 3] + ["s"] * rank, **attrs), providers=["cpu"])
    assert any("kernel native" in note for d in sess.get_partition().decisions for note in d.notes)
    ref = ref_pool.MaxPool if op == "MaxPool" else ref_pool.AveragePool
    for size in (9, 12, 9, 5):
        x = randn(*([2, 3] + [size] * rank))
        (got,) = sess.run(None, {"x": x})
        want = ref(x, **attrs)
        want = want[0] if isinstance(want, tuple) else want
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_the_node_kernel_hands_other_dtypes_and_empty_inputs_to_numpy():
    run = nat_pool.max_pool_node(kernel_shape=[2, 2], strides=[2, 2])
    x64 = RNG.standard_normal((1, 2, 4, 4))
    np.testing.assert_array_equal(run(x64)[0], ref_pool.MaxPool(x64, kernel_shape=[2, 2], strides=[2, 2])[0])
    empty = np.zeros((0, 2, 4, 4), np.float32)
    assert run(empty)[0].shape == (0, 2, 2, 2)
    avg = nat_pool.average_pool_node(kernel_shape=[3], count_include_pad=1, pads=[1, 1])
    x = randn(1, 2, 5)
    np.testing.assert_allclose(avg(x), ref_pool.AveragePool(x, kernel_shape=[3], count_include_pad=1, pads=[1, 1]),
                               rtol=1e-6)


#: max pools the C kernel folds straight from the input rows, without a frame row: stride 2 along x
#: with 2 or 3 taps and no left pad (captcha's, squeezenet's 3x3 s2 ceil_mode), and one tap along x
#: (crnn's 2x1) — with pads at the top, bottom and right, a vertical dilation and ceil_mode
FRAMELESS_MAX = [
    ([3, 3], [2, 2], [1, 1], [0, 0, 0, 0], 1),
    ([3, 3], [2, 2], [1, 1], [1, 0, 2, 3], 0),
    ([2, 3], [1, 2], [2, 1], [0, 0, 1, 0], 1),
    ([3, 2], [2, 2], [1, 1], [0, 0, 0, 1], 1),
    ([2, 2], [2, 2], [1, 1], [1, 0, 0, 0], 0),
    ([2, 1], [2, 1], [1, 1], [0, 0, 0, 0], 0),
    ([3, 1], [1, 1], [1, 1], [1, 0, 1, 0], 1),
    ([2, 1], [3, 1], [2, 1], [0, 0, 2, 0], 0),
]
FRAMELESS_SHAPES = [(1, 64, 30, 80), (2, 3, 9, 33), (1, 5, 4, 1), (1, 3, 7, 2), (1, 2, 5, 31), (3, 2, 8, 32)]


@pytest.mark.parametrize("geometry", FRAMELESS_MAX, ids=lambda g: "k{}s{}d{}p{}c{}".format(*g))
def test_frameless_max_pools_give_the_numpy_kernels_bits(geometry):
    """Every value as numpy has it, bit for bit (NaN included): blocks past a row's end, rows near the
    end of the tensor, and a single NaN anywhere in a call (which sends it to the general path)."""
    attrs = attrs_of(*geometry)
    for shape in FRAMELESS_SHAPES:
        if too_small(shape, attrs):
            continue
        one_nan = randn(*shape)
        one_nan.reshape(-1)[RNG.integers(one_nan.size)] = np.nan
        for x in (randn(*shape), with_specials(randn(*shape), every=13), one_nan):
            want = ref_pool.MaxPool(x, **attrs)[0]
            got = nat_pool.pool(x, library.POOL_MAX, **attrs)
            assert got is not None
            np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("geometry", [FRAMELESS_MAX[0], FRAMELESS_MAX[3], FRAMELESS_MAX[5]], ids=str)
def test_frameless_max_pools_give_the_same_bits_on_1_2_and_3_threads(geometry):
    attrs = attrs_of(*geometry)
    for x in (randn(3, 37, 29, 31), with_specials(randn(3, 37, 29, 31), every=997)):
        outs = []
        for threads in (1, 2, 3):
            with intra_op_thread_limit(threads):
                outs.append(nat_pool.pool(x, library.POOL_MAX, **attrs))
        for other in outs[1:]:
            np.testing.assert_array_equal(other.view(np.int32), outs[0].view(np.int32))


# --------------------------------------------------------------------------- global pools

#: plane sizes around the C kernel's vector (16 values) and block (64 values) edges, and the models' maps
GLOBAL_PLANE_SIZES = [1, 2, 7, 15, 16, 17, 31, 48, 49, 63, 64, 65, 79, 127, 128, 196, 200, 784]


@pytest.mark.parametrize("size", GLOBAL_PLANE_SIZES)
def test_global_pools_of_every_plane_size_match_numpy_with_specials_in_neighbouring_planes(size):
    """The kernel reads a plane's last values as a whole vector that runs into the next planes (or a copy
    at the tensor's end): NaN, inf and huge values there must not leak into the plane before."""
    x = randn(3, 5, size)
    planes = x.reshape(15, size)
    planes[1, 0] = np.nan        # plane 0 reads into it; plane 1 is NaN
    planes[3, 0] = np.inf
    planes[5, 0] = -np.inf
    planes[7, 0] = 3e38
    planes[14, -1] = np.nan      # the tensor's last value: the copied tail
    planes[13, size // 2] = -np.nan
    got_max = nat_pool.GlobalMaxPool(x)
    np.testing.assert_array_equal(got_max, ref_pool.GlobalMaxPool(x))
    got = nat_pool.GlobalAveragePool(x)
    want = x.astype(np.float64).mean(axis=2, keepdims=True)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6, atol=1e-7)
    run_avg, run_max = nat_pool.global_average_pool_node(), nat_pool.global_max_pool_node()
    np.testing.assert_array_equal(run_avg(x), got)
    np.testing.assert_array_equal(run_max(x), got_max)


@pytest.mark.parametrize("shape", [(1, 96, 14, 14), (1, 576, 7, 7), (1, 16, 56, 56), (2, 3, 65, 129)])
def test_global_average_pool_is_at_least_as_accurate_as_numpys_float32_mean(shape):
    """Values far from zero (an offset of 1000) lose bits in float sums: against the exact mean, the
    kernel's largest and average errors stay within numpy's float32 mean's, and every mean within 2 ulp."""
    x = randn(*shape) + np.float32(1000)
    axes = tuple(range(2, x.ndim))
    exact = x.astype(np.float64).mean(axis=axes, keepdims=True)
    got_err = np.abs(nat_pool.GlobalAveragePool(x).astype(np.float64) - exact)
    numpy_err = np.abs(x.mean(axis=axes, keepdims=True).astype(np.float64) - exact)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert got_err.max() <= numpy_err.max() and got_err.mean() <= numpy_err.mean()
    assert np.all(got_err <= 2 * ulp)


def test_global_max_pool_keeps_infinities_signed_zeros_and_all_nan_planes():
    x = np.array([[[-np.inf] * 20, [-0.0] * 20, [np.nan] * 20, [-3e38] * 19 + [-np.inf]]], dtype=np.float32)
    got = nat_pool.GlobalMaxPool(x).reshape(-1)
    assert got[0] == -np.inf and got[1] == 0.0 and np.isnan(got[2]) and got[3] == np.float32(-3e38)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools_of_small_planes_give_the_same_bits_on_1_2_and_3_threads(op):
    x = with_specials(randn(1, 6000, 7, 7), every=97)
    results = []
    for count in (1, 2, 3):
        with intra_op_thread_limit(count):
            jobs = library.LIB.ep_pool_jobs()
            results.append(getattr(nat_pool, op)(x))
            assert (library.LIB.ep_pool_jobs() > jobs) == (count > 1), "the call should be split over threads"
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool_nodes_run_natively_per_input_shape_and_hand_the_rest_to_numpy(op):
    sess = ep.InferenceSession(make_model([helper.make_node(op, ["x"], ["y"], name="gp")],
                                          [("x", F, ["n", "c", "h", "w"])], [("y", F, None)]).SerializeToString(),
                               providers=["cpu"])
    assert any("kernel native" in note for d in sess.get_partition().decisions for note in d.notes)
    ref = getattr(ref_pool, op)
    for shape in [(1, 8, 7, 7), (2, 3, 14, 14), (1, 8, 7, 7), (1, 4, 1, 1)]:
        x = randn(*shape)
        (got,) = sess.run(None, {"x": x})
        np.testing.assert_allclose(got, ref(x), rtol=1e-6, atol=1e-7)
    run = nat_pool.global_average_pool_node() if op == "GlobalAveragePool" else nat_pool.global_max_pool_node()
    x64 = RNG.standard_normal((1, 2, 3, 3))
    np.testing.assert_array_equal(run(x64), ref(x64))
    assert run(np.zeros((0, 2, 4, 4), np.float32)).shape == (0, 2, 1, 1)
    with pytest.raises(ValueError, match=op):
        run(randn(2, 3))
