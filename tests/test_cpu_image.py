"""CPU image, resampling and signal kernels: Resize / Upsample, GridSample / AffineGrid, DFT / STFT /
windows, spatial rearrangements, RoI pooling, MaxUnpool, DeformConv and ImageDecoder.

Kernels are called directly (and a few through a session), checked against numpy identities,
hand-computed values, and onnxruntime where it implements the same semantics."""

from __future__ import annotations

import io

import numpy as np
import pytest
from onnx import TensorProto, helper

from ep_runtime import InferenceSession
from providers.cpu import conv, grid, image, pool, resize, signal, spatial
from tests.helpers.models import make_model

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def run_one(node, feeds: dict, opset: int, out_type=TensorProto.FLOAT, providers=("cpu",)):
    """Run a one-node model (every input fed, float32 unless it is an int64 array)."""
    inputs = [(k, TensorProto.INT64 if v.dtype == np.int64 else TensorProto.FLOAT, list(v.shape))
              for k, v in feeds.items()]
    model = make_model([node], inputs, [("y", out_type, None)], opset=opset)
    if providers == ("ort",):
        ort = pytest.importorskip("onnxruntime")
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    else:
        sess = InferenceSession(model, providers=list(providers))
    return sess.run(None, feeds)[0]


# --------------------------------------------------------------------------- Resize / Upsample


def test_resize_nearest_integer_upsample_is_repeat():
    x = randn(1, 2, 3, 4)
    y = resize.Resize(x, None, np.array([1, 1, 2, 3], np.float32), mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    np.testing.assert_array_equal(y, x.repeat(2, axis=2).repeat(3, axis=3))


def test_resize_linear_align_corners_hand_values():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)
    y = resize.Resize(x, None, None, np.array([3, 3], np.int64), axes=[2, 3], mode="linear",
                      coordinate_transformation_mode="align_corners")
    np.testing.assert_allclose(y[0, 0], [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]])


@pytest.mark.parametrize("opset", [13, 19])
@pytest.mark.parametrize(("mode", "ctm", "extra"), [
    ("linear", "half_pixel", {}),
    ("linear", "pytorch_half_pixel", {}),
    ("cubic", "half_pixel", {}),
    ("cubic", "asymmetric", {"cubic_coeff_a": -0.5, "exclude_outside": 1}),
    ("nearest", "half_pixel", {"nearest_mode": "round_prefer_ceil"}),
    ("nearest", "align_corners", {"nearest_mode": "ceil"}),
])
@pytest.mark.parametrize("scales", [[1, 1, 1.6, 0.5], [1, 1, 0.4, 2.5]])  # integral output sizes
def test_resize_matches_onnxruntime(opset, mode, ctm, extra, scales):
    x = randn(1, 2, 5, 6)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                            coordinate_transformation_mode=ctm, **extra)
    feeds = {"x": x, "scales": np.array(scales, np.float32)}
    got = run_one(node, feeds, opset)
    want = run_one(node, feeds, opset, providers=("ort",))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_resize_antialias_keeps_constants_and_smooths():
    x = np.full((1, 1, 8, 8), 3.0, np.float32)
    for mode in ("linear", "cubic"):
        y = resize.Resize(x, None, np.array([1, 1, 0.3, 0.5], np.float32), antialias=1, mode=mode)
        assert y.shape == (1, 1, 2, 4)
        np.testing.assert_allclose(y, 3.0, rtol=1e-6)
    checker = np.indices((8, 8)).sum(axis=0) % 2
    y = resize.Resize(checker[None, None].astype(np.float32), None, np.array([1, 1, 0.25, 0.25], np.float32),
                      antialias=1, mode="linear")
    np.testing.assert_allclose(y, 0.5, atol=0.2)  # an anti-aliased checkerboard is grey


def test_resize_keep_aspect_ratio_and_tf_crop():
    x = randn(1, 1, 4, 6)
    y = resize.Resize(x, None, None, np.array([8, 8], np.int64), axes=[2, 3], keep_aspect_ratio_policy="not_larger")
    assert y.shape == (1, 1, 5, 8)
    y = resize.Resize(x, None, None, np.array([8, 8], np.int64), axes=[2, 3], keep_aspect_ratio_policy="not_smaller")
    assert y.shape == (1, 1, 8, 12)
    roi = np.array([0, 0, -0.5, 0.2, 1, 1, 0.5, 0.8], np.float32)
    y = resize.Resize(x, roi, None, np.array([1, 1, 3, 3], np.int64), mode="linear",
                      coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=9.0)
    np.testing.assert_array_equal(y[0, 0, 0], 9.0)  # rows from roi start -0.5 lie outside the image


def test_resize_and_upsample_versions_agree():
    x = randn(1, 1, 3, 3)
    s = np.array([1, 1, 2, 2], np.float32)
    up9 = resize.Upsample(x, s, mode="nearest")
    np.testing.assert_array_equal(resize.Resize_10(x, s, mode="nearest"), up9)
    np.testing.assert_array_equal(resize.Upsample_7(x, scales=[1, 1, 2, 2]), up9)
    np.testing.assert_array_equal(resize.Upsample_1(x, height_scale=2.0, width_scale=2.0), up9)
    lin = resize.Upsample(x, s, mode="linear")
    np.testing.assert_allclose(lin[0, 0, 1, 0], (x[0, 0, 0, 0] + x[0, 0, 1, 0]) / 2, rtol=1e-6)
    np.testing.assert_allclose(lin[0, 0, -1], lin[0, 0, -2])  # asymmetric: the last rows clamp to the edge


def test_resize_rejects_bad_arguments():
    x = randn(1, 1, 2, 2)
    with pytest.raises(ValueError, match="exactly one of scales and sizes"):
        resize.Resize(x, None, np.array([1, 1, 2, 2], np.float32), np.array([1, 1, 4, 4], np.int64))
    with pytest.raises(ValueError, match="expected 4"):
        resize.Resize(x, None, np.array([2, 2], np.float32))
    with pytest.raises(ValueError, match="antialias"):
        resize.Resize(x, None, np.array([1, 1, 0.5, 0.5], np.float32), antialias=1, mode="nearest")


def test_resize_int_input_rounds_and_saturates():
    x = np.array([[[[0, 255]]]], np.uint8)
    y = resize.Resize(x, None, np.array([1, 1, 1, 4], np.float32), mode="cubic")
    assert y.dtype == np.uint8 and y.min() == 0 and y.max() == 255


def _resize_by_positions(x, scales, mode, ctm, nearest_mode="round_prefer_floor", exclude_outside=0, antialias=0):
    """Resize axis by axis (in order) with per-position taps only: the reference of the phase path."""
    from ep_runtime.op_shapes import filter_taps, nearest_taps, source_coordinates
    work = x.astype(np.float32)
    for axis, s in enumerate(scales):
        if s == 1:
            continue
        in_len = work.shape[axis]
        src = source_coordinates(ctm, int(np.floor(s * in_len)), in_len, float(s), None)
        if mode == "nearest":
            idx, w = nearest_taps(src, in_len, nearest_mode, s < 1), None
        else:
            idx, w = filter_taps(src, in_len, mode, float(s), -0.75, bool(antialias), bool(exclude_outside))
        work = resize.resample_axis(work, axis, idx, w)
    return work


@pytest.mark.parametrize(("mode", "ctm", "extra"), [
    ("linear", "pytorch_half_pixel", {}),
    ("linear", "half_pixel", {"exclude_outside": 1}),
    ("linear", "align_corners", {}),
    ("linear", "asymmetric", {"antialias": 1}),
    ("cubic", "half_pixel", {"exclude_outside": 1}),
    ("cubic", "half_pixel_symmetric", {"antialias": 1}),
    ("nearest", "half_pixel", {"nearest_mode": "round_prefer_ceil"}),
    ("nearest", "asymmetric", {"nearest_mode": "ceil"}),
])
@pytest.mark.parametrize("scales", [[1, 1, 2, 2], [1, 1, 3, 0.5], [1, 2, 0.25, 1.5], [1, 1, 4, 1]])
def test_resize_rational_scales_by_phases_equal_per_position_taps(mode, ctm, extra, scales):
    x = randn(2, 3, 12, 16)
    x[0, 0, 0, 0] = np.nan
    y = resize.Resize(x, None, np.array(scales, np.float32), mode=mode, coordinate_transformation_mode=ctm, **extra)
    want = _resize_by_positions(x, scales, mode, ctm, **extra)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6, equal_nan=True)  # NaN where the taps put it


def test_resize_plans_phases_for_rational_scales_only():
    def plan(in_len, out_len, scale, mode="linear"):
        return resize.axis_plan(mode, "half_pixel", "round_prefer_floor", -0.75, False, False, in_len, out_len,
                                scale, None)
    assert plan(16, 32, 2.0).phases.s == 2 and plan(16, 32, 2.0).phases.q == 1
    assert plan(12, 8, 2 / 3).phases.q == 3  # 3 inputs to 2 outputs
    assert plan(20, 40, 2.0, "nearest").phases.repeat
    assert plan(7, 93, 93 / 7).phases is None  # period 93: per-position taps


def test_resize_plan_cache_stays_bounded():
    def plan(in_len, out_len):
        return resize.axis_plan("linear", "half_pixel", "round_prefer_floor", -0.75, False, False, in_len, out_len,
                                out_len / in_len, None)
    for n in range(1, 3 * resize.PLAN_CACHE_SIZE):
        plan(n, 2 * n)
    assert len(resize._plan_cache) <= resize.PLAN_CACHE_SIZE
    assert plan(5, 10) is plan(5, 10)
    assert plan(50_000, 100_000) is not plan(50_000, 100_000)  # too many taps to keep


def test_resize_nearest_repeat_of_some_axes_matches_onnxruntime():
    x = randn(2, 3, 4, 5, 6)
    for scales in ([1, 1, 2, 1, 3], [1, 2, 1, 1, 1], [2, 1, 3, 2, 1]):
        node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest",
                                coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        feeds = {"x": x, "scales": np.array(scales, np.float32)}
        np.testing.assert_array_equal(run_one(node, feeds, 13), run_one(node, feeds, 13, providers=("ort",)))


def test_resize_of_an_empty_axis_to_a_size_is_zeros():
    x = np.zeros((1, 1, 0, 3), np.float32)
    y = resize.Resize(x, None, None, np.array([1, 1, 4, 6], np.int64), mode="linear")
    assert y.shape == (1, 1, 4, 6) and not y.any()


# --------------------------------------------------------------------------- GridSample / AffineGrid


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("align", [0, 1])
def test_identity_affine_grid_samples_the_input_back(mode, align):
    x = randn(2, 3, 4, 5)
    theta = np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (2, 1, 1))
    g = grid.AffineGrid(theta, np.array(x.shape, np.int64), align_corners=align)
    assert g.shape == (2, 4, 5, 2)
    np.testing.assert_allclose(grid.GridSample(x, g, mode=mode, align_corners=align), x, atol=1e-5)


def test_grid_sample_padding_modes_outside_the_image():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    g = np.array([[[[-3.0, -3.0], [3.0, 3.0]]]], np.float32)  # far top-left and bottom-right
    np.testing.assert_array_equal(grid.GridSample(x, g, padding_mode="zeros"), [[[[0, 0]]]])
    np.testing.assert_array_equal(grid.GridSample(x, g, padding_mode="border"), [[[[0, 3]]]])
    assert grid.GridSample(x, g, padding_mode="reflection").shape == (1, 1, 1, 2)


def test_grid_sample_matches_onnxruntime_and_volumetric_shape():
    x, g = randn(1, 2, 5, 6), rng.uniform(-1.2, 1.2, (1, 3, 4, 2)).astype(np.float32)
    for mode in ("bilinear", "bicubic", "nearest"):
        # onnxruntime follows PyTorch for bicubic outside the image (no coordinate clamp); the
        # ONNX reference, which the conformance data comes from, clamps / reflects the coordinate
        for pad in ("zeros",) if mode == "bicubic" else ("zeros", "border", "reflection"):
            node = helper.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=pad)
            got = run_one(node, {"x": x, "g": g}, 16)
            want = run_one(node, {"x": x, "g": g}, 16, providers=("ort",))
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"{mode} {pad}")
    y = grid.GridSample(randn(1, 2, 3, 4, 5), rng.uniform(-1, 1, (1, 2, 2, 2, 3)).astype(np.float32))
    assert y.shape == (1, 2, 2, 2, 2)
    with pytest.raises(ValueError, match="4-D"):
        grid.GridSample_16(randn(1, 1, 2, 2, 2), np.zeros((1, 1, 1, 1, 3), np.float32))


# --------------------------------------------------------------------------- signal


def test_dft_forward_inverse_and_onesided_match_numpy():
    x = randn(2, 8, 1)
    y = signal.DFT(x, None, np.array(1, np.int64))
    z = np.fft.fft(x[..., 0], axis=1)
    np.testing.assert_allclose(y[..., 0] + 1j * y[..., 1], z, rtol=1e-4, atol=1e-5)
    half = signal.DFT(x, None, np.array(-2, np.int64), onesided=1)
    assert half.shape == (2, 5, 2)
    back = signal.DFT(half, None, np.array(1, np.int64), inverse=1, onesided=1)
    np.testing.assert_allclose(back, x, atol=1e-5)
    full_back = signal.DFT_17(y, inverse=1, axis=1)
    np.testing.assert_allclose(full_back[..., 0], x[..., 0], atol=1e-5)
    np.testing.assert_allclose(full_back[..., 1], 0, atol=1e-5)
    np.testing.assert_array_equal(signal.DFT_17(x, axis=-2), y)  # negative axes count the complex axis
    padded = signal.DFT_17(x, np.array(16, np.int64), axis=1)
    assert padded.shape == (2, 16, 2)


def test_stft_frames_windowed_ffts():
    x = randn(1, 32, 1)
    win = signal.HannWindow(np.array(8, np.int64))
    y = signal.STFT(x, np.array(4, np.int64), win)
    assert y.shape == (1, 7, 5, 2)
    want = np.fft.rfft(x[0, 8:16, 0] * win)
    np.testing.assert_allclose(y[0, 2, :, 0] + 1j * y[0, 2, :, 1], want, rtol=1e-4, atol=1e-5)


def test_windows_periodic_and_symmetric():
    n = np.array(8, np.int64)
    k = np.arange(8)
    np.testing.assert_allclose(signal.HannWindow(n), np.sin(np.pi * k / 8) ** 2, atol=1e-6)
    sym = signal.HammingWindow(n, periodic=0)
    np.testing.assert_allclose(sym, sym[::-1], atol=1e-6)
    np.testing.assert_allclose(signal.BlackmanWindow(n, periodic=0)[[0, -1]], 0, atol=1e-6)
    assert signal.HannWindow(n, output_datatype=TensorProto.DOUBLE).dtype == np.float64


def test_mel_weight_matrix_shape_and_triangles():
    m = signal.MelWeightMatrix(np.array(8), np.array(64), np.array(8000), np.array(0.0, np.float32),
                               np.array(4000.0, np.float32))
    assert m.shape == (33, 8) and m.dtype == np.float32
    assert np.all(m >= 0) and np.all(m.max(axis=0) == 1.0)


# --------------------------------------------------------------------------- spatial rearrangement


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_inverts_depth_to_space(mode):
    x = randn(2, 8, 3, 4)
    y = spatial.DepthToSpace(x, blocksize=2, mode=mode)
    assert y.shape == (2, 2, 6, 8)
    np.testing.assert_array_equal(spatial.SpaceToDepth(y, blocksize=2, mode=mode), x)
    with pytest.raises(ValueError, match="divisible"):
        spatial.SpaceToDepth(randn(1, 1, 3, 4), blocksize=2)


def test_center_crop_pad_crops_and_pads_around_the_center():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    y = spatial.CenterCropPad(x, np.array([2, 8], np.int64))
    assert y.shape == (2, 8)
    np.testing.assert_array_equal(y[:, 1:6], x[1:3])
    np.testing.assert_array_equal(y[:, [0, 6, 7]], 0)
    y = spatial.CenterCropPad(x[None], np.array([3], np.int64), axes=[-1])
    np.testing.assert_array_equal(y[0], x[:, 1:4])


def test_col2im_sums_overlapping_blocks():
    ones = np.ones((1, 4, 9), np.float32)  # 2x2 blocks sliding over a 4x4 image
    y = spatial.Col2Im(ones, np.array([4, 4], np.int64), np.array([2, 2], np.int64))
    np.testing.assert_array_equal(y[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    x = randn(1, 3 * 4, 4)  # non-overlapping blocks (stride 2) are a pure rearrangement
    y = spatial.Col2Im(x, np.array([4, 4], np.int64), np.array([2, 2], np.int64), strides=[2, 2])
    np.testing.assert_array_equal(y[0, 1, 2:4, 0:2], x[0, 4:8, 2].reshape(2, 2))


# --------------------------------------------------------------------------- pooling family


def test_max_unpool_restores_the_maxima_of_max_pool():
    x = randn(1, 2, 4, 4)
    y, idx = pool.MaxPool(x, kernel_shape=[2, 2], strides=[2, 2], _num_outputs=2)
    u = pool.MaxUnpool(y, idx, kernel_shape=[2, 2], strides=[2, 2])
    assert u.shape == x.shape
    np.testing.assert_array_equal(np.sort(u[u != 0]), np.sort(y.reshape(-1)))
    bigger = pool.MaxUnpool(y, idx, np.array([1, 2, 5, 5], np.int64), kernel_shape=[2, 2], strides=[2, 2])
    np.testing.assert_array_equal(bigger[:, :, :4, :4], u)


def test_roi_align_constant_image_and_onnxruntime_max():
    x = np.full((1, 2, 6, 6), 2.0, np.float32)
    rois = np.array([[0.5, 0.5, 4.5, 3.5]], np.float32)
    y = pool.RoiAlign(x, rois, np.array([0]), output_height=2, output_width=3, sampling_ratio=2)
    np.testing.assert_allclose(y, 2.0, rtol=1e-6)
    x = randn(2, 3, 8, 8)
    rois = np.array([[0, 0, 7, 7], [1.2, 2.5, 6.1, 5.3], [3, 3, 3.5, 9]], np.float32)
    b = np.array([0, 1, 1], np.int64)
    for attrs in ({"mode": "max"}, {"coordinate_transformation_mode": "output_half_pixel"}, {}):
        node = helper.make_node("RoiAlign", ["x", "rois", "b"], ["y"], output_height=3, output_width=2, **attrs)
        feeds = {"x": x, "rois": rois, "b": b}
        np.testing.assert_allclose(run_one(node, feeds, 16), run_one(node, feeds, 16, providers=("ort",)),
                                   rtol=1e-4, atol=1e-5, err_msg=str(attrs))


def test_max_roi_pool_bins():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y = pool.MaxRoiPool(x, np.array([[0, 0, 0, 3, 3]], np.float32), pooled_shape=[2, 2])
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [13, 15]])


# --------------------------------------------------------------------------- DeformConv


def test_deform_conv_with_zero_offsets_is_conv_and_shifts_with_offsets():
    x, w, b = randn(2, 4, 6, 5), randn(6, 2, 3, 3), randn(6)
    off = np.zeros((2, 2 * 9 * 2, 6, 5), np.float32)
    y = conv.DeformConv(x, w, off, b, None, group=2, offset_group=2, pads=[1, 1, 1, 1])
    np.testing.assert_allclose(y, conv.Conv(x, w, b, group=2, pads=[1, 1, 1, 1]), rtol=1e-4, atol=1e-4)
    one = np.zeros((1, 2, 4, 5), np.float32)
    one[:, 1] = 1.0  # every tap moves one pixel right; the last column samples outside (zero)
    x1 = randn(1, 1, 4, 5)
    y = conv.DeformConv(x1, np.ones((1, 1, 1, 1), np.float32), one, mask=np.full((1, 1, 4, 5), 0.5, np.float32))
    np.testing.assert_allclose(y[0, 0, :, :4], 0.5 * x1[0, 0, :, 1:5], rtol=1e-6)
    np.testing.assert_array_equal(y[0, 0, :, 4], 0)


# --------------------------------------------------------------------------- ImageDecoder


def test_image_decoder_png_rgb_bgr_grayscale():
    PIL = pytest.importorskip("PIL.Image")
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PIL.fromarray(pixels).save(buf, format="PNG")
    stream = np.frombuffer(buf.getvalue(), np.uint8)
    np.testing.assert_array_equal(image.ImageDecoder(stream), pixels)
    np.testing.assert_array_equal(image.ImageDecoder(stream, pixel_format="BGR"), pixels[:, :, ::-1])
    assert image.ImageDecoder(stream, pixel_format="Grayscale").shape == (5, 7, 1)
    with pytest.raises(ValueError, match="cannot decode"):
        image.ImageDecoder(np.zeros(10, np.uint8))


def test_image_decoder_is_refused_without_pillow(monkeypatch):
    monkeypatch.setattr(image.importlib.util, "find_spec", lambda name: None)
    assert "Pillow" in image._pillow_missing(None, None)
