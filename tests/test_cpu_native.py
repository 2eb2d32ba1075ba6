"""The CPU provider's native (C) kernels: equal to the numpy reference kernels, chosen through the
registry's `impl="native"` overrides, and replaced by the numpy kernels when the library is missing."""

from __future__ import annotations

import numpy as np
import onnx.numpy_helper
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime.provider import KernelRegistry
from providers.cpu import REGISTRY
from providers.cpu import activation as ref_activation
from providers.cpu import conv as ref_conv
from providers.cpu import elementwise as ref
from providers.cpu import fusion as ref_fusion
from providers.cpu import pool as ref_pool
from providers.cpu.contrib import activation as ref_contrib
from providers.cpu.native import activation as nat_activation
from providers.cpu.native import conv as nat_conv
from providers.cpu.native import library
from providers.cpu.native import pool as nat_pool
from tests.helpers.models import F, const, make_model
from tests.helpers.native import build_driver, run_driver

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on NaN / inf inputs
needs_native = pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}")
RNG = np.random.default_rng(11)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def with_specials(x: np.ndarray) -> np.ndarray:
    """x with NaN, +-inf, huge, tiny and signed-zero values at its start."""
    flat = x.reshape(-1)
    specials = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 90.0, -90.0, 1e-30, 0.0, -0.0, 20.0, -20.0],
                        dtype=np.float32)
    k = min(flat.size, specials.size)
    flat[:k] = specials[:k]
    return x


def close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


# --------------------------------------------------------------------------- activations


def native_act(x: np.ndarray, kind: int, reference) -> np.ndarray:
    """A C activation whose op keeps numpy's kernel (Relu, Tanh; used in fused epilogues), or the
    reference for what the C kernel does not take."""
    y = nat_activation.activation(x, kind)
    return reference(x) if y is None else y


ACTIVATIONS = [
    ("Relu", lambda x: native_act(x, library.ACT_RELU, ref.Relu), lambda x: ref.Relu(x)),
    ("Sigmoid", lambda x: nat_activation.Sigmoid(x), lambda x: ref.Sigmoid(x)),
    ("Tanh", lambda x: native_act(x, library.ACT_TANH, np.tanh), lambda x: np.tanh(x)),
    ("LeakyRelu", lambda x: nat_activation.LeakyRelu(x, alpha=0.13), lambda x: ref.LeakyRelu(x, alpha=0.13)),
    ("HardSigmoid", lambda x: nat_activation.HardSigmoid(x, alpha=0.3, beta=0.4),
     lambda x: ref.HardSigmoid(x, alpha=0.3, beta=0.4)),
    ("HardSwish", lambda x: nat_activation.HardSwish(x), lambda x: ref.HardSwish(x)),
    ("Swish", lambda x: nat_activation.Swish(x, alpha=1.0), lambda x: ref_activation.swish(x, 1.0)),
    ("Swish_alpha", lambda x: nat_activation.Swish(x, alpha=0.7), lambda x: ref_activation.swish(x, 0.7)),
    ("silu", lambda x: nat_activation.silu(x), lambda x: ref_activation.swish(x)),
    ("Gelu", lambda x: nat_activation.Gelu(x), lambda x: ref.Gelu(x)),
    ("Gelu_tanh", lambda x: nat_activation.Gelu(x, approximate="tanh"), lambda x: ref.Gelu(x, approximate="tanh")),
    ("Clip", lambda x: nat_activation.Clip(x, np.float32(-0.5), np.float32(1.5)),
     lambda x: ref.Clip(x, np.float32(-0.5), np.float32(1.5))),
    ("Relu6", lambda x: nat_activation.Clip(x, np.float32(0), np.float32(6)),
     lambda x: ref.Clip(x, np.float32(0), np.float32(6))),
    ("Clip_min_only", lambda x: nat_activation.Clip(x, np.float32(0.25)), lambda x: ref.Clip(x, np.float32(0.25))),
    ("Clip_max_only", lambda x: nat_activation.Clip(x, None, np.float32(0.25)),
     lambda x: ref.Clip(x, None, np.float32(0.25))),
    ("Clip_min_above_max", lambda x: nat_activation.Clip(x, np.float32(2), np.float32(1)),
     lambda x: ref.Clip(x, np.float32(2), np.float32(1))),
    ("Clip_6", lambda x: nat_activation.Clip_6(x, min=-1.0, max=0.5), lambda x: ref.Clip_6(x, min=-1.0, max=0.5)),
    ("ms_QuickGelu", lambda x: nat_activation.QuickGelu(x), lambda x: ref_contrib.QuickGelu(x)),
    ("ms_QuickGelu_silu", lambda x: nat_activation.QuickGelu(x, alpha=1.0),
     lambda x: ref_contrib.QuickGelu(x, alpha=1.0)),
    ("ms_Gelu", lambda x: nat_activation.MsGelu(x), lambda x: ref_contrib.Gelu(x)),
    ("ms_FastGelu", lambda x: nat_activation.FastGelu(x), lambda x: ref_contrib.FastGelu(x)),
    ("ms_FastGelu_bias", lambda x: nat_activation.FastGelu(x.reshape(-1), np.full(x.size, 0.25, np.float32)),
     lambda x: ref_contrib.FastGelu(x.reshape(-1), np.full(x.size, 0.25, np.float32))),
]


@needs_native
@pytest.mark.parametrize("name,native,reference", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 13), (), (1031,)])
def test_activation_matches_the_numpy_kernel(name, native, reference, shape):
    x = (randn(*shape) * 4).astype(np.float32)
    if x.size > 1:
        x = with_specials(x)
    close(native(x), reference(x))


@needs_native
@pytest.mark.parametrize("name,native,reference", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_of_an_empty_or_strided_tensor_matches(name, native, reference):
    close(native(np.zeros((0, 4), np.float32)), reference(np.zeros((0, 4), np.float32)))
    x = randn(6, 10)[:, ::3].T  # neither C- nor F-contiguous
    close(native(x), reference(x))


@needs_native
def test_activations_over_a_wide_range_stay_within_float_rounding():
    x = np.linspace(-30, 30, 600_001, dtype=np.float32)
    close(nat_activation.Sigmoid(x), ref.Sigmoid(x), rtol=2e-6, atol=1e-7)
    close(native_act(x, library.ACT_TANH, np.tanh), np.tanh(x), rtol=2e-6, atol=1e-7)
    close(nat_activation.silu(x), ref_activation.swish(x), rtol=2e-6, atol=1e-7)
    close(nat_activation.Gelu(x), ref.Gelu(x), rtol=1e-5, atol=2e-7)


def test_activation_of_other_dtypes_uses_the_numpy_kernel():
    x = np.linspace(-3, 3, 17)
    y = nat_activation.Sigmoid(x)
    assert y.dtype == np.float64
    close(y, ref.Sigmoid(x))
    close(nat_activation.silu(x.astype(np.float16)), ref_activation.swish(x.astype(np.float16)))


# --------------------------------------------------------------------------- convolutions


def conv_case(n, c, m, group, size, kernel, **attrs):
    x = randn(n, c, *size)
    w = randn(m, c // group, *kernel)
    b = randn(m)
    return x, w, b, dict(group=group, **attrs)


CONV_CASES = {
    "dw3x3": conv_case(1, 8, 8, 8, (9, 11), (3, 3), pads=[1, 1, 1, 1]),
    "dw3x3_s2": conv_case(2, 6, 6, 6, (13, 10), (3, 3), pads=[1, 1, 1, 1], strides=[2, 2]),
    "dw3x3_s2_asym": conv_case(1, 5, 5, 5, (12, 12), (3, 3), pads=[0, 0, 1, 1], strides=[2, 2]),
    "dw3x3_dil2": conv_case(1, 4, 4, 4, (11, 9), (3, 3), pads=[2, 2, 2, 2], dilations=[2, 2]),
    "dw3x3_s3_dil2": conv_case(1, 3, 3, 3, (17, 15), (3, 3), pads=[1, 2, 0, 3], strides=[3, 2], dilations=[2, 3]),
    "dw5x5": conv_case(1, 7, 7, 7, (10, 13), (5, 5), pads=[2, 2, 2, 2]),
    "dw5x5_s2": conv_case(1, 7, 7, 7, (10, 13), (5, 5), pads=[2, 2, 2, 2], strides=[2, 2]),
    "dw7x7": conv_case(1, 3, 3, 3, (15, 16), (7, 7), pads=[3, 3, 3, 3]),
    "dw2x4": conv_case(1, 3, 3, 3, (8, 9), (2, 4), pads=[0, 1, 1, 2]),
    "dw1x1": conv_case(1, 3, 3, 3, (4, 5), (1, 1)),
    "dw_multiplier2": conv_case(1, 4, 8, 4, (7, 7), (3, 3), pads=[1, 1, 1, 1]),
    "dw_same_upper": conv_case(1, 3, 3, 3, (8, 7), (3, 3), auto_pad="SAME_UPPER", strides=[2, 2]),
    "dw_same_lower": conv_case(1, 3, 3, 3, (8, 7), (4, 4), auto_pad="SAME_LOWER"),
    "dw_valid": conv_case(1, 3, 3, 3, (8, 7), (3, 3), auto_pad="VALID"),
    "dw_big_pads": conv_case(1, 2, 2, 2, (3, 3), (3, 3), pads=[4, 4, 4, 4]),
    "dw_kernel_is_input": conv_case(1, 2, 2, 2, (5, 5), (5, 5)),
    "dw_1d": conv_case(2, 6, 6, 6, (23,), (5,), pads=[2, 1], strides=[2]),
    "group_cg2": conv_case(1, 8, 8, 4, (9, 7), (3, 3), pads=[1, 1, 1, 1]),
    "group_cg4_mg2": conv_case(2, 8, 4, 2, (9, 7), (3, 3), pads=[1, 1, 1, 1], strides=[2, 1]),
    "one_channel_3x3": conv_case(1, 1, 5, 1, (9, 8), (3, 3), pads=[1, 1, 1, 1]),
    "stft_1d": conv_case(2, 1, 10, 1, (1000,), (256,), pads=[128, 128], strides=[128]),
    "stft_1d_dilated": conv_case(1, 1, 4, 1, (500,), (70,), pads=[3, 5], strides=[33], dilations=[2]),
    "one_channel_2d_large": conv_case(1, 1, 3, 1, (40, 41), (9, 9), pads=[1, 2, 3, 4], strides=[4, 3]),
    # more than 64 output columns: row by row (two rows a pass for 3x3) instead of one long row
    "dw3x3_wide_map_odd_rows": conv_case(2, 3, 3, 3, (9, 70), (3, 3), pads=[1, 1, 1, 1]),
    "dw3x3_wide_map_no_pad": conv_case(1, 2, 4, 2, (6, 80), (3, 3)),
    "dw5x5_wide_map": conv_case(1, 2, 2, 2, (7, 71), (5, 5), pads=[2, 1, 2, 3]),
    "dw3x3_wide_map_dilated": conv_case(1, 2, 2, 2, (7, 75), (3, 3), pads=[2, 2, 2, 2], dilations=[2, 2]),
    # depthwise at stride 2 or on narrow maps: blocks of 16 channels as the vector lanes (csrc/conv.c
    # dw_run), channel counts that leave a partial block, asymmetric pads, dilation, 7x7 (generic taps)
    "dw3x3_small_map_17ch": conv_case(1, 17, 17, 17, (7, 7), (3, 3), pads=[1, 1, 1, 1]),
    "dw3x3_s2_small_map_33ch_batch": conv_case(2, 33, 33, 33, (14, 15), (3, 3), pads=[1, 0, 0, 1], strides=[2, 2]),
    "dw5x5_small_map_16ch": conv_case(1, 16, 16, 16, (14, 14), (5, 5), pads=[2, 2, 2, 2]),
    "dw5x5_s2_40ch_asym": conv_case(2, 40, 40, 40, (13, 12), (5, 5), pads=[2, 1, 1, 2], strides=[2, 2]),
    "dw5x5_s2_wide_map": conv_case(1, 5, 5, 5, (9, 90), (5, 5), pads=[2, 2, 2, 2], strides=[2, 2]),
    "dw3x3_dil2_small_map_20ch": conv_case(1, 20, 20, 20, (9, 10), (3, 3), pads=[2, 1, 2, 3], dilations=[2, 2]),
    "dw3x3_s2x1_small_map_18ch": conv_case(1, 18, 18, 18, (10, 11), (3, 3), pads=[1, 1, 1, 1], strides=[2, 1]),
    "dw7x7_small_map_19ch": conv_case(1, 19, 19, 19, (8, 9), (7, 7), pads=[3, 3, 3, 3]),
    "dw3x3_one_pixel_24ch": conv_case(1, 24, 24, 24, (1, 1), (3, 3), pads=[1, 1, 1, 1]),
    "dense3x3": conv_case(1, 16, 12, 1, (11, 9), (3, 3), pads=[1, 1, 1, 1]),
    "dense3x3_s2_batch": conv_case(2, 10, 7, 1, (13, 12), (3, 3), pads=[1, 0, 1, 2], strides=[2, 2]),
    "dense_dilated_s3": conv_case(1, 9, 5, 1, (17, 16), (3, 2), pads=[2, 3, 1, 0], strides=[3, 2],
                                  dilations=[2, 3]),
    "dense_same_lower": conv_case(1, 12, 4, 1, (7, 8), (4, 4), auto_pad="SAME_LOWER"),
    "dense_big_pads": conv_case(1, 12, 4, 1, (3, 3), (3, 3), pads=[4, 5, 4, 3]),
    "group_cg12": conv_case(2, 24, 36, 2, (8, 7), (3, 3), pads=[1, 1, 1, 1]),
    "dense_1d": conv_case(2, 12, 5, 1, (31,), (7,), pads=[3, 2], strides=[2]),
}


@needs_native
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_native_conv_matches_the_numpy_kernel(case):
    x, w, b, attrs = CONV_CASES[case]
    want = ref_conv.conv(x, w, b, **attrs)
    assert nat_conv.conv(x, w, b, **attrs) is not None, "a native path should serve this case"
    close(nat_conv.Conv(x, w, b, **attrs), want, rtol=1e-4, atol=1e-4)
    close(nat_conv.Conv(x, w, None, **attrs), ref_conv.conv(x, w, None, **attrs), rtol=1e-4, atol=1e-4)


@needs_native
def test_native_conv_propagates_nan_and_inf():
    x, w, b, attrs = CONV_CASES["dw3x3"]
    x = x.copy()
    x[0, 1, 4, 5] = np.nan
    x[0, 2, 0, 0] = np.inf
    got = nat_conv.Conv(x, w, b, **attrs)
    close(got, ref_conv.conv(x, w, b, **attrs), rtol=1e-4, atol=1e-4)
    assert np.isnan(got[0, 1, 3:6, 4:7]).all()


@needs_native
@pytest.mark.parametrize("case", ["dw3x3_s2_small_map_33ch_batch", "dw5x5_s2_40ch_asym", "dw3x3_small_map_17ch"])
def test_depthwise_channel_blocks_propagate_nan_and_inf(case):
    x, w, b, attrs = CONV_CASES[case]
    x, w = x.copy(), w.copy()
    x[0, 16, 3, 4] = np.nan  # the first lane of the second block
    x[-1, -1, 0, 0] = np.inf  # the last lane of the partial block
    w[5, 0, 1, 1] = np.nan  # a NaN weight makes its whole output plane NaN
    got = nat_conv.Conv(x, w, b, **attrs)
    close(got, ref_conv.conv(x, w, b, **attrs), rtol=1e-4, atol=1e-4)
    assert np.isnan(got[:, 5]).all()
    assert np.isnan(got[0, 16]).any() and not np.isnan(got[0, 15]).any()


@needs_native
def test_3d_convolutions_are_left_to_numpy_and_1x1_ones_run_natively():
    x, w, b, attrs = conv_case(1, 32, 16, 1, (6, 6), (1, 1))
    assert nat_conv.conv(x, w, b, **attrs) is not None
    close(nat_conv.Conv(x, w, b, **attrs), ref_conv.conv(x, w, b, **attrs), rtol=1e-4, atol=1e-4)
    x, w, b, attrs = conv_case(1, 2, 2, 2, (4, 4, 4), (3, 3, 3), pads=[1] * 6)
    assert nat_conv.conv(x, w, b, **attrs) is None
    close(nat_conv.Conv(x, w, b, **attrs), ref_conv.conv(x, w, b, **attrs))


@needs_native
def test_native_conv_of_an_empty_batch_or_float64_is_the_numpy_result():
    x, w, b, attrs = CONV_CASES["dw3x3"]
    close(nat_conv.Conv(x[:0], w, b, **attrs), ref_conv.conv(x[:0], w, b, **attrs))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    close(nat_conv.Conv(x64, w64, None, **attrs), ref_conv.conv(x64, w64, None, **attrs))


@needs_native
def test_absurd_strides_and_pads_go_to_numpy_instead_of_overflowing():
    x, w = randn(1, 2, 4, 4), randn(2, 1, 3, 3)
    geometry = dict(strides=[2**40, 2**40], pads=[0, 0, 2**41, 2**41])
    assert nat_conv.conv(x, w, None, group=2, **geometry) is None
    close(nat_conv.Conv(x, w, None, group=2, **geometry), ref_conv.conv(x, w, None, group=2, **geometry))
    assert nat_pool.pool(x, library.POOL_MAX, kernel_shape=[3, 3], **geometry) is None
    close(nat_pool.MaxPool(x, kernel_shape=[3, 3], **geometry)[0], ref_pool.MaxPool(x, kernel_shape=[3, 3],
                                                                                    **geometry)[0])


@needs_native
def test_native_conv_reports_bad_shapes_as_the_reference_does():
    x, w, b, attrs = CONV_CASES["dw3x3"]
    with pytest.raises(ValueError, match="channels"):
        nat_conv.Conv(x[:, :5], w, b, **attrs)
    with pytest.raises(ValueError, match="bias"):
        nat_conv.Conv(x, w, b[:3], **attrs)


@needs_native
@pytest.mark.parametrize("case", ["dw3x3", "dw3x3_s2", "group_cg2", "stft_1d", "dw_1d", "dense3x3_s2_batch",
                                  "dense_1d", "dw3x3_wide_map_odd_rows", "dw5x5_wide_map", "dw3x3_small_map_17ch",
                                  "dw5x5_s2_40ch_asym"])
@pytest.mark.parametrize("activation", ["", "Relu"])
@pytest.mark.parametrize("residual", ["none", "same", "broadcast"])
def test_native_fused_conv_matches_the_numpy_fused_conv(case, activation, residual):
    x, w, b, attrs = CONV_CASES[case]
    y_shape = ref_conv.conv(x, w, b, **attrs).shape
    z = {"none": None, "same": randn(*y_shape), "broadcast": randn(y_shape[1], *([1] * (len(y_shape) - 2)))}[residual]
    want = ref_fusion.FusedConv(x, w, b, z, activation=activation, **attrs)
    close(nat_conv.FusedConv(x, w, b, z, activation=activation, **attrs), want, rtol=1e-4, atol=1e-4)


@needs_native
@pytest.mark.parametrize("case", ["dense3x3_s2_batch", "group_cg12", "dense_1d", "dw3x3_s2_small_map_33ch_batch",
                                  "dw5x5_small_map_16ch"])
@pytest.mark.parametrize("activation", ["Swish", "HardSwish", "LeakyRelu"])
def test_dense_conv_epilogue_per_tile_matches_the_numpy_fused_conv(case, activation):
    """The GEMM path (csrc/sgemm.c) adds bias and residual and applies the activation per output tile, in C."""
    x, w, b, attrs = CONV_CASES[case]
    z = randn(*ref_conv.conv(x, w, b, **attrs).shape)
    params = {"activation_alpha": 0.3} if activation == "LeakyRelu" else {"activation_alpha": 1.0}
    want = ref_fusion.FusedConv(x, w, b, z, activation=activation, **params, **attrs)
    close(nat_conv.FusedConv(x, w, b, z, activation=activation, **params, **attrs), want, rtol=1e-4, atol=1e-4)


@needs_native
def test_native_fused_conv_clips_its_input_first():
    x, w, b, attrs = CONV_CASES["dw3x3"]
    lo = np.full((1, 8, 1, 1), -0.2, np.float32)
    hi = np.full((1, 8, 1, 1), 0.3, np.float32)
    for bounds in ((lo, hi), (lo, None), (None, hi)):
        want = ref_fusion.FusedConv(x, w, b, None, *bounds, activation="Relu", **attrs)
        close(nat_conv.FusedConv(x, w, b, None, *bounds, activation="Relu", **attrs), want, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- pooling

POOL_CASES = {
    "3x3_s2_p1": dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "3x3_s1_p1": dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    "2x2_s2": dict(kernel_shape=[2, 2], strides=[2, 2]),
    "5x5_s1_p2": dict(kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
    "3x2_asym": dict(kernel_shape=[3, 2], strides=[2, 3], pads=[0, 1, 2, 1]),
    "3x3_ceil": dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "3x3_ceil_pads": dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    "dilated": dict(kernel_shape=[2, 3], dilations=[2, 2], pads=[1, 1, 1, 1]),
    "same_upper": dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "same_lower": dict(kernel_shape=[4, 4], auto_pad="SAME_LOWER"),
    "valid": dict(kernel_shape=[3, 3], auto_pad="VALID"),
    "whole_plane": dict(kernel_shape=[7, 8]),
}


@needs_native
@pytest.mark.parametrize("case", list(POOL_CASES))
@pytest.mark.parametrize("shape", [(2, 3, 13, 11), (1, 2, 7, 8)])
def test_native_max_pool_matches_the_numpy_kernel(case, shape):
    x = with_specials(randn(*shape[:2], 7, 8) if case == "whole_plane" else randn(*shape))
    attrs = POOL_CASES[case]
    (got,) = nat_pool.MaxPool(x, **attrs)
    assert nat_pool.pool(x, library.POOL_MAX, **attrs) is not None
    close(got, ref_pool.MaxPool(x, **attrs)[0])


@needs_native
@pytest.mark.parametrize("case", list(POOL_CASES))
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_native_average_pool_matches_the_numpy_kernel(case, count_include_pad):
    x = randn(2, 3, 13, 11) if case != "whole_plane" else randn(2, 3, 7, 8)
    attrs = POOL_CASES[case]
    got = nat_pool.AveragePool(x, count_include_pad=count_include_pad, **attrs)
    close(got, ref_pool.AveragePool(x, count_include_pad=count_include_pad, **attrs))


@needs_native
def test_native_pooling_1d_nan_empty_and_old_versions():
    x = with_specials(randn(2, 3, 17))
    attrs = dict(kernel_shape=[3], strides=[2], pads=[1, 1])
    close(nat_pool.MaxPool(x, **attrs)[0], ref_pool.MaxPool(x, **attrs)[0])
    close(nat_pool.AveragePool(x, **attrs), ref_pool.AveragePool(x, **attrs))
    x4 = with_specials(randn(1, 2, 9, 9))
    close(nat_pool.MaxPool_1(x4, kernel_shape=[3, 3]), ref_pool.MaxPool_1(x4, kernel_shape=[3, 3]))
    close(nat_pool.MaxPool_8(x4, kernel_shape=[3, 3])[0], ref_pool.MaxPool_8(x4, kernel_shape=[3, 3])[0])
    close(nat_pool.AveragePool_7(x4, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
          ref_pool.AveragePool_7(x4, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1))
    empty = np.zeros((0, 2, 9, 9), np.float32)
    close(nat_pool.MaxPool(empty, kernel_shape=[3, 3])[0], ref_pool.MaxPool(empty, kernel_shape=[3, 3])[0])
    # the Indices output comes from the numpy kernel
    y, idx = nat_pool.MaxPool(x4, kernel_shape=[3, 3], _num_outputs=2)
    want_y, want_idx = ref_pool.MaxPool(x4, kernel_shape=[3, 3], _num_outputs=2)
    close(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)


@needs_native
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 4, 33), (1, 2, 1, 1), (2, 2, 3, 3, 3)])
def test_native_global_pools_match_the_numpy_kernels(shape):
    x = randn(*shape)
    close(nat_pool.GlobalAveragePool(x), ref_pool.GlobalAveragePool(x))
    close(nat_pool.GlobalMaxPool(x), ref_pool.GlobalMaxPool(x))
    x = with_specials(x)
    close(nat_pool.GlobalMaxPool(x), ref_pool.GlobalMaxPool(x))
    close(nat_pool.GlobalAveragePool(x), ref_pool.GlobalAveragePool(x))


# --------------------------------------------------------------------------- through a session


def mobile_block(dtype=TensorProto.FLOAT, np_dtype=np.float32):
    """Depthwise conv + HardSwish + MaxPool + Conv 1x1 + Sigmoid + GlobalAveragePool."""
    nodes = [
        helper.make_node("Conv", ["x", "dw", "db"], ["c1"], name="dw", group=6, pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c1"], ["h1"], name="hswish"),
        helper.make_node("MaxPool", ["h1"], ["p1"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "pw"], ["c2"], name="pw"),
        helper.make_node("Sigmoid", ["c2"], ["s"], name="sig"),
        helper.make_node("GlobalAveragePool", ["s"], ["y"], name="gap"),
    ]
    inits = [const("dw", randn(6, 1, 3, 3).astype(np_dtype)), const("db", randn(6).astype(np_dtype)),
             const("pw", randn(12, 6, 1, 1).astype(np_dtype))]
    return make_model(nodes, [("x", dtype, [1, 6, 15, 13])], [("y", dtype, [1, 12, 1, 1])], inits)


def native_nodes(sess) -> set[str]:
    return {d.node.name for d in sess.get_partition().decisions if any("kernel native" in n for n in d.notes)}


@needs_native
def test_the_partition_shows_native_kernels_and_results_match_onnxruntime():
    import onnxruntime as ort

    model = mobile_block()
    sess = ep.InferenceSession(model, providers=["cpu"])
    assert native_nodes(sess) == {"dw", "hswish", "pool", "pw", "sig", "gap"}
    assert "kernel native" in sess.get_partition().explain()
    x = randn(1, 6, 15, 13)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    close(sess.run(None, {"x": x})[0], want[0], rtol=1e-5, atol=1e-6)


@needs_native
def test_float64_nodes_fall_back_to_the_numpy_kernels():
    sess = ep.InferenceSession(mobile_block(TensorProto.DOUBLE, np.float64), providers=["cpu"])
    assert native_nodes(sess) == set()
    assert sess.run(None, {"x": randn(1, 6, 15, 13).astype(np.float64)})[0].dtype == np.float64


def test_without_the_library_the_numpy_kernels_run(monkeypatch):
    model = mobile_block()
    x = randn(1, 6, 15, 13)
    want = ep.InferenceSession(model, providers=["cpu"]).run(None, {"x": x})[0]
    monkeypatch.setattr(library, "LIB", None)
    monkeypatch.setattr(library, "UNAVAILABLE_REASON", "test: library removed")
    sess = ep.InferenceSession(model, providers=["cpu"])
    assert native_nodes(sess) == set()
    close(sess.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
    # and the kernel functions themselves compute with numpy
    close(nat_activation.Sigmoid(x), ref.Sigmoid(x))
    w = randn(6, 1, 3, 3)
    assert nat_conv.conv(x, w, None, group=6) is None
    close(nat_conv.Conv(x, w, None, group=6), ref_conv.conv(x, w, None, group=6))


def test_disabling_by_environment_leaves_the_library_unloaded(monkeypatch):
    monkeypatch.setenv("EP_RUNTIME_NATIVE", "0")
    lib, why = library.load()
    assert lib is None and "EP_RUNTIME_NATIVE" in why


@needs_native
def test_fused_conv_in_a_session_runs_natively_with_its_residual():
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="dw", group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "x"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["y"], name="relu"),
    ]
    inits = [const("w", rng.standard_normal((4, 1, 3, 3)).astype(np.float32)),
             const("b", rng.standard_normal(4).astype(np.float32))]
    model = make_model(nodes, [("x", F, [2, 4, 9, 10])], [("y", F, [2, 4, 9, 10])], inits)
    x = randn(2, 4, 9, 10)
    sess = ep.InferenceSession(model, providers=["cpu"])
    assert native_nodes(sess) == {"dw"}
    sg = sess.get_partition().subgraphs[0]
    fused = ref_fusion.fuse_subgraph(sg).nodes
    assert [n.op_type for n in fused] == ["FusedConv"]
    assert REGISTRY.select(fused[0], sg.graph).impl == "native"
    w, b = (np.asarray(onnx.numpy_helper.to_array(t)) for t in model.graph.initializer)
    want = np.maximum(ref_conv.conv(x, w, b, group=4, pads=[1, 1, 1, 1]) + x, 0)
    close(sess.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- the registry mechanism


def _registry_with_override():
    reg = KernelRegistry()

    @reg.kernel("Relu", 6)
    def relu_ref(x):
        return x

    @reg.kernel("Relu", 6, impl="fast", dtypes=[np.float32])
    def relu_fast(x):
        return x

    return reg, relu_ref, relu_fast


def test_an_implementation_override_keeps_the_replaced_kernel_as_its_fallback():
    reg, relu_ref, relu_fast = _registry_with_override()
    model32 = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [2])], [("y", F, [2])])
    model64 = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", TensorProto.DOUBLE, [2])],
                         [("y", TensorProto.DOUBLE, [2])])
    for model, fn in ((model32, relu_fast), (model64, relu_ref)):
        part = ep.InferenceSession(model, providers=["cpu"]).get_partition()
        node, graph = part.decisions[0].node, part.subgraphs[0].graph
        assert reg.select(node, graph).fn is fn
    assert reg.implementations() == {"fast": ["Relu"]}
    assert reg.copy().versions("Relu")[0].fallback.fn is relu_ref


def test_a_default_override_replaces_without_fallback():
    reg = KernelRegistry()
    reg.kernel("Relu", 6)(lambda x: x)
    reg.kernel("Relu", 6, dtypes=[np.float32])(lambda x: -x)
    assert reg.versions("Relu")[0].fallback is None


def test_the_providers_command_lists_native_kernels(capsys):
    from ep_runtime.cli import main

    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    if library.LIB is None:
        assert "native kernels" not in out
    else:
        line = next(ln for ln in out.splitlines() if "native kernels" in ln)
        assert "Conv" in line and "Sigmoid" in line and "MaxPool" in line


# --------------------------------------------------------------------------- the C code under sanitizers

SANITIZER_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ep_native.h"

/* Buffers of exactly the size each kernel may touch, so AddressSanitizer sees any access past them. */
static float *filled(int64_t n) {
    float *p = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 23) - 11.0f;
    if (n > 3) p[n / 2] = 0.0f / 0.0f;
    return p;
}

/* Each kernel runs on 1 thread into `one` and on 3 threads (built with EP_TINY_GRAIN: every call is
 * split) into `three`; the two must be the same bits. */
#define TWICE(ONE, THREE, N, CALL1, CALL3)                                                          \
    do {                                                                                           \
        if ((CALL1) != 0 || (CALL3) != 0) return 1;                                                \
        if (memcmp(ONE, THREE, (size_t)(N) * sizeof(float)) != 0) {                                \
            printf("thread counts differ at line %d\n", __LINE__);                                  \
            return 3;                                                                              \
        }                                                                                          \
        calls++;                                                                                   \
    } while (0)

int main(void) {
    static const int64_t sizes[] = {1, 2, 5, 8};
    static const int64_t widths[] = {1, 2, 5, 70}; /* 70: past the one-long-row form's 64 columns */
    static const int64_t kernels[] = {1, 2, 3, 5};
    long calls = 0;
    for (int a = 0; a < 4; a++) for (int bq = 0; bq < 4; bq++) for (int k = 0; k < 4; k++)
    for (int64_t s = 1; s <= 3; s++) for (int64_t d = 1; d <= 2; d++) for (int64_t p0 = 0; p0 <= 3; p0 += 3)
    for (int64_t p1 = 0; p1 <= 1; p1++) {
        const int64_t h = sizes[a], w = widths[bq], kh = kernels[k], kw = kernels[k == 2 ? 2 : (k + 1) % 4];
        const int64_t ph = h + p0 + p1 - ((kh - 1) * d + 1), pw = w + p1 + p0 - ((kw - 1) * d + 1);
        if (ph < 0 || pw < 0) continue;
        const int64_t ho = ph / s + 1, wo = pw / (s == 3 ? 1 : s) + 1, sw = s == 3 ? 1 : s;
        for (int grouped = 0; grouped < 4; grouped++) {
            /* depthwise; two groups; one group (a single image x group: the rows are split); depthwise over
             * 20 channels (a full block of 16 lanes and an overlapping last one) */
            const int64_t c = grouped == 3 ? 20 : grouped ? 4 : 3, m = grouped == 3 ? 20 : grouped ? 6 : 3;
            const int64_t g = grouped == 3 ? 20 : grouped == 1 ? 2 : grouped ? 1 : 3;
            const int64_t cg = c / g, ny = 2 * m * ho * wo, nb = grouped == 2 ? 1 : 2;
            float *x = filled(2 * c * h * w), *wt = filled(m * cg * kh * kw), *b = filled(m);
            float *res = filled(ny), *y = filled(ny), *y3 = filled(ny);
            for (int act = 0; act < EP_ACT_COUNT; act++)
                TWICE(y, y3, ny,
                      ep_conv2d_direct_f32(x, wt, act % 2 ? b : NULL, act % 3 ? res : NULL, y, nb, c, h, w, m, g, kh,
                                           kw, s, sw, d, d, p0, p1, ho, wo, act, 0.1f, 0.9f, 1),
                      ep_conv2d_direct_f32(x, wt, act % 2 ? b : NULL, act % 3 ? res : NULL, y3, nb, c, h, w, m, g, kh,
                                           kw, s, sw, d, d, p0, p1, ho, wo, act, 0.1f, 0.9f, 3));
            /* the packed GEMM of dense and grouped convolutions, with every micro-kernel this CPU runs,
             * in its usual form (nr 0) and its transposed form (weights in panels of the kernel's nr) */
            for (int level = 1; ep_sgemm_force_kernel(level) == level; level++)
                for (int64_t nr = 0; nr <= ep_sgemm_nr(); nr += ep_sgemm_nr()) {
                    const int64_t kk = cg * kh * kw;
                    float *packed = filled(nr ? ep_sgemm_packed_b_size(g, m / g, kk, nr)
                                              : ep_sgemm_packed_size(g, m / g, kk));
                    if (nr) ep_sgemm_pack_b_f32(wt, g, m / g, kk, nr, packed);
                    else ep_sgemm_pack_a_f32(wt, g, m / g, kk, packed);
                    const int64_t shape[16] = {nb, c, h, w, m, g, kh, kw, s, sw, d, d, p0, p1, ho, wo};
                    for (int act = 0; act < EP_ACT_COUNT; act += 5)
                        TWICE(y, y3, ny,
                              ep_conv2d_gemm_f32(x, packed, nr, act % 2 ? b : NULL, act % 3 ? res : NULL, y, shape,
                                                 act, 0.1f, 0.9f, 1),
                              ep_conv2d_gemm_f32(x, packed, nr, act % 2 ? b : NULL, act % 3 ? res : NULL, y3, shape,
                                                 act, 0.1f, 0.9f, 3));
                    free(packed);
                }
            ep_sgemm_force_kernel(0);
            for (int mode = 0; mode < 3; mode++)
                TWICE(y, y3, 2 * c * ho * wo,
                      ep_pool2d_f32(x, y, 2 * c, h, w, kh, kw, s, sw, d, d, p0, p1, p1, p0, ho, wo, mode, 1),
                      ep_pool2d_f32(x, y3, 2 * c, h, w, kh, kw, s, sw, d, d, p0, p1, p1, p0, ho, wo, mode, 3));
            free(x); free(wt); free(b); free(res); free(y); free(y3);
        }
    }
    float *x = filled(3000), *y = filled(3000), *y3 = filled(3000);
    for (int mode = 0; mode < 2; mode++)
        TWICE(y, y3, 7, ep_global_pool_f32(x, y, 7, 37, mode, 1), ep_global_pool_f32(x, y3, 7, 37, mode, 3));
    for (int act = 0; act < EP_ACT_COUNT; act++) {
        TWICE(y, y3, 2999, ep_activation_f32(x, y, 2999, act, 0.1f, 0.9f, 1),
              ep_activation_f32(x, y3, 2999, act, 0.1f, 0.9f, 3));
    }
    free(x); free(y); free(y3);
    if (ep_pool_workers() != 2) {
        printf("the pool has %ld workers, expected 2\n", (long)ep_pool_workers());
        return 4;
    }
    printf("sanitizers OK: %ld calls\n", calls);
    return 0;
}
"""


def build_and_run_driver(tmp_path, sanitizers: str) -> None:
    """Build SANITIZER_DRIVER with the kernels (every call split over threads) and the sanitizers;
    it must compile with -pedantic -Wall -Wextra -Werror and run clean."""
    exe = build_driver(tmp_path, SANITIZER_DRIVER, ["parallel.c", "activation.c", "conv.c", "sgemm.c", "pool.c"],
                       sanitizers=sanitizers)
    run_driver(exe, "sanitizers OK")


def test_the_c_kernels_run_clean_under_sanitizers(tmp_path):
    """Every kernel over many small geometries (strides, dilations, pads, groups, 1-pixel planes)
    built with AddressSanitizer and UndefinedBehaviorSanitizer: nothing reads or writes out of
    bounds, no undefined arithmetic, and 3 threads give the bits of 1."""
    build_and_run_driver(tmp_path, "address,undefined")


@pytest.mark.slow
def test_the_thread_pool_has_no_data_race(tmp_path):
    """The same driver under ThreadSanitizer: the pool's hand-offs are properly synchronised."""
    build_and_run_driver(tmp_path, "thread")


# --------------------------------------------------------------------------- threads


def _thread_cases() -> dict[str, object]:
    """Native kernel calls large enough to be split over threads (each is past its kernel's grain),
    their inputs drawn once."""
    x = with_specials(randn(1, 8, 160, 161))
    x_rgb, x_narrow, x_gap = randn(1, 3, 140, 97), randn(2, 16, 60, 40), randn(1, 64, 64, 65)
    # activations split from 2^18 values (csrc/activation.c EP_ACT_LEAST), convolutions from 2^20 taps
    x_gelu, x_swish = randn(3, 97, 1001), with_specials(randn(1, 8, 200, 171))
    x_s2, residual = with_specials(randn(1, 8, 360, 170)), randn(1, 8, 180, 85)
    dw, db, dw5 = randn(8, 1, 3, 3), randn(8), randn(16, 1, 5, 5)
    w_rgb, b_rgb, w_rgb_dil = randn(8, 3, 3, 3), randn(8), randn(6, 3, 3, 3)
    w_dense, b_dense = randn(16, 8, 3, 3), randn(16)
    x_dw, w_dw5, w_dw3, b_dw = with_specials(randn(2, 72, 48, 48)), randn(72, 1, 5, 5), randn(72, 1, 3, 3), randn(72)
    residual_dw = with_specials(randn(2, 72, 32, 32))
    return {
        # depthwise channel blocks (csrc/conv.c dw_run): over images x blocks of 16 channels (72: a partial
        # block); 20 channels of one image: 2 blocks, fewer than the parts, so the rows are split too
        "depthwise_blocks_5x5_s2": lambda: nat_conv.Conv(x_dw, w_dw5, b_dw, group=72, pads=[2, 1, 1, 2],
                                                         strides=[2, 2]),
        "depthwise_blocks_3x3_residual_hardswish": lambda: nat_conv.conv(
            x_dw[:, :, :32, :32], w_dw3, b_dw, residual_dw, library.ACT_HARD_SWISH, 1.0, group=72,
            pads=[1, 1, 1, 1]),
        "depthwise_blocks_rows_split": lambda: nat_conv.Conv(x_dw[:1, :20], w_dw5[:20], None, group=20,
                                                             pads=[2, 2, 2, 2]),
        "depthwise_3x3": lambda: nat_conv.Conv(x, dw, db, group=8, pads=[1, 1, 1, 1]),
        "depthwise_3x3_s2_residual_swish": lambda: nat_conv.conv(
            x_s2, dw, db, residual, library.ACT_SWISH, 1.0, group=8, pads=[1, 1, 1, 1], strides=[2, 2]),
        "depthwise_5x5_narrow": lambda: nat_conv.Conv(x_narrow, dw5, None, group=16, pads=[2, 2, 2, 2]),
        # one image and one group: the output rows are split
        "one_group_rows": lambda: nat_conv.Conv(x_rgb, w_rgb, b_rgb, pads=[1, 1, 1, 1]),
        "one_group_rows_s2_dilated": lambda: nat_conv.Conv(x_rgb, w_rgb_dil, None, pads=[2, 1, 2, 0],
                                                           strides=[2, 1], dilations=[2, 2]),
        "dense_gemm": lambda: nat_conv.Conv(x[:, :, :60], w_dense, b_dense, pads=[1, 1, 1, 1]),
        "max_pool": lambda: nat_pool.MaxPool(x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])[0],
        "average_pool_stride_1": lambda: nat_pool.AveragePool(x, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        "global_average_pool": lambda: nat_pool.GlobalAveragePool(x_gap),
        "swish": lambda: nat_activation.Swish(x_swish),
        "gelu_odd_size": lambda: nat_activation.Gelu(x_gelu),
    }


@needs_native
@pytest.mark.parametrize("case", list(_thread_cases()))
def test_native_kernels_give_the_same_bits_on_1_2_and_3_threads(case):
    from ep_runtime.threads import intra_op_thread_limit

    call = _thread_cases()[case]
    results = []
    for threads in (1, 2, 3):
        with intra_op_thread_limit(threads):
            assert library.threads() == threads
            jobs = library.LIB.ep_pool_jobs()
            results.append(call())
            assert (library.LIB.ep_pool_jobs() > jobs) == (threads > 1), "the call should be split over the threads"
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])
    assert library.LIB.ep_pool_workers() >= 2, "3 threads asked for: the pool should have started 2 workers"


def threaded_model() -> onnx.ModelProto:
    """A small network at a size where every native kernel splits its work over threads."""
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], name="stem", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c0", "dw", "db"], ["c1"], name="dw", group=8, pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c1"], ["h1"], name="hswish"),
        helper.make_node("MaxPool", ["h1"], ["p1"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="dense", pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c2"], ["s"], name="sig"),
        helper.make_node("GlobalAveragePool", ["s"], ["y"], name="gap"),
    ]
    inits = [const("w0", randn(8, 3, 3, 3)), const("b0", randn(8)), const("dw", randn(8, 1, 3, 3)),
             const("db", randn(8)), const("w2", randn(16, 8, 3, 3))]
    return make_model(nodes, [("x", F, [1, 3, 160, 160])], [("y", F, [1, 16, 1, 1]), ("s", F, [1, 16, 80, 80])],
                      inits)


@needs_native
def test_sessions_with_different_thread_counts_run_concurrently_and_agree():
    import threading

    import onnxruntime as ort

    model = threaded_model()
    x = randn(1, 3, 160, 160)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    sessions = {}
    for threads in (1, 3):
        options = ep.SessionOptions()
        options.intra_op_num_threads = threads
        sessions[threads] = ep.InferenceSession(model, options, providers=["cpu"])
    assert native_nodes(sessions[3]) == {"stem", "dw", "hswish", "pool", "dense", "sig", "gap"}
    start = threading.Barrier(2)
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(threads: int) -> None:
        try:
            start.wait()
            results[threads] = [sessions[threads].run(None, {"x": x}) for _ in range(4)]
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in sessions]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors
    first = results[1][0]
    for runs in results.values():
        for outputs in runs:
            for got, ref_out in zip(outputs, first):
                np.testing.assert_array_equal(got, ref_out)  # the same bits whatever the thread count
    for got, ort_out in zip(first, want):
        close(got, ort_out, rtol=1e-4, atol=1e-5)


def test_each_thread_sees_its_own_runs_intra_op_thread_count():
    import threading

    from ep_runtime.threads import default_intra_op_threads, intra_op_thread_limit, intra_op_threads

    inside = threading.Barrier(2)
    seen: dict[int, tuple[int, int]] = {}

    def run(threads: int) -> None:
        with intra_op_thread_limit(threads):
            inside.wait()  # both limits are in force at once
            during = intra_op_threads()
            inside.wait()
        seen[threads] = (during, intra_op_threads())

    workers = [threading.Thread(target=run, args=(t,)) for t in (1, 5)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert seen == {1: (1, default_intra_op_threads()), 5: (5, default_intra_op_threads())}
    with intra_op_thread_limit(0):
        assert intra_op_threads() == default_intra_op_threads()


def test_the_default_thread_count_is_the_physical_cores_the_process_may_use(monkeypatch):
    import os

    from ep_runtime.threads import default_intra_op_threads

    count = default_intra_op_threads.__wrapped__
    assert 1 <= count() <= len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert count() == 1
    monkeypatch.delattr(os, "sched_getaffinity")
    assert count() == (os.cpu_count() or 1)


def test_overlapping_runs_restore_the_blas_threads_whatever_order_they_end_in():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from ep_runtime.threads import intra_op_thread_limit

    def blas_threads() -> int:
        return max(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")

    if not any(i["user_api"] == "blas" for i in threadpoolctl.threadpool_info()):
        pytest.skip("no BLAS library threadpoolctl can see")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        first, second = intra_op_thread_limit(1), intra_op_thread_limit(3)
        first.__enter__()
        assert blas_threads() == 1
        second.__enter__()
        assert blas_threads() == 3  # the largest limit among the runs in progress
        first.__exit__(None, None, None)
        assert blas_threads() == 3
        second.__exit__(None, None, None)
        assert blas_threads() == 2  # the setting from before either run


@needs_native
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_runs_split_kernels_with_a_fresh_pool():
    """The pool's workers do not survive fork: the child must start its own, not wait on the parent's."""
    import os

    from ep_runtime.threads import intra_op_thread_limit

    x = randn(1, 8, 200, 171)  # above EP_ACT_LEAST, so that the activation splits
    with intra_op_thread_limit(3):
        want = nat_activation.Swish(x)  # the parent's pool has workers now
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only when the split kernel gives the parent's bits
            ok = False
            try:
                jobs = library.LIB.ep_pool_jobs()
                ok = np.array_equal(nat_activation.Swish(x), want) and library.LIB.ep_pool_jobs() > jobs
            finally:
                os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_runs_hold_the_blas_pools_only_when_a_node_is_on_a_provider_that_calls_blas(monkeypatch):
    """A session whose nodes all run on embedded_c (own C kernels) skips the per-run BLAS hold; on cpu it holds."""
    from ep_runtime import InferenceSession, SessionOptions
    from ep_runtime import threads as threads_module
    from providers.embedded_c import EmbeddedCExecutionProvider
    from tests.embedded_c_helpers import mlp_model

    if not EmbeddedCExecutionProvider.is_available():
        pytest.skip("no C compiler for the embedded_c provider")
    holds = []
    real = threads_module.blas_thread_limit
    monkeypatch.setattr(threads_module, "blas_thread_limit", lambda n: holds.append(n) or real(n))
    model = mlp_model()
    x = model.graph.input[0]
    feed = {x.name: randn(*[d.dim_value or 1 for d in x.type.tensor_type.shape.dim])}
    so = SessionOptions()
    so.intra_op_num_threads = 1
    so.disable_cpu_ep_fallback = True
    embedded = InferenceSession(model, so, providers=[("embedded_c", {"fused": True})])
    cpu = InferenceSession(model, so, providers=["cpu"])
    np.testing.assert_allclose(embedded.run(None, feed)[0], cpu.run(None, feed)[0], rtol=1e-5, atol=1e-5)
    assert holds == [1]  # the cpu run only


@needs_native
def test_native_conv_and_pool_outputs_start_on_a_cache_line_and_match_the_reference():
    """The next kernel's vector loads must not straddle cache lines: outputs are 64-byte aligned."""
    x = randn(1, 16, 40, 40)
    w = randn(24, 16, 3, 3)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
                       [("x", F, list(x.shape))], [("y", F, None), ("c", F, None)], [const("w", w)])
    got, conv_out = ep.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, {"x": x})
    assert got.ctypes.data % 64 == 0 and conv_out.ctypes.data % 64 == 0  # the conv's 150 KB: glibc's mmap
    want = ref_pool.MaxPool(ref_conv.Conv(x, w, pads=[1, 1, 1, 1]), kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    np.testing.assert_allclose(got, want[0] if isinstance(want, tuple) else want, rtol=1e-5, atol=1e-4)
    for shape in [(0,), (3, 5), (2, 0, 4)]:
        a = library.empty_aligned(shape)
        assert a.shape == shape and a.dtype == np.float32 and a.flags.c_contiguous
        assert a.size == 0 or a.ctypes.data % 64 == 0
