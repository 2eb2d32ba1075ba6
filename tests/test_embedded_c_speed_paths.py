"""The fast paths of the embedded C kernels agree with the cpu provider on odd geometries.

Depthwise Conv (one input channel per group, channel multiplier up to 4) that ep_depthwise.c does not
take (tests/test_embedded_c_depthwise.py covers that file's lane and row paths) runs as a direct loop over
the stride phases of its zero-padded plane instead of im2col + GEMM; these cases cover every branch
of it (3x3 in one pass, other kernels by threes and ones, strides 1 to 4 and unequal, dilations,
asymmetric pads, 1-D, batches, no bias, a stride larger than the kernel) and the paths beside it
(im2col by blocks of output rows, the blocked GEMM's row and column tails, packed and transposed
right operands), the pools' clipped window walk, per node and fused, with poison_outputs on so an
output left unwritten cannot pass. No timing is asserted here.
"""

from __future__ import annotations

import ctypes
import platform

import numpy as np
import onnx
import pytest

from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.lowering import lower
from providers.embedded_c.provider import ConvParams, make_tensor, value_shape
from tests.embedded_c_helpers import ATOL, RTOL, cpu_run, single_node_model, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

#: case -> (x shape, out channels, group, kernel, strides, pads, dilations, bias)
CONV_CASES = {
    "dw3x3_s1_odd": ((1, 5, 7, 9), 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "dw3x3_s2_even_odd": ((1, 4, 8, 11), 4, 4, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    "dw3x3_no_pad_batch2": ((2, 3, 6, 5), 3, 3, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), False),
    "dw5x5_s2_asym_pads": ((1, 6, 13, 10), 6, 6, (5, 5), (2, 2), (1, 2, 3, 0), (1, 1), True),
    "dw5x5_s1_tiny_plane": ((1, 7, 3, 2), 7, 7, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), True),
    "dw3x2_unequal_strides_dilated": ((1, 3, 15, 14), 3, 3, (3, 2), (2, 3), (2, 1, 0, 2), (2, 1), True),
    "dw_multiplier2": ((1, 4, 9, 9), 8, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "dw_multiplier4_k4_s3": ((1, 2, 11, 12), 8, 2, (4, 4), (3, 3), (0, 1, 2, 3), (1, 1), True),
    "dw_multiplier5_gemm_path": ((1, 2, 9, 8), 10, 2, (3, 3), (2, 1), (1, 1, 1, 1), (1, 1), True),
    "dw_1x1_stride2": ((1, 3, 7, 7), 3, 3, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), True),
    "dw_stride4_kernel2": ((1, 3, 10, 9), 3, 3, (2, 2), (4, 4), (1, 0, 0, 1), (1, 1), True),
    "dw7x7_large_pads": ((1, 2, 5, 5), 2, 2, (7, 7), (1, 1), (3, 3, 3, 3), (1, 1), True),
    "dw7x1_dilated_s1": ((1, 3, 12, 6), 3, 3, (7, 1), (1, 1), (3, 0, 3, 0), (2, 1), True),
    "dw_1d_k7_s2": ((2, 4, 19), 4, 4, (7,), (2,), (3, 3), (1,), True),
    "dw_1d_k256_single_channel": ((1, 1, 600), 1, 1, (256,), (128,), (0, 0), (1,), True),
    # larger planes: stride 1, stride 2 with asymmetric pads, dilated with a multiplier of 3 and a batch
    "dw3x3_s1_large": ((1, 2, 150, 130), 2, 2, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "dw5x5_s2_large_asym": ((1, 3, 140, 121), 3, 3, (5, 5), (2, 2), (2, 1, 1, 2), (1, 1), True),
    "dw3x3_dilated_multiplier3": ((2, 2, 100, 90), 6, 2, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), False),
    "grouped_cg2": ((1, 6, 7, 8), 9, 3, (3, 3), (1, 2), (1, 0, 1, 1), (1, 1), True),
    "dense_3x3_s2": ((1, 3, 11, 10), 5, 1, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    "pointwise": ((1, 7, 5, 6), 9, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), True),
    # im2col (a 9x9 kernel: more taps than the wide path takes): 324 column rows x 300 outputs in blocks
    # of 2 output rows (262144 floats)
    "dense_im2col_row_blocks": ((1, 4, 60, 300), 4, 1, (9, 9), (1, 1), (4, 4, 4, 4), (1, 1), True),
    # 1296 column rows x 60 outputs: blocks widened to 5 rows (256 outputs at least), 4 blocks
    "dense_im2col_min_width": ((1, 16, 39, 60), 8, 1, (9, 9), (2, 1), (4, 4, 4, 4), (1, 1), True),
    # 13 outputs a row: the 2 dropped columns of the wide path would be over an eighth: im2col
    # 2304 column rows x 13 outputs: blocks widened to 20 rows (256 outputs at least), the last of 13
    "dense_im2col_wide_blocks": ((1, 256, 33, 13), 4, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "dense_1d_one_block": ((2, 3, 50), 4, 1, (5,), (2,), (2, 2), (1,), True),
    # stride 1: the wide path (zero-padded planes of a block of rows read in place by the GEMM, no im2col)
    "wide_3x3_asym_pads_batch2": ((2, 5, 17, 23), 7, 1, (3, 3), (1, 1), (0, 2, 1, 1), (1, 1), True),
    "wide_5x3_dilated_no_bias": ((1, 6, 21, 40), 10, 1, (5, 3), (1, 1), (4, 2, 3, 1), (2, 2), False),
    "wide_grouped": ((1, 8, 19, 33), 12, 2, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "wide_1d_k5": ((2, 6, 70), 9, 1, (5,), (1,), (2, 3), (1,), True),
    "wide_1x1_padded": ((1, 5, 9, 11), 6, 1, (1, 1), (1, 1), (1, 0, 0, 1), (1, 1), True),
    # 150 outputs a group: the GEMM packs the in-place rows; 64 planes of 52-float rows: 6 blocks of 5 rows
    "wide_packed_many_outputs": ((1, 64, 30, 50), 150, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    # 3 input rows' planes of 120 floats: blocks of 28 output rows, the last of 2 (halo rows copied again)
    "wide_row_blocks_no_pad": ((1, 3, 200, 120), 16, 1, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), True),
    # 1152 rows of taps (more than one 256-deep block of the GEMM) over planes of 62 floats
    "wide_deep_k": ((1, 128, 12, 60), 24, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    # strides: the padded rows split into stride phases, each tap one run of one phase plane
    "wide_s2_asym_pads_odd": ((1, 5, 23, 31), 9, 1, (3, 3), (2, 2), (1, 0, 2, 1), (1, 1), True),
    "wide_s2x1_dilated": ((2, 4, 20, 37), 6, 1, (3, 5), (2, 1), (2, 3, 1, 2), (2, 2), False),
    "wide_s3_grouped": ((1, 6, 29, 44), 9, 3, (5, 5), (3, 3), (2, 2, 2, 2), (1, 1), True),
    "wide_1x1_s2_one_phase_read": ((1, 7, 16, 33), 10, 1, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), True),
    "wide_1d_s2": ((2, 3, 101), 5, 1, (4,), (2,), (1, 2), (1,), True),
    # 64 channels of 4 phase planes (26 floats a row): blocks widened to 10 output rows (256 positions), 5 blocks
    "wide_s2_row_blocks": ((1, 64, 90, 50), 20, 1, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
}


def _conv_model(xs, m, group, kernel, strides, pads, dil, bias, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, xs[1] // group, *kernel)).astype(np.float32)
    consts = {"w": w}
    if bias:
        consts["b"] = rng.standard_normal(m).astype(np.float32)
    return single_node_model("Conv", {"x": xs}, consts=consts, group=group, kernel_shape=list(kernel),
                             strides=list(strides), pads=list(pads), dilations=list(dil))


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_fast_paths_match_cpu(case, fused):
    xs, m, group, kernel, strides, pads, dil, bias = CONV_CASES[case]
    model = _conv_model(xs, m, group, kernel, strides, pads, dil, bias)
    x = np.random.default_rng(1).standard_normal(xs).astype(np.float32)
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
    want = cpu_run(model, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def _lowered_conv(case):
    model = onnx.shape_inference.infer_shapes(_conv_model(*CONV_CASES[case]))
    graph = Graph(model.graph, {"": model.opset_import[0].version})
    return lower(graph.nodes[0], graph), graph


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_scratch_planned_in_python_is_what_the_c_kernel_asks(case):
    """lowering.py sizes Conv's scratch without calling C: it must be ep_conv_scratch_size's answer."""
    call, graph = _lowered_conv(case)
    lib = EmbeddedCExecutionProvider().library.load()
    x, w, y = (make_tensor(value_shape(graph, n)) for n in (call.inputs[0], call.inputs[1], call.outputs[0]))
    p = next(v for kind, v in call.args if kind == "conv")
    params = ConvParams(p["group"], (ctypes.c_int64 * 2)(*p["kernel"]), (ctypes.c_int64 * 2)(*p["strides"]),
                        (ctypes.c_int64 * 4)(*p["pads"]), (ctypes.c_int64 * 2)(*p["dilations"]))
    size = lib.ep_conv_scratch_size
    size.restype = ctypes.c_int64
    assert call.scratch == size(ctypes.byref(x), ctypes.byref(w), ctypes.byref(y), ctypes.byref(params))


def test_strided_and_dense_conv_scratch_is_phase_planes_of_a_row_block_not_im2col_columns():
    call, _ = _lowered_conv("wide_row_blocks_no_pad")  # 3 channels, 28 output rows a block, rows of 120
    assert call.scratch == 3 * (28 + 2) * 120 + 16 * (27 * 120 + 118)  # planes, then the block's wide output
    call, _ = _lowered_conv("wide_s2_row_blocks")  # 64 channels x 4 phases, 10 rows (+1 halo) of 26 floats
    assert call.scratch == 64 * 4 * (10 + 1) * 26 + 20 * (9 * 26 + 25)
    call, _ = _lowered_conv("dense_im2col_min_width")  # 9x9: im2col, 5 output rows of 60 columns
    assert call.scratch == 16 * 81 * 5 * 60


def test_depthwise_conv_scratch_is_one_padded_plane_not_an_im2col_buffer():
    call, _ = _lowered_conv("dw3x3_s1_odd")
    assert call.scratch == 9 * 11  # the padded 9 x 11 plane (ep_depthwise.c's row path)
    assert call.scratch < 1 * 3 * 3 * 7 * 9  # what im2col would take


#: case -> (op, x shape, attributes)
POOL_CASES = {
    "max_2x2_s2": ("MaxPool", (1, 3, 9, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "max_5x5_s1_p2": ("MaxPool", (1, 2, 7, 6), {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}),
    "max_ceil_dilated_asym": ("MaxPool", (2, 2, 11, 10), {"kernel_shape": [3, 2], "strides": [2, 3],
                                                          "pads": [1, 0, 2, 1], "dilations": [2, 2], "ceil_mode": 1}),
    "max_1d": ("MaxPool", (1, 3, 17), {"kernel_shape": [4], "strides": [3], "pads": [1, 2]}),
    # the separable max (dilations 1): rows wider than its 512-float stack row go in chunks of outputs
    "max_3x3_s2_wide_rows_chunked": ("MaxPool", (1, 2, 7, 1301), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                                   "pads": [1, 1, 1, 1]}),
    "max_stride_past_kernel_ceil": ("MaxPool", (1, 2, 10, 11), {"kernel_shape": [2, 3], "strides": [3, 4],
                                                                "pads": [0, 2, 1, 0], "ceil_mode": 1}),
    "max_window_wider_than_input": ("MaxPool", (1, 1, 3, 2), {"kernel_shape": [3, 3], "pads": [2, 2, 2, 2]}),
    "max_1d_wide_k7_s1": ("MaxPool", (2, 1, 1500), {"kernel_shape": [7], "pads": [3, 3]}),
    "max_spp_k13_p6_every_window_clipped": ("MaxPool", (1, 3, 13, 13), {"kernel_shape": [13, 13],
                                                                        "pads": [6, 6, 6, 6]}),
    "max_k9_s2_pads_wider_than_half": ("MaxPool", (1, 2, 11, 12), {"kernel_shape": [9, 9], "strides": [2, 2],
                                                                   "pads": [4, 8, 5, 3]}),
    "avg_exclude_pad_ceil": ("AveragePool", (1, 3, 10, 9), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                           "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    "avg_include_pad_ceil": ("AveragePool", (1, 2, 10, 9), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                           "pads": [1, 0, 1, 2], "ceil_mode": 1,
                                                           "count_include_pad": 1}),
    "avg_1d_include_pad": ("AveragePool", (2, 2, 15), {"kernel_shape": [4], "strides": [3], "pads": [2, 1],
                                                       "count_include_pad": 1}),
    "max_dilated_1d": ("MaxPool", (2, 2, 15), {"kernel_shape": [3], "dilations": [3], "pads": [2, 1]}),
    # the banded pools (ep_layer.c pool_banded): frames of 2048 floats, so several bands a plane here
    "max_3x3_s1_many_bands": ("MaxPool", (1, 2, 70, 60), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    "max_5x5_s1_tall_narrow_bands": ("MaxPool", (1, 1, 200, 30), {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}),
    "max_6x5_s1_even_kernel_asym": ("MaxPool", (1, 2, 19, 21), {"kernel_shape": [6, 5], "pads": [3, 0, 2, 4]}),
    "max_3x3_s2_narrow_rows_bands": ("MaxPool", (1, 2, 90, 40), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                                 "pads": [1, 1, 1, 1]}),
    "max_3x3_s2_ceil_past_the_pads": ("MaxPool", (1, 1, 6, 6), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                               "ceil_mode": 1}),
    "avg_3x2_s3x2_three_rows": ("AveragePool", (1, 4, 3, 80), {"kernel_shape": [3, 2], "strides": [3, 2]}),
    "avg_bands_asym_pads_ceil": ("AveragePool", (1, 2, 100, 50), {"kernel_shape": [4, 3], "strides": [1, 2],
                                                                  "pads": [2, 1, 1, 2], "ceil_mode": 1}),
    "avg_bands_include_pad": ("AveragePool", (1, 2, 100, 50), {"kernel_shape": [4, 3], "strides": [3, 1],
                                                               "pads": [2, 1, 1, 2], "count_include_pad": 1}),
    # a frame row wider than the frame: the window walk
    "avg_rows_wider_than_the_frame": ("AveragePool", (1, 1, 4, 2100), {"kernel_shape": [2, 3], "pads": [0, 1, 1, 1]}),
}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool_window_walk_matches_cpu(case, fused):
    op, xs, attrs = POOL_CASES[case]
    model = single_node_model(op, {"x": xs}, opset=19, **attrs)
    x = np.random.default_rng(2).standard_normal(xs).astype(np.float32)
    x.flat[5] = np.nan  # NaN wins a max and spoils a mean, as in numpy
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
    want = cpu_run(model, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


#: case -> (a shape, b shape, transA, transB): row counts off the 6-row block, column counts off the
#: 16- and 32-wide strips (tails of 1..15), depths past the 256-deep cache block
GEMM_CASES = {
    "nn_tails": ((13, 300), (300, 49), 0, 0),
    "nn_one_column": ((7, 5), (5, 1), 0, 0),
    "nn_many_rows_packed": ((100, 70), (70, 37), 0, 0),
    "nn_trans_a": ((260, 11), (260, 33), 1, 0),
    "nt_packed_transposed": ((17, 513), (45, 513), 0, 1),
    "nt_dot_products": ((3, 40), (19, 40), 0, 1),
    # fewer than 32 rows: dot products by 4 rows of a x 4 of b, both ragged, depth past the 1024-deep block
    # with a tail off the vector width
    "nt_dot_blocks_and_tails": ((23, 1050), (38, 1050), 0, 1),
    "nt_dot_one_row": ((1, 37), (9, 37), 0, 1),
    "nt_packed_from_32_rows": ((32, 70), (40, 70), 0, 1),
    "tt": ((9, 12), (20, 9), 1, 1),
}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(GEMM_CASES))
def test_gemm_blocked_paths_match_cpu(case, fused):
    a_shape, b_shape, ta, tb = GEMM_CASES[case]
    rng = np.random.default_rng(3)
    n = b_shape[0] if tb else b_shape[1]
    consts = {"b": rng.standard_normal(b_shape).astype(np.float32), "c": rng.standard_normal(n).astype(np.float32)}
    model = single_node_model("Gemm", {"a": a_shape}, consts=consts, transA=ta, transB=tb, alpha=0.5, beta=2.0)
    a = rng.standard_normal(a_shape).astype(np.float32)
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"a": a})[0]
    want = cpu_run(model, {"a": a})[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * 10)


def test_batched_matmul_with_broadcast_b_matches_cpu():
    rng = np.random.default_rng(4)
    model = single_node_model("MatMul", {"a": (2, 3, 14, 270)}, consts={"b": rng.standard_normal((270, 35))
                                                                         .astype(np.float32)})
    a = rng.standard_normal((2, 3, 14, 270)).astype(np.float32)
    got = strict_session(model, fused=True, poison_outputs=True).run(None, {"a": a})[0]
    np.testing.assert_allclose(got, cpu_run(model, {"a": a})[0], rtol=RTOL, atol=ATOL * 10)


@pytest.mark.parametrize("op,opset,attrs", [("Sigmoid", 17, {}), ("Swish", 24, {"alpha": 1.7})])
def test_activations_on_the_vectorized_exp_match_cpu_over_the_whole_float_range(op, opset, attrs):
    """Sigmoid and Swish call ep_expf (ep_exp.h): every magnitude, the clamped ends, infinities and NaN."""
    special = [0.0, -0.0, 1e-30, -1e-30, 86.4, 86.6, 87.4, 88.7, 88.8, 104.0, -86.4, -86.6, -87.4, -88.8,
               -104.0, np.inf, -np.inf, np.nan, 3.4e38, -3.4e38]
    x = np.concatenate([np.linspace(-120, 120, 4001), special]).astype(np.float32).reshape(1, -1)
    model = single_node_model(op, {"x": x.shape}, opset=opset, **attrs)
    got = strict_session(model, fused=True, poison_outputs=True).run(None, {"x": x})[0]
    want = cpu_run(model, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


#: the other builds of ep_sgemm.c: plain C99 loops (any compiler), and 8-float vectors (AVX without AVX-512)
OTHER_BUILDS = [pytest.param(["-DEP_NO_VECTOR_EXT"], id="plain_c99"),
                pytest.param(["-mno-avx512f"], id="avx_8_lanes",
                             marks=pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                                      reason="an x86 flag"))]


@pytest.mark.parametrize("cflags", OTHER_BUILDS)
@pytest.mark.parametrize("case", ["nn_tails", "nt_packed_transposed", "nn_many_rows_packed",
                                  "nt_dot_blocks_and_tails"])
def test_gemm_other_builds_match_cpu(case, cflags):
    a_shape, b_shape, ta, tb = GEMM_CASES[case]
    rng = np.random.default_rng(5)
    consts = {"b": rng.standard_normal(b_shape).astype(np.float32)}
    model = single_node_model("Gemm", {"a": a_shape}, consts=consts, transA=ta, transB=tb)
    a = rng.standard_normal(a_shape).astype(np.float32)
    got = strict_session(model, fused=True, cflags=cflags, poison_outputs=True).run(None, {"a": a})[0]
    np.testing.assert_allclose(got, cpu_run(model, {"a": a})[0], rtol=RTOL, atol=ATOL * 10)


@pytest.mark.parametrize("cflags", OTHER_BUILDS)
@pytest.mark.parametrize("case", ["dw5x5_s2_asym_pads", "dense_im2col_row_blocks", "grouped_cg2",
                                  "wide_5x3_dilated_no_bias", "wide_packed_many_outputs", "wide_deep_k",
                                  "wide_s2x1_dilated"])
def test_conv_other_builds_match_cpu(case, cflags):
    xs, m, group, kernel, strides, pads, dil, bias = CONV_CASES[case]
    model = _conv_model(xs, m, group, kernel, strides, pads, dil, bias)
    x = np.random.default_rng(6).standard_normal(xs).astype(np.float32)
    sess = strict_session(model, fused=True, cflags=cflags, poison_outputs=True)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)


#: case -> (x shape, scales or None, sizes or None, attributes): the row-blend paths of resize.c (rows
#: of at most 512 floats whole, wider ones by chunks of output columns, a chunk reading more than 512
#: input columns per output element), nearest's gather and row copies, every mode and coordinate mode
RESIZE_CASES = {
    "nearest_2x_row_copies": ((1, 3, 5, 7), (1, 1, 2, 2), None, {"mode": "nearest"}),
    "nearest_3x_floor_asymmetric": ((2, 1, 4, 3), (1, 1, 3, 3), None,
                                    {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                     "nearest_mode": "floor"}),
    "nearest_odd_scale_ceil": ((1, 2, 7, 9), (1, 1, 1.7, 0.6), None, {"mode": "nearest", "nearest_mode": "ceil"}),
    "nearest_down_round_prefer_ceil": ((1, 2, 13, 11), (1, 1, 0.5, 0.4), None,
                                       {"mode": "nearest", "nearest_mode": "round_prefer_ceil",
                                        "coordinate_transformation_mode": "align_corners"}),
    "linear_2x_pytorch_half_pixel": ((1, 5, 9, 11), (1, 1, 2, 2), None,
                                     {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}),
    "linear_half_pixel_odd": ((2, 3, 7, 13), (1, 1, 1.5, 2.3), None, {"mode": "linear"}),
    "linear_align_corners_sizes": ((1, 2, 6, 5), None, (1, 2, 11, 17),
                                   {"mode": "linear", "coordinate_transformation_mode": "align_corners"}),
    "linear_asymmetric_down": ((1, 1, 17, 19), (1, 1, 0.5, 0.35), None,
                               {"mode": "linear", "coordinate_transformation_mode": "asymmetric"}),
    "linear_antialias_down": ((1, 2, 20, 23), (1, 1, 0.3, 0.45), None, {"mode": "linear", "antialias": 1}),
    "cubic_up": ((1, 2, 6, 7), (1, 1, 2.5, 1.5), None, {"mode": "cubic"}),
    "cubic_antialias_down": ((1, 1, 15, 16), (1, 1, 0.6, 0.5), None, {"mode": "cubic", "antialias": 1}),
    "linear_wide_rows_chunked": ((1, 2, 3, 1300), (1, 1, 2, 2), None, {"mode": "linear"}),
    "linear_wide_rows_odd_scale": ((1, 2, 3, 1300), (1, 1, 2, 1.3), None, {"mode": "linear"}),
    "linear_wide_down_past_the_row": ((1, 1, 2, 6000), (1, 1, 1, 0.02), None, {"mode": "linear"}),
    "cubic_wide_rows": ((1, 1, 4, 700), (1, 1, 1.5, 1.1), None, {"mode": "cubic"}),
    # twice the width: the columns blend as pairs of in-order streams between the clamped edges
    "linear_2x_pairs_half_pixel_odd_width": ((1, 3, 5, 37), (1, 1, 2, 2), None, {"mode": "linear"}),
    "linear_2x_pairs_asymmetric": ((1, 2, 4, 64), (1, 1, 1, 2), None,
                                   {"mode": "linear", "coordinate_transformation_mode": "asymmetric"}),
    "linear_2x_pairs_pytorch_width_two": ((1, 2, 3, 2), (1, 1, 2, 2), None,
                                          {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}),
    "linear_2x_pairs_widest_stack_row": ((1, 1, 3, 512), (1, 1, 2, 2), None, {"mode": "linear"}),
    # nearest to twice the width: each element twice, in order (odd output width: the last one once)
    "nearest_2x_floor_asymmetric_doubled": ((1, 3, 6, 26), (1, 1, 2, 2), None,
                                            {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                             "nearest_mode": "floor"}),
    "nearest_doubled_odd_width_sizes": ((1, 2, 4, 5), None, (1, 2, 8, 9),
                                        {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                         "nearest_mode": "floor"}),
}
#: the cases whose geometry onnxruntime computes as the cpu provider does (where a scale times a length is
#: not a whole number, onnxruntime's float32 coordinates and output lengths differ from the core's double ones)
RESIZE_AS_ORT = {"nearest_2x_row_copies", "nearest_3x_floor_asymmetric", "nearest_odd_scale_ceil",
                 "linear_2x_pytorch_half_pixel", "linear_half_pixel_odd", "linear_align_corners_sizes",
                 "linear_asymmetric_down", "linear_antialias_down", "cubic_up", "cubic_antialias_down",
                 "linear_wide_rows_chunked", "linear_2x_pairs_half_pixel_odd_width", "linear_2x_pairs_asymmetric",
                 "linear_2x_pairs_pytorch_width_two", "linear_2x_pairs_widest_stack_row"}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(RESIZE_CASES))
def test_resize_row_blend_paths_match_onnxruntime(case, fused):
    ort = pytest.importorskip("onnxruntime")
    xs, scales, sizes, attrs = RESIZE_CASES[case]
    consts = {"roi": np.zeros(0, np.float32),
              "sc": np.float32(scales) if scales is not None else np.zeros(0, np.float32)}
    if sizes is not None:
        consts["sz"] = np.int64(sizes)
    model = single_node_model("Resize", {"x": xs}, consts=consts, opset=19, **attrs)
    x = np.random.default_rng(7).standard_normal(xs).astype(np.float32)
    sess = strict_session(model, fused=fused, poison_outputs=True)
    got = sess.run(None, {"x": x})[0]
    np.testing.assert_allclose(got, cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)
    if case in RESIZE_AS_ORT:
        oracle = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        want = oracle.run(None, {"x": x})[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    x.flat[4] = np.nan  # every tap that reads it gives NaN, as the cpu provider's (onnxruntime skips zero weights)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("length", [1, 7, 8, 9, 133])
def test_softmax_last_axis_lanes_match_cpu_with_nan_and_infinities(length):
    """Softmax over the last axis runs its max and sum in eight lanes (ep_rows.c): every tail length, a row
    with NaN (all NaN), one with +inf (NaN where inf - inf), one of -inf and finite values, large magnitudes."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((6, length)) * 30).astype(np.float32)
    x[1, length // 2] = np.nan
    x[2, length - 1] = np.inf
    x[3, : max(length - 1, 1)] = -np.inf
    x[4] *= 1e6
    model = single_node_model("Softmax", {"x": x.shape}, axis=-1, opset=13)
    for fused in (False, True):
        got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
        np.testing.assert_allclose(got, cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("plane", [(1, 1), (1, 7), (2, 4), (3, 3), (37, 29)], ids=lambda p: f"{p[0]}x{p[1]}")
def test_global_average_pool_lanes_match_cpu(plane):
    """GlobalAveragePool sums each plane in eight double lanes and a tail: plane sizes below, at and past 8."""
    xs = (2, 5, *plane)
    x = (np.random.default_rng(9).standard_normal(xs) * 100).astype(np.float32)
    x[1, 2].reshape(-1)[-1] = np.nan
    model = single_node_model("GlobalAveragePool", {"x": xs}, opset=13)
    for fused in (False, True):
        got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
        np.testing.assert_allclose(got, cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)


#: case -> (a shape, b shape): a b shared by the whole batch is one product over the batch's rows
#: (`ops/matmul.c`), any other batch one product per matrix
MATMUL_BATCHES = {
    "rows_of_one_shared_b": ((32, 1, 70), (70, 37)),
    "shared_b_with_unit_batch_dims": ((2, 3, 5, 9), (1, 1, 9, 4)),
    "shared_1d_b": ((4, 3, 6), (6,)),
    "a_broadcast_over_b_batch": ((1, 5, 8), (3, 8, 7)),
    "both_batched": ((3, 2, 5, 8), (3, 1, 8, 6)),
    "empty_batch": ((0, 4, 5), (5, 3)),
}


@pytest.mark.parametrize("case", sorted(MATMUL_BATCHES))
def test_batched_matmul_paths_match_cpu(case):
    a_shape, b_shape = MATMUL_BATCHES[case]
    rng = np.random.default_rng(10)
    b = rng.standard_normal(b_shape).astype(np.float32)
    a = rng.standard_normal(a_shape).astype(np.float32)
    model = single_node_model("MatMul", {"a": a_shape}, consts={"b": b})
    for fused in (False, True):
        got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"a": a})[0]
        want = cpu_run(model, {"a": a})[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * 10)


@pytest.mark.parametrize("length", [3, 8, 13, 256])
def test_layernorm_lanes_match_cpu(length):
    """LayerNormalization sums each row's mean and variance in eight double lanes and a tail (with and
    without bias; a NaN spoils its row only; large offsets, where a float sum would lose the variance),
    against numpy in float64."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((3, 4, length)) + 1000.0).astype(np.float32)
    x[1, 2, length // 2] = np.nan
    consts = {"s": rng.standard_normal(length).astype(np.float32)}
    for bias in (False, True):
        if bias:
            consts["b"] = rng.standard_normal(length).astype(np.float32)
        model = single_node_model("LayerNormalization", {"x": x.shape}, consts=consts, epsilon=1e-5)
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=-1, keepdims=True)
        want = (x64 - mean) / np.sqrt(((x64 - mean) ** 2).mean(axis=-1, keepdims=True) + 1e-5) * consts["s"]
        want = want + consts["b"] if bias else want
        for fused in (False, True):
            got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * 10)


@pytest.mark.parametrize("shape,axis", [((2, 5, 3), 1), ((1, 16, 4, 70), 1), ((3, 7, 259), 1), ((2, 3, 4, 5), 0)],
                         ids=["inner3", "inner280", "inner259_chunks", "axis0"])
def test_softmax_inner_axis_columns_match_cpu(shape, axis):
    """Softmax along an axis with elements after it runs over blocks of up to 128 adjacent columns (ep_rows.c):
    a NaN spoils its column only, +inf gives NaN where inf - inf, a column of -inf and finite values."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal(shape) * 20).astype(np.float32)
    flat = np.moveaxis(x, axis, -1).reshape(-1, shape[axis])
    flat[1, 0] = np.nan
    flat[2, -1] = np.inf
    flat[3, :-1] = -np.inf
    x = np.ascontiguousarray(np.moveaxis(flat.reshape(np.moveaxis(x, axis, -1).shape), -1, axis))
    model = single_node_model("Softmax", {"x": shape}, axis=axis, opset=13)
    for fused in (False, True):
        got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
        np.testing.assert_allclose(got, cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("poison", [False, True])
def test_fused_large_inputs_read_in_place_and_large_outputs_fresh_give_the_right_values(poison):
    """From provider.DIRECT_BYTES up a fused run passes inputs by pointer (when C-contiguous and aligned,
    else copies them) and writes each output into a new array: every layout of the input gives the right
    values, and an output handed back is never written by a later run."""
    from providers.embedded_c.provider import DIRECT_BYTES

    shape = (64, 512)
    assert np.prod(shape) * 4 >= DIRECT_BYTES
    small = (2, 3)
    inputs = {"x": (onnx.TensorProto.FLOAT, list(shape)), "s": (onnx.TensorProto.FLOAT, list(small))}
    nodes = [onnx.helper.make_node("Relu", ["x"], ["y"]), onnx.helper.make_node("Neg", ["s"], ["t"])]
    graph = onnx.helper.make_graph(
        nodes, "big_io", [onnx.helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(shape)),
         onnx.helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, list(small))])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    sess = strict_session(model, fused=True, poison_outputs=poison)
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((64, 1024)).astype(np.float32)
    s = rng.standard_normal(small).astype(np.float32)
    layouts = [np.ascontiguousarray(wide[:, :512]), wide[:, ::2], np.asfortranarray(wide[:, 1::2]),
               np.frombuffer(b"\0" + wide[:, :512].tobytes(), dtype=np.float32, offset=1).reshape(shape)]
    assert not layouts[3].flags.aligned
    first = None
    for x in layouts:
        y, t = sess.run(None, {"x": x, "s": s})
        np.testing.assert_array_equal(y, np.maximum(x, 0))
        np.testing.assert_array_equal(t, -s)
        if first is None:
            first, kept = y, y.copy()
    np.testing.assert_array_equal(first, kept)  # later runs wrote elsewhere
