"""The native Resize / Upsample of the CPU provider (providers/cpu/native/resize.py, csrc/resize.c) against
the numpy kernel it overrides: nearest bit for bit, linear to float rounding, every coordinate mode it
takes, and a clean hand-over to numpy for everything else."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import resize as ref
from providers.cpu.native import library
from providers.cpu.native import resize as nat
from tests.helpers.models import F, const, make_model
from tests.helpers.native import build_driver, run_driver

needs_native = pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}")

NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
COORDINATE_MODES = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
                    "half_pixel_symmetric"]
#: (input shape, scales of the last two axes): odd sizes, up and down, integer and non-integer factors
GEOMETRIES = [((1, 3, 5, 7), (2.0, 2.0)), ((2, 3, 9, 4), (0.5, 0.6)), ((1, 2, 7, 11), (1.7, 2.3)),
              ((1, 4, 6, 5), (3.0, 1.0)), ((1, 2, 5, 13), (1.0, 0.4)), ((1, 3, 8, 8), (2.5, 0.75)),
              ((1, 1, 1, 9), (4.0, 1.5)), ((1, 2, 11, 3), (0.3, 3.0)), ((1, 5, 4, 4), (1.0, 1.01))]


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def full_scales(shape: tuple[int, ...], last_two: tuple[float, float]) -> np.ndarray:
    return np.array([1.0] * (len(shape) - 2) + list(last_two), dtype=np.float32)


def native(x, scales=None, sizes=None, roi=None, **attrs) -> np.ndarray:
    """The C kernel's result, asserting that it took the node."""
    y = nat.resize(x, scales, sizes, roi, **attrs)
    assert y is not None, "the native kernel should take this node"
    return y


def assert_linear_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@needs_native
@pytest.mark.parametrize("nearest_mode", NEAREST_MODES)
@pytest.mark.parametrize("ctm", COORDINATE_MODES)
def test_native_nearest_resize_gives_the_numpy_kernels_bits(nearest_mode, ctm):
    for shape, factors in GEOMETRIES:
        x = randn(*shape)
        scales = full_scales(shape, factors)
        want = ref.Resize_11(x, None, scales, None, mode="nearest", coordinate_transformation_mode=ctm,
                             nearest_mode=nearest_mode)
        got = native(x, scales, mode="nearest", coordinate_transformation_mode=ctm, nearest_mode=nearest_mode)
        assert got.shape == want.shape, (shape, factors)
        np.testing.assert_array_equal(got, want, err_msg=f"{shape} x {factors}")


@needs_native
@pytest.mark.parametrize("ctm", COORDINATE_MODES)
def test_native_linear_resize_matches_the_numpy_kernel(ctm):
    for shape, factors in GEOMETRIES:
        x = randn(*shape)
        scales = full_scales(shape, factors)
        want = ref.Resize_11(x, None, scales, None, mode="linear", coordinate_transformation_mode=ctm)
        assert_linear_close(native(x, scales, mode="linear", coordinate_transformation_mode=ctm), want)


@needs_native
@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_native_resize_from_sizes_and_axes_matches_the_numpy_kernel(mode, policy):
    x = randn(2, 3, 9, 14)
    for sizes in ([17, 5], [4, 28], [9, 7], [1, 1], [30, 31]):
        sizes = np.array(sizes, dtype=np.int64)
        want = ref.Resize(x, None, None, sizes, axes=[2, 3], keep_aspect_ratio_policy=policy, mode=mode,
                          coordinate_transformation_mode="half_pixel")
        got = native(x, None, sizes, None, axes=[-2, 3], keep_aspect_ratio_policy=policy, mode=mode,
                     coordinate_transformation_mode="half_pixel")
        if mode == "nearest":
            np.testing.assert_array_equal(got, want)
        else:
            assert_linear_close(got, want)
    full = np.array([2, 3, 5, 20], dtype=np.int64)  # sizes of every axis, only the last two changed
    np.testing.assert_array_equal(native(x, None, full, None, mode="nearest"),
                                  ref.Resize_11(x, None, None, full, mode="nearest"))


@needs_native
@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("shape", [(7, 6), (3, 7, 6), (2, 3, 7, 6), (2, 2, 3, 7, 6)])
def test_native_resize_takes_ranks_2_to_5_resizing_the_last_axes(mode, shape):
    x = randn(*shape)
    for factors in [(2.0, 2.0), (1.0, 1.5), (0.7, 1.0)]:
        scales = full_scales(shape, factors)
        want = ref.Resize_11(x, None, scales, None, mode=mode, coordinate_transformation_mode="asymmetric")
        got = native(x, scales, mode=mode, coordinate_transformation_mode="asymmetric")
        if mode == "nearest":
            np.testing.assert_array_equal(got, want)
        else:
            assert_linear_close(got, want)


@needs_native
@pytest.mark.parametrize("factors", [(2.0, 2.0), (3.0, 3.0), (2.0, 1.0), (1.0, 2.0), (4.0, 2.0), (2.0, 3.0)])
@pytest.mark.parametrize("width", [1, 7, 16, 21])
def test_native_integer_factor_nearest_upsampling_repeats_each_value(factors, width):
    x = randn(2, 3, 5, width)
    got = native(x, full_scales(x.shape, factors), mode="nearest", coordinate_transformation_mode="asymmetric",
                 nearest_mode="floor")
    want = np.repeat(np.repeat(x, int(factors[0]), axis=2), int(factors[1]), axis=3)
    np.testing.assert_array_equal(got, want)


@needs_native
def test_native_resize_of_a_strided_input_matches():
    x = randn(2, 4, 10, 18)[:, ::2, 1::2, ::3]
    scales = full_scales(x.shape, (2.0, 1.5))
    for mode in ("nearest", "linear"):
        want = ref.Resize_11(x, None, scales, None, mode=mode)
        got = native(x, scales, mode=mode)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 if mode == "linear" else 0)


@needs_native
@pytest.mark.parametrize("ctm", ["asymmetric", "half_pixel", "align_corners"])
@pytest.mark.parametrize("factors", [(2.0, 2.0), (1.5, 0.5), (0.5, 3.0)])
def test_native_resize_propagates_nan_and_infinities_as_numpy(ctm, factors):
    x = randn(1, 2, 6, 7)
    x[0, 0, 2, 3] = np.nan
    x[0, 1, 0, 0] = np.inf
    x[0, 1, 4, 6] = -np.inf
    scales = full_scales(x.shape, factors)
    with np.errstate(invalid="ignore"):
        want_nearest = ref.Resize_11(x, None, scales, None, mode="nearest", coordinate_transformation_mode=ctm)
        want_linear = ref.Resize_11(x, None, scales, None, mode="linear", coordinate_transformation_mode=ctm)
    np.testing.assert_array_equal(native(x, scales, mode="nearest", coordinate_transformation_mode=ctm),
                                  want_nearest)
    # a tap of weight 0 on a NaN or an infinity still makes NaN, as in numpy's weighted sums
    assert_linear_close(native(x, scales, mode="linear", coordinate_transformation_mode=ctm), want_linear)
    assert np.isnan(want_linear).any()


@needs_native
def test_native_linear_resize_with_exclude_outside_matches_the_numpy_kernel():
    x = randn(1, 2, 5, 6)
    scales = full_scales(x.shape, (1.6, 0.7))
    want = ref.Resize_11(x, None, scales, None, mode="linear", exclude_outside=1)
    assert_linear_close(native(x, scales, mode="linear", exclude_outside=1), want)


#: (shape, scales, mode, ctm): big enough to be split; few planes (split over row blocks); both linear orders
THREAD_CASES = [((1, 64, 40, 40), (2.0, 2.0), "nearest", "asymmetric"),
                ((1, 2, 400, 400), (1.7, 0.6), "nearest", "half_pixel"),
                ((1, 8, 64, 64), (2.0, 2.0), "linear", "pytorch_half_pixel"),
                ((1, 1, 300, 200), (0.8, 3.0), "linear", "half_pixel"),
                ((1, 1, 200, 400), (3.0, 0.5), "linear", "align_corners")]


@needs_native
@pytest.mark.parametrize("shape,factors,mode,ctm", THREAD_CASES)
def test_native_resize_gives_the_same_bits_on_1_2_and_3_threads(shape, factors, mode, ctm):
    x = randn(*shape)
    scales = full_scales(shape, factors)
    results = []
    for count in (1, 2, 3):
        jobs = library.LIB.ep_pool_jobs()
        with intra_op_thread_limit(count):
            results.append(native(x, scales, mode=mode, coordinate_transformation_mode=ctm))
        assert (library.LIB.ep_pool_jobs() > jobs) == (count > 1), "the call should be split over threads"
    for y in results[1:]:
        np.testing.assert_array_equal(y.view(np.uint32), results[0].view(np.uint32))
    want = ref.Resize_11(x, None, scales, None, mode=mode, coordinate_transformation_mode=ctm)
    np.testing.assert_allclose(results[0], want, rtol=1e-6, atol=1e-6 if mode == "linear" else 0)


DECLINED = {
    "cubic": dict(mode="cubic"),
    "antialias": dict(mode="linear", antialias=1),
    "tf_crop_and_resize": dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize"),
}


@needs_native
@pytest.mark.parametrize("case", sorted(DECLINED))
def test_native_resize_hands_uncovered_attributes_to_the_numpy_kernel(case):
    x = randn(1, 2, 5, 6)
    scales = full_scales(x.shape, (1.5, 0.7))
    roi = np.array([0, 0, 0.1, 0.2, 1, 1, 0.9, 0.7], dtype=np.float32)
    attrs = DECLINED[case]
    assert nat.resize(x, scales, None, roi, **attrs) is None
    got = nat.Resize(**attrs)(x, roi, scales, None)
    np.testing.assert_array_equal(got, ref.Resize(x, roi, scales, None, **attrs))


@needs_native
@pytest.mark.parametrize("what", ["channel axis", "batch axis", "float64", "empty input", "empty output", "rank 1"])
def test_native_resize_hands_uncovered_tensors_to_the_numpy_kernel(what):
    x, scales = randn(2, 3, 4, 5), np.array([1, 1, 2, 2], dtype=np.float32)
    if what == "channel axis":
        scales = np.array([1, 2, 2, 2], dtype=np.float32)
    elif what == "batch axis":
        scales = np.array([0.5, 1, 1, 2], dtype=np.float32)
    elif what == "float64":
        x = x.astype(np.float64)
    elif what == "empty input":
        x = np.zeros((2, 0, 4, 5), dtype=np.float32)
    elif what == "empty output":
        scales = np.array([1, 1, 0.1, 2], dtype=np.float32)
    else:
        x, scales = randn(5), np.array([2], dtype=np.float32)
    for mode in ("nearest", "linear"):
        assert nat.resize(x, scales, None, None, mode=mode) is None
        got = nat.Resize_11(mode=mode)(x, None, scales, None)
        want = ref.Resize_11(x, None, scales, None, mode=mode)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@needs_native
def test_invalid_resize_nodes_get_the_numpy_kernels_errors():
    x = randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="scales must be positive"):
        nat.Resize_11()(x, None, np.array([1, 1, -2, 2], dtype=np.float32), None)
    with pytest.raises(ValueError, match="roi has 3 values"):
        nat.Resize_11()(x, np.zeros(3, dtype=np.float32), np.array([1, 1, 2, 2], dtype=np.float32), None)
    with pytest.raises(ValueError, match="exactly one of scales and sizes"):
        nat.Resize_11()(x, None, None, None)
    with pytest.raises(ValueError, match="tf_half_pixel_for_nn was removed"):
        nat.Resize(coordinate_transformation_mode="tf_half_pixel_for_nn")(
            x, None, np.array([1, 1, 2, 2], dtype=np.float32), None)
    with pytest.raises(ValueError, match="unknown mode"):
        nat.Resize_11(mode="area")(x, None, np.array([1, 1, 2, 2], dtype=np.float32), None)
    with pytest.raises(ValueError, match="scales has 3 values"):
        nat.Upsample()(x, np.array([1, 2, 2], dtype=np.float32))


@needs_native
def test_the_c_kernel_refuses_tables_that_index_outside_the_input():
    x = randn(1, 4, 4)
    y = np.zeros((1, 4, 8), dtype=np.float32)
    good = np.repeat(np.arange(4, dtype=np.int64), 2)
    bad = good.copy()
    bad[5] = 4

    def call(idx_w, idx_h=None, w_h=None, taps_h=1):
        plan = nat.ResizePlan(1, 4, 4, 4, 8, taps_h, 1, 0, idx_h, w_h, idx_w, None)
        return library.LIB.ep_resize_f32(x.ctypes.data, y.ctypes.data, ctypes.addressof(plan), 1)

    assert call(good.ctypes.data) == 0
    np.testing.assert_array_equal(y, np.repeat(x, 2, axis=2))
    assert call(bad.ctypes.data) == nat.UNCOVERED
    # rows blended from a cache need each output row's taps within as many consecutive rows as taps
    rows = np.array([[0, 2]] * 4, dtype=np.int64)
    weights = np.full((4, 2), 0.5, dtype=np.float32)
    assert call(good.ctypes.data, rows.ctypes.data, weights.ctypes.data, 2) == nat.UNCOVERED


def _node_model(node, opset, inits, shape):
    return make_model([node], [("x", F, list(shape))], [("y", F, None)], inits, opset=opset)


def _models():
    s = np.array([1, 1, 2, 1.5], dtype=np.float32)
    yield "Resize-11", _node_model(
        helper.make_node("Resize", ["x", "roi", "scales"], ["y"], name="n", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        11, [const("roi", np.zeros(0, np.float32)), const("scales", s)], (1, 3, 7, 8))
    yield "Resize-13 linear", _node_model(
        helper.make_node("Resize", ["x", "", "scales"], ["y"], name="n", mode="linear"), 13,
        [const("scales", s)], (1, 3, 7, 8))
    yield "Resize-18 sizes", _node_model(
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], name="n", mode="linear", axes=[2, 3],
                         coordinate_transformation_mode="pytorch_half_pixel"), 18,
        [const("sizes", np.array([9, 5], dtype=np.int64))], (1, 3, 7, 8))
    yield "Resize-10", _node_model(helper.make_node("Resize", ["x", "scales"], ["y"], name="n", mode="nearest"), 10,
                                   [const("scales", s)], (1, 3, 7, 8))
    yield "Upsample-9", _node_model(helper.make_node("Upsample", ["x", "scales"], ["y"], name="n", mode="linear"), 9,
                                    [const("scales", s)], (1, 3, 7, 8))
    yield "Upsample-7", _node_model(helper.make_node("Upsample", ["x"], ["y"], name="n", mode="nearest",
                                                     scales=[1.0, 1.0, 2.0, 2.0]), 7, [], (1, 3, 7, 8))


@needs_native
@pytest.mark.parametrize("name,model", list(_models()), ids=[n for n, _ in _models()])
def test_resize_and_upsample_nodes_run_natively_and_match_onnxruntime(name, model):
    import onnxruntime as ort

    sess = ep.InferenceSession(model, providers=["cpu"])
    notes = [n for d in sess.get_partition().decisions if d.node.name == "n" for n in d.notes]
    assert any("kernel native" in n for n in notes), notes
    x = randn(1, 3, 7, 8)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)


@needs_native
def test_a_cubic_resize_node_is_left_to_the_numpy_kernel_in_the_partition():
    model = _node_model(helper.make_node("Resize", ["x", "", "scales"], ["y"], name="n", mode="cubic"), 13,
                        [const("scales", np.array([1, 1, 2, 1.5], dtype=np.float32))], (1, 3, 7, 8))
    sess = ep.InferenceSession(model, providers=["cpu"])
    notes = [n for d in sess.get_partition().decisions if d.node.name == "n" for n in d.notes]
    assert not any("kernel native" in n for n in notes), notes
    x = randn(1, 3, 7, 8)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0],
                                  ref.Resize_11(x, None, np.array([1, 1, 2, 1.5], np.float32), None, mode="cubic"))


@needs_native
def test_a_resize_node_follows_fed_scales_and_changing_input_shapes():
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="n", mode="nearest")
    fed = make_model([node], [("x", F, ["n", 2, "h", "w"]), ("scales", F, [4])], [("y", F, None)], opset=13)
    sess = ep.InferenceSession(fed, providers=["cpu"])
    scales = np.array([1, 1, 2, 2], dtype=np.float32)
    for shape, factors in [((1, 2, 3, 4), (2, 2)), ((1, 2, 3, 4), (3, 0.5)), ((2, 2, 5, 3), (3, 0.5))]:
        scales[2:] = factors  # the same array, changed between runs
        x = randn(*shape)
        np.testing.assert_array_equal(sess.run(None, {"x": x, "scales": scales})[0],
                                      ref.Resize_11(x, None, scales.copy(), None))
    constant = _node_model(node, 13, [const("scales", np.array([1, 1, 2, 0.5], np.float32))], ("n", 2, "h", "w"))
    sess = ep.InferenceSession(constant, providers=["cpu"])
    for shape in [(1, 2, 3, 4), (1, 2, 5, 6), (3, 2, 5, 6), (1, 2, 3, 4)]:
        x = randn(*shape)
        np.testing.assert_array_equal(sess.run(None, {"x": x})[0],
                                      ref.Resize_11(x, None, np.array([1, 1, 2, 0.5], np.float32), None))


RESIZE_DRIVER = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ep_native.h"

/* the taps of one axis: nearest (floor of the asymmetric coordinate) or linear (half_pixel, two clamped taps) */
static void taps(int linear, int64_t in, int64_t out, int64_t *idx, float *w) {
    for (int64_t o = 0; o < out; o++) {
        if (!linear) {
            int64_t i = (int64_t)floor((double)o * (double)in / (double)out);
            idx[o] = i < in ? i : in - 1;
            continue;
        }
        const double x = ((double)o + 0.5) * (double)in / (double)out - 0.5;
        const int64_t base = (int64_t)ceil(x) - 1;
        for (int k = 0; k < 2; k++) {
            int64_t i = base + k;
            w[2 * o + k] = (float)(1.0 - fabs((double)i - x));
            idx[2 * o + k] = i < 0 ? 0 : (i >= in ? in - 1 : i);
        }
    }
}

/* every geometry and axis order on 1 and 3 threads (EP_TINY_GRAIN splits every call): same bits, close to a
 * double-precision separable resampling; a table index outside the input is refused */
static int check(int linear, int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow, int64_t rows_first,
                 unsigned *seed) {
    const int64_t n = linear ? 2 : 1;
    const int keep_h = ih == oh && ih == 1, keep_w = iw == ow && iw == 1; /* not resized: no table */
    float *x = malloc((size_t)(planes * ih * iw) * sizeof *x);
    float *y1 = malloc((size_t)(planes * oh * ow) * sizeof *y1), *y3 = malloc((size_t)(planes * oh * ow) * sizeof *y3);
    int64_t *th = malloc((size_t)(oh * n) * sizeof *th), *tw = malloc((size_t)(ow * n) * sizeof *tw);
    float *wh = malloc((size_t)(oh * n) * sizeof *wh), *ww = malloc((size_t)(ow * n) * sizeof *ww);
    int rc = 0;
    for (int64_t i = 0; i < planes * ih * iw; i++) {
        *seed = *seed * 1103515245u + 12345u;
        x[i] = (float)((*seed >> 8) % 2000) / 100.0f - 10.0f;
    }
    taps(linear, ih, oh, th, wh);
    taps(linear, iw, ow, tw, ww);
    ep_resize_plan plan = {planes, ih, iw, oh, ow, n, n, rows_first, keep_h ? NULL : th,
                           keep_h || !linear ? NULL : wh, keep_w ? NULL : tw, keep_w || !linear ? NULL : ww};
    if (ep_resize_f32(x, y1, &plan, 1) != 0 || ep_resize_f32(x, y3, &plan, 3) != 0) rc = 1;
    else if (memcmp(y1, y3, (size_t)(planes * oh * ow) * sizeof *y1) != 0) rc = 2;
    for (int64_t p = 0; p < planes && !rc; p++)
        for (int64_t r = 0; r < oh; r++)
            for (int64_t q = 0; q < ow; q++) {
                double want = 0.0;
                for (int64_t k = 0; k < (keep_h ? 1 : n); k++)
                    for (int64_t m = 0; m < (keep_w ? 1 : n); m++) {
                        const double fh = linear && !keep_h ? wh[r * n + k] : 1.0;
                        const double fw = linear && !keep_w ? ww[q * n + m] : 1.0;
                        const int64_t sr = keep_h ? r : th[r * n + k], sc = keep_w ? q : tw[q * n + m];
                        want += fh * fw * x[(p * ih + sr) * iw + sc];
                    }
                if (fabs(y1[(p * oh + r) * ow + q] - want) > 1e-5 + 1e-5 * fabs(want)) rc = 3;
            }
    tw[0] = iw;
    if (!rc && !keep_w && ep_resize_f32(x, y1, &plan, 3) != EP_RESIZE_UNCOVERED) rc = 4;
    free(x);
    free(y1);
    free(y3);
    free(th);
    free(tw);
    free(wh);
    free(ww);
    return rc;
}

int main(void) {
    static const int64_t lens[] = {1, 2, 5, 7}, outs[] = {1, 3, 4, 10, 14};
    unsigned seed = 1;
    for (int g = 0; g < 2 * 2 * 4 * 4 * 5 * 5 * 2; g++) {
        const int rc = check(g % 2, 1 + 2 * (g / 2 % 2), lens[g / 4 % 4], lens[g / 16 % 4], outs[g / 64 % 5],
                             outs[g / 320 % 5], g / 1600 % 2, &seed);
        if (rc) {
            printf("geometry %d: failure %d\n", g, rc);
            return rc;
        }
    }
    puts("resize OK");
    return 0;
}
"""


@needs_native
def test_the_resize_c_code_runs_clean_under_sanitizers_and_splits_to_the_same_bits(tmp_path):
    run_driver(build_driver(tmp_path, RESIZE_DRIVER, ["resize.c", "parallel.c"]), "resize OK", timeout=120)
