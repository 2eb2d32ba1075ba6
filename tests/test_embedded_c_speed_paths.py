"""The fast paths of the embedded C kernels agree with the cpu provider on odd geometries.

Depthwise Conv (one input channel per group, channel multiplier up to 4) runs as a direct loop over
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
    # 144 column rows x 300 outputs: im2col in blocks of 6 output rows (262144 floats), the last of 4
    "dense_im2col_row_blocks": ((1, 16, 100, 300), 4, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    # 1152 column rows x 60 outputs: blocks widened to 5 rows (256 outputs at least), the last of 4
    "dense_im2col_min_width": ((1, 128, 39, 60), 8, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    # 2304 column rows x 13 outputs: blocks widened to 20 rows (256 outputs at least), the last of 13
    "dense_im2col_wide_blocks": ((1, 256, 33, 13), 4, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "dense_1d_one_block": ((2, 3, 50), 4, 1, (5,), (2,), (2, 2), (1,), True),
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


def test_depthwise_conv_scratch_is_one_padded_plane_not_an_im2col_buffer():
    call, _ = _lowered_conv("dw3x3_s1_odd")
    assert call.scratch == 9 * 11 + 7 * 11  # padded 9 x 11 plane, then 7 rows of 11 accumulators
    assert call.scratch < 1 * 3 * 3 * 7 * 9  # what im2col would take


#: case -> (op, x shape, attributes)
POOL_CASES = {
    "max_2x2_s2": ("MaxPool", (1, 3, 9, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "max_5x5_s1_p2": ("MaxPool", (1, 2, 7, 6), {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}),
    "max_ceil_dilated_asym": ("MaxPool", (2, 2, 11, 10), {"kernel_shape": [3, 2], "strides": [2, 3],
                                                          "pads": [1, 0, 2, 1], "dilations": [2, 2], "ceil_mode": 1}),
    "max_1d": ("MaxPool", (1, 3, 17), {"kernel_shape": [4], "strides": [3], "pads": [1, 2]}),
    "avg_exclude_pad_ceil": ("AveragePool", (1, 3, 10, 9), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                           "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    "avg_include_pad_ceil": ("AveragePool", (1, 2, 10, 9), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                           "pads": [1, 0, 1, 2], "ceil_mode": 1,
                                                           "count_include_pad": 1}),
    "avg_1d_include_pad": ("AveragePool", (2, 2, 15), {"kernel_shape": [4], "strides": [3], "pads": [2, 1],
                                                       "count_include_pad": 1}),
    "max_dilated_1d": ("MaxPool", (2, 2, 15), {"kernel_shape": [3], "dilations": [3], "pads": [2, 1]}),
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
@pytest.mark.parametrize("case", ["nn_tails", "nt_packed_transposed", "nn_many_rows_packed"])
def test_gemm_other_builds_match_cpu(case, cflags):
    a_shape, b_shape, ta, tb = GEMM_CASES[case]
    rng = np.random.default_rng(5)
    consts = {"b": rng.standard_normal(b_shape).astype(np.float32)}
    model = single_node_model("Gemm", {"a": a_shape}, consts=consts, transA=ta, transB=tb)
    a = rng.standard_normal(a_shape).astype(np.float32)
    got = strict_session(model, fused=True, cflags=cflags, poison_outputs=True).run(None, {"a": a})[0]
    np.testing.assert_allclose(got, cpu_run(model, {"a": a})[0], rtol=RTOL, atol=ATOL * 10)


@pytest.mark.parametrize("cflags", OTHER_BUILDS)
@pytest.mark.parametrize("case", ["dw5x5_s2_asym_pads", "dense_im2col_row_blocks", "grouped_cg2"])
def test_conv_other_builds_match_cpu(case, cflags):
    xs, m, group, kernel, strides, pads, dil, bias = CONV_CASES[case]
    model = _conv_model(xs, m, group, kernel, strides, pads, dil, bias)
    x = np.random.default_rng(6).standard_normal(xs).astype(np.float32)
    sess = strict_session(model, fused=True, cflags=cflags, poison_outputs=True)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)
