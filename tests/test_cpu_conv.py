"""CPU kernels of providers/cpu/conv.py (Conv, ConvTranspose) and the 2-D window geometry they share with
pooling, compared with onnxruntime on one-node models."""

from __future__ import annotations

import numpy as np
import pytest

from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import conv as conv_module
from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1235)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


CONV_CASES = [
    ((1, 3, 9, 9), (4, 3, 3, 3), {}),
    ((2, 3, 9, 8), (4, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ((1, 4, 10, 10), (6, 2, 3, 3), {"group": 2, "pads": [1, 0, 2, 1]}),
    ((1, 4, 11, 11), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 4, 11, 11), (8, 1, 3, 3), {"group": 4, "strides": [2, 2]}),  # depth multiplier
    ((1, 4, 12, 12), (5, 4, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
    ((2, 8, 7, 7), (16, 8, 1, 1), {}),  # 1x1 fast path
    ((1, 8, 7, 7), (16, 8, 1, 1), {"strides": [2, 2]}),
    ((1, 8, 7, 7), (12, 2, 1, 1), {"group": 4}),
    ((1, 3, 9, 9), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 10, 10), (4, 3, 4, 4), {"auto_pad": "SAME_LOWER"}),
    ((1, 3, 10, 10), (4, 3, 3, 3), {"auto_pad": "VALID", "strides": [3, 3]}),
    ((2, 3, 17), (5, 3, 4), {"pads": [1, 2], "strides": [2]}),  # 1-D
    ((1, 2, 6, 7, 5), (3, 2, 3, 3, 2), {"pads": [1, 1, 0, 1, 1, 1]}),  # 3-D
]


@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_onnxruntime(xs, ws, attrs, bias):
    x, w = randn(*xs), randn(*ws)
    inputs = [x, w] + ([randn(ws[0])] if bias else [])
    check("Conv", inputs, dict(attrs, kernel_shape=list(ws[2:])), opset=11)


def test_conv_builds_im2col_in_blocks_of_rows(monkeypatch):
    monkeypatch.setattr(conv_module, "IM2COL_BLOCK_BYTES", 512)
    x, w, b = randn(1, 3, 13, 11), randn(4, 3, 3, 3), randn(4)
    check("Conv", [x, w, b], {"pads": [1, 1, 1, 1], "strides": [2, 1]}, opset=11)


def test_conv_keeps_float32():
    y = run_kernel("Conv", [randn(1, 3, 8, 8), randn(4, 3, 3, 3), randn(4)], {"pads": [1, 1, 1, 1]})[0]
    assert y.dtype == np.float32


@pytest.mark.parametrize("xs,ws,attrs", [
    ((1, 3, 5, 5), (3, 2, 3, 3), {}),
    ((1, 3, 5, 4), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_padding": [1, 1]}),
    ((2, 4, 4, 4), (4, 3, 3, 3), {"group": 2, "strides": [2, 2]}),
    ((1, 2, 5, 5), (2, 3, 3, 3), {"dilations": [2, 2]}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [9, 10]}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 6), (2, 3, 4), {"strides": [3], "pads": [1, 2]}),
])
def test_conv_transpose_matches_onnxruntime(xs, ws, attrs):
    check("ConvTranspose", [randn(*xs), randn(*ws), randn(ws[1] * attrs.get("group", 1))], attrs, opset=11)


def test_conv_channel_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv: X has 3 channels but W of shape \(4, 2, 3, 3\)"):
        run_kernel("Conv", [randn(1, 3, 8, 8), randn(4, 2, 3, 3)])


WINDOWS = [  # (channels, group, kernel, strides, dilations, pads)
    (4, 1, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
    (4, 1, [3, 2], [2, 1], [1, 2], [0, 1, 2, 0]),
    (6, 6, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
    (6, 3, [2, 3], [3, 2], [2, 1], [1, 0, 0, 2]),
    (3, 1, [5, 5], [2, 2], [1, 1], [2, 2, 2, 2]),
]


@pytest.mark.parametrize("c, group, kernel, strides, dilations, pads", WINDOWS)
def test_conv_and_pools_over_strides_dilations_and_pads_match_onnxruntime(c, group, kernel, strides, dilations,
                                                                          pads):
    x = randn(2, c, 11, 9)
    check("Conv", [x, randn(4 * group, c // group, *kernel), randn(4 * group)],
          {"group": group, "kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": pads},
          rtol=1e-4, atol=1e-4, opset=22)
    window = {"kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": pads}
    check("MaxPool", [x], window, opset=22)
    for ceil_mode in (0, 1):
        for count_include_pad in (0, 1):
            check("AveragePool", [x], dict(window, ceil_mode=ceil_mode, count_include_pad=count_include_pad), opset=22)


CONV_TRANSPOSE = [  # (kernel, strides, dilations, pads, output_padding, group): tiled, gapped and overlapping taps
    ([2, 2], [2, 2], [1, 1], [0, 0, 0, 0], [0, 0], 1),
    ([2, 3], [2, 3], [1, 1], [1, 0, 0, 2], [1, 0], 2),
    ([2, 2], [3, 3], [2, 2], [0, 0, 0, 0], [0, 0], 1),  # stride == dilated extent: a gap between the taps
    ([1, 1], [2, 2], [1, 1], [0, 0, 0, 0], [1, 1], 1),
    ([3, 3], [2, 2], [1, 1], [1, 1, 1, 1], [1, 1], 2),
    ([4, 4], [2, 2], [1, 1], [1, 1, 1, 1], [0, 0], 1),
]


@pytest.mark.parametrize("kernel, strides, dilations, pads, output_padding, group", CONV_TRANSPOSE)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_tiled_gapped_and_overlapping_taps_match_onnxruntime(kernel, strides, dilations, pads,
                                                                            output_padding, group, bias):
    x, w = randn(2, 4, 5, 6), randn(4, 3, *kernel)
    attrs = {"kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": pads,
             "output_padding": output_padding, "group": group}
    check("ConvTranspose", [x, w, randn(3 * group) if bias else None], attrs, rtol=1e-4, atol=1e-4, opset=22)


# depthwise convolutions on maps of 17 to 64 output columns, which the native kernel (csrc/conv.c) runs in blocks
# of 16 channels as vector lanes where the CPU has AVX-512 (16 x 16 transposes into and out of the lanes, in
# chunks of 16 columns, the last one partial): stride 1 and 2, 3x3 and 5x5, channel counts that leave a partial
# block, a residual and an activation, NaN and inf
DEPTHWISE_WIDE_CASES = [
    (1, 32, 28, 28, (3, 3), [1, 1], [1, 1, 1, 1]),
    (2, 40, 9, 45, (3, 3), [1, 1], [1, 0, 2, 1]),
    (1, 17, 6, 64, (3, 3), [1, 1], [1, 1, 1, 1]),
    (1, 48, 11, 112, (3, 3), [2, 2], [1, 1, 1, 1]),
    (1, 19, 8, 61, (5, 5), [1, 2], [2, 2, 2, 2]),
]


@pytest.mark.parametrize("n, c, h, w, kernel, strides, pads", DEPTHWISE_WIDE_CASES)
def test_native_depthwise_on_maps_up_to_64_columns_matches_the_numpy_kernel(n, c, h, w, kernel, strides, pads):
    nat_conv = pytest.importorskip("providers.cpu.native.conv")
    from providers.cpu import fusion
    from providers.cpu.native import library
    if library.LIB is None:
        pytest.skip(f"native kernels not built: {library.UNAVAILABLE_REASON}")
    x, wt, b = randn(n, c, h, w), randn(c, 1, *kernel), randn(c)
    x[0, c - 1, 2, 3], x[-1, 16 % c, 0, w - 1] = np.nan, np.inf
    attrs = {"group": c, "strides": strides, "pads": pads}
    want = conv_module.conv(x, wt, b, **attrs)
    got = nat_conv.Conv(x, wt, b, **attrs)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, equal_nan=True)
    z = randn(*want.shape)
    want = fusion.FusedConv(x, wt, b, z, activation="Relu", **attrs)
    outs = []
    for threads in (1, 2, 3):  # split over channel blocks and rows: the same bits whatever the split
        with intra_op_thread_limit(threads):
            outs.append(nat_conv.FusedConv(x, wt, b, z, activation="Relu", **attrs))
    np.testing.assert_allclose(outs[0], want, rtol=1e-4, atol=1e-4, equal_nan=True)
    assert outs[0].tobytes() == outs[1].tobytes() == outs[2].tobytes()


# convolutions the GEMM path would serve whose output has one position per image, which the native Conv runs as
# a matrix-vector product of the weights with the taps' input values (native/conv.py, _column_conv): windows wholly
# inside the input, partly in the padding (before and after), wholly in the padding, dilated, strided, grouped,
# 1-D and 2-D, batches of two
ONE_POSITION_CASES = [
    ((1, 64, 2), (64, 64, 3), {"pads": [1, 1], "strides": [2]}),  # silero's encoder/2: tap 0 in the padding
    ((2, 64, 1), (128, 64, 3), {"pads": [1, 1]}),  # silero's encoder/3: taps 0 and 2 in the padding
    ((2, 128, 1), (1, 128, 1), {}),  # silero's decoder/2: 1x1 on one position
    ((1, 12, 5), (10, 12, 3), {"dilations": [2]}),  # dilated, wholly inside
    ((1, 10, 1), (9, 10, 3), {"pads": [3, 3], "strides": [5]}),  # wholly in the padding: the bias alone
    ((2, 20, 3, 4), (18, 10, 3, 4), {"group": 2}),  # 2-D, grouped, wholly inside
    ((1, 16, 2, 3), (12, 16, 3, 3), {"pads": [1, 0, 1, 1], "strides": [3, 2]}),  # 2-D, padded on three sides
    ((1, 9, 7, 7), (11, 9, 7, 7), {"auto_pad": "VALID"}),  # 2-D, 49 taps, odd sizes
]


@pytest.mark.parametrize("xs,ws,attrs", ONE_POSITION_CASES)
def test_native_conv_with_one_output_position_matches_the_numpy_kernel(xs, ws, attrs):
    nat_conv = pytest.importorskip("providers.cpu.native.conv")
    from providers.cpu import fusion
    from providers.cpu.native import library
    if library.LIB is None:
        pytest.skip(f"native kernels not built: {library.UNAVAILABLE_REASON}")
    x, wt, b = randn(*xs), randn(*ws), randn(ws[0])
    x[0, 1, 0], wt[0, 0, 0] = np.nan, np.inf  # an infinite weight on a padded tap: 0 * inf is NaN, as numpy has it
    x[-1, -1, -1] = -np.inf
    group = attrs.get("group", 1)
    plan = nat_conv._plan(xs, ws, (ws[0],), group, None, _tuple(attrs.get("strides")), _tuple(attrs.get("dilations")),
                          _tuple(attrs.get("pads")), attrs.get("auto_pad", "NOTSET"))
    assert plan is not None and plan.path == "column"
    for bias in (b, None):
        want = conv_module.conv(x, wt, bias, **attrs)
        got = nat_conv.Conv(x, wt, bias, **attrs)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    z = randn(*want.shape)
    for activation, alpha, beta in (("Relu", 0.0, 0.0), ("Sigmoid", 0.0, 0.0), ("Clip", -0.5, 0.5),
                                     ("LeakyRelu", 0.1, 0.0)):
        for residual in (z, z[:1, :1], None):  # of the output's shape, broadcast, none
            want = fusion.FusedConv(x, wt, b, residual, activation=activation, activation_alpha=alpha,
                                    activation_beta=beta, **attrs)
            got = nat_conv.FusedConv(x, wt, b, residual, activation=activation, activation_alpha=alpha,
                                     activation_beta=beta, **attrs)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)


def _tuple(v):
    return None if v is None else tuple(v)
