"""CPU kernels of providers/cpu/conv.py (Conv, ConvTranspose) and the 2-D window geometry they share with
pooling, compared with onnxruntime on one-node models."""

from __future__ import annotations

import numpy as np
import pytest

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
