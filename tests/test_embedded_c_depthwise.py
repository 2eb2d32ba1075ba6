"""Depthwise Conv runs on the embedded C provider's ep_depthwise.c: narrow maps on its channel-lane path
(16 output channels interleaved in one padded scratch plane, the channel as the vector lane), wider ones
with 3x3 (and strided 5x5) kernels on its row path (one padded plane, each output row in one pass), and
agrees with the cpu provider on every geometry they take: odd sizes, kernels 3, 5 and 7, strides 1 and 2
and unequal, dilations, asymmetric pads, input rows and columns no window reads, channel multipliers above
1, channel counts that are not a multiple of the lanes (a last block overlapping the one before, or a
partial one), several blocks of rows, 1-D, batches; with the bias, activation and residual epilogue it
shares with conv.c's other paths bitwise the separate ops. Per node and fused, with poison_outputs on so
an output left unwritten cannot pass."""

from __future__ import annotations

import ctypes

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession
from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.lowering import depthwise_scratch, lower
from providers.embedded_c.provider import ConvParams, make_tensor, value_shape
from tests.embedded_c_helpers import ATOL, RTOL, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

#: case -> (x shape, out channels, kernel, strides, pads, dilations, bias); group = input channels
CASES = {
    "c16_3x3_s1_7x7": ((1, 16, 7, 7), 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "c20_3x3_s2_odd_overlapping_last_block": ((1, 20, 13, 11), 20, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    "c9_5x5_partial_block_batch2": ((2, 9, 9, 10), 9, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), True),
    "c24_7x7_s1": ((1, 24, 11, 9), 24, (7, 7), (1, 1), (3, 3, 3, 3), (1, 1), True),
    "c18_5x5_s2_asym_pads": ((1, 18, 15, 12), 18, (5, 5), (2, 2), (1, 2, 3, 0), (1, 1), True),
    "c16_3x3_dilated": ((1, 16, 12, 10), 16, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), True),
    "c12_multiplier2": ((1, 12, 9, 8), 24, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    "c5_multiplier4_s2": ((1, 5, 10, 11), 20, (3, 3), (2, 2), (0, 1, 1, 0), (1, 1), True),
    "c16_unequal_strides_dilated": ((1, 16, 14, 15), 16, (3, 2), (2, 3), (2, 1, 0, 2), (2, 1), True),
    "c32_1d_k5_s2": ((2, 32, 29), 32, (5,), (2,), (2, 1), (1,), True),
    "c16_no_pads_no_bias": ((1, 16, 6, 5), 16, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), False),
    "c17_stride_above_kernel": ((1, 17, 10, 9), 17, (2, 2), (4, 4), (1, 0, 0, 1), (1, 1), True),
    "c16_one_column": ((1, 16, 9, 1), 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    # 46 output rows per block of scratch: two blocks, the second reading the first's last rows again
    "c16_row_blocks_s1": ((1, 16, 60, 14), 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
    # 40 outputs a row at stride 2: 3 output rows per block, 5 blocks
    "c16_row_blocks_5x5_s2": ((1, 16, 30, 79), 16, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1), True),
    # the row path: wider maps, 3x3 at stride 1 or 2, 5x5 at stride 2
    "rows_c4_3x3_s1_asym_pads": ((1, 4, 30, 37), 4, (3, 3), (1, 1), (1, 0, 2, 1), (1, 1), True),
    "rows_c6_3x3_s2_multiplier2_batch2": ((2, 6, 33, 41), 12, (3, 3), (2, 2), (0, 1, 1, 1), (1, 1), True),
    "rows_c3_5x5_s2": ((1, 3, 80, 90), 3, (5, 5), (2, 2), (2, 1, 2, 2), (1, 1), False),
    "rows_c16_3x3_s2x1": ((1, 16, 20, 40), 16, (3, 3), (2, 1), (1, 1, 1, 1), (1, 1), True),
    "rows_c8_3x3_s2_last_row_and_column_unread": ((1, 8, 12, 42), 8, (3, 3), (2, 2), (0, 0, 0, 0), (1, 1), True),
    # 300 outputs a row: the epilogue runs on blocks of 6 rows
    "rows_c2_3x3_long_rows": ((1, 2, 70, 300), 2, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),
}


def _model(case: str, activation: str | None = None, residual: bool = False, apart: bool = False) -> onnx.ModelProto:
    """x -> depthwise Conv [-> activation] [-> + r] -> y; with `apart` every intermediate is a graph output
    too (a second reader: the nodes then run as separate calls)."""
    xs, m, kernel, strides, pads, dil, bias = CASES[case]
    rng = np.random.default_rng(len(case))
    inits = [numpy_helper.from_array(rng.standard_normal((m, 1, *kernel)).astype(np.float32), "w")]
    conv_in = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(m).astype(np.float32), "b"))
        conv_in.append("b")
    nodes = [helper.make_node("Conv", conv_in, ["c"], group=xs[1], kernel_shape=list(kernel), strides=list(strides),
                              pads=list(pads), dilations=list(dil))]
    last = "c"
    if activation == "relu6":
        inits += [numpy_helper.from_array(np.array(v, dtype=np.float32), n) for n, v in (("lo", 0.0), ("hi", 6.0))]
        nodes.append(helper.make_node("Clip", [last, "lo", "hi"], ["a"]))
        last = "a"
    elif activation is not None:
        nodes.append(helper.make_node(activation, [last], ["a"]))
        last = "a"
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)]
    if residual:
        ys = _out_shape(case)
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, ys))
        nodes.append(helper.make_node("Add", [last, "r"], ["s"]))
        last = "s"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    outs = ["y"] + ([n.output[0] for n in nodes[:-1]] if apart else [])
    g = helper.make_graph(nodes, "dw", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                for o in outs], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _out_shape(case: str) -> tuple[int, ...]:
    xs, m, kernel, strides, pads, dil, _ = CASES[case]
    half = len(kernel)
    out = [(n + pads[a] + pads[a + half] - (k - 1) * d - 1) // s + 1
           for a, (n, k, s, d) in enumerate(zip(xs[2:], kernel, strides, dil))]
    return (xs[0], m, *out)


def _feed(case: str, residual: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    feed = {"x": (rng.standard_normal(CASES[case][0]) * 2).astype(np.float32)}
    if residual:
        feed["r"] = rng.standard_normal(_out_shape(case)).astype(np.float32)
    return feed


def _lowered_conv(case: str):
    model = onnx.shape_inference.infer_shapes(_model(case))
    graph = Graph(model.graph, {"": 17})
    return lower(graph.nodes[0], graph), graph


def _params(call) -> tuple[dict, ConvParams]:
    p = next(v for kind, v in call.args if kind == "conv")
    return p, ConvParams(p["group"], (ctypes.c_int64 * 2)(*p["kernel"]), (ctypes.c_int64 * 2)(*p["strides"]),
                         (ctypes.c_int64 * 4)(*p["pads"]), (ctypes.c_int64 * 2)(*p["dilations"]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_depthwise_runs_on_ep_depthwise_and_python_sizes_its_scratch_as_c_does(case):
    call, graph = _lowered_conv(case)
    lib = EmbeddedCExecutionProvider().library.load()
    x, w, y = (make_tensor(value_shape(graph, n)) for n in (call.inputs[0], call.inputs[1], call.outputs[0]))
    p, params = _params(call)
    ys = value_shape(graph, call.outputs[0])
    oh, ow = (ys[2], ys[3]) if len(ys) == 4 else (1, ys[2])
    ok = lib.ep_depthwise_ok
    ok.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ConvParams)]
    assert ok(ys[1], oh, ow, ctypes.byref(params)) == 1
    size = lib.ep_conv_scratch_size
    size.restype = ctypes.c_int64
    assert call.scratch == depthwise_scratch(ys[1], oh, ow, p)
    assert call.scratch == size(ctypes.byref(x), ctypes.byref(w), ctypes.byref(y), ctypes.byref(params))


def test_narrow_maps_take_the_lane_path_wider_3x3_ones_the_row_path_others_the_plane_loop():
    p = {"kernel": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 32}
    # 16 rows of 18 padded floats fit one block: (18 rows x 18 + 9 weights + 16 outputs) x 16 lanes
    assert depthwise_scratch(32, 16, 16, p) == (18 * 18 + 9 + 16) * 16
    assert depthwise_scratch(32, 28, 28, p) == 30 * 30  # a row of 28 fills the row path's vectors: its plane
    assert depthwise_scratch(4, 7, 7, p) == 9 * 9  # 4 channels would leave most lanes idle
    assert depthwise_scratch(32, 14, 14, {**p, "strides": [2, 2]}) == 29 * 29
    assert depthwise_scratch(32, 7, 7, {**p, "strides": [2, 2]}) == (15 * 15 + 9 + 7) * 16
    seven = {**p, "kernel": [7, 7], "pads": [3, 3, 3, 3]}
    assert depthwise_scratch(32, 32, 32, seven) is not None and depthwise_scratch(32, 40, 40, seven) is None
    five = {**p, "kernel": [5, 5], "pads": [2, 2, 2, 2]}
    assert depthwise_scratch(240, 12, 80, five) is None  # 5x5 at stride 1 on wide maps: conv.c's plane loop


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_depthwise_paths_match_cpu(case, fused):
    model, feed = _model(case), _feed(case)
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, feed)[0]
    want = InferenceSession(model, providers=["cpu"]).run(None, feed)[0]
    assert got.shape == want.shape == _out_shape(case)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", ["c18_5x5_s2_asym_pads", "rows_c6_3x3_s2_multiplier2_batch2"])
def test_depthwise_matches_a_numpy_depthwise_conv(case):
    """Against numpy directly (not only the cpu provider): stride 2, asymmetric pads, a multiplier of 2."""
    xs, m, kernel, strides, pads, _, _ = CASES[case]
    model, feed = _model(case), _feed(case)
    got = strict_session(model, fused=True, poison_outputs=True).run(None, feed)[0]
    w = numpy_helper.to_array(model.graph.initializer[0])
    b = numpy_helper.to_array(model.graph.initializer[1])
    xp = np.pad(feed["x"].astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    xp = np.repeat(xp, m // xs[1], axis=1)  # output channel o reads input channel o // multiplier
    oh, ow = got.shape[2:]
    want = np.zeros(got.shape)
    for ki in range(kernel[0]):
        for kj in range(kernel[1]):
            win = xp[:, :, ki:ki + strides[0] * oh:strides[0], kj:kj + strides[1] * ow:strides[1]]
            want += win * w[None, :, 0, ki, kj, None, None]
    want += b[None, :, None, None]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("residual", [False, True], ids=["act", "act_add"])
@pytest.mark.parametrize("activation", ["Relu", "relu6", "HardSwish", "Sigmoid"])
@pytest.mark.parametrize("case", ["c20_3x3_s2_odd_overlapping_last_block", "c9_5x5_partial_block_batch2",
                                  "c5_multiplier4_s2", "c16_row_blocks_s1", "rows_c6_3x3_s2_multiplier2_batch2",
                                  "rows_c2_3x3_long_rows"])
def test_depthwise_epilogue_is_bitwise_the_separate_ops_and_matches_cpu(case, activation, residual):
    model, feed = _model(case, activation, residual), _feed(case, residual)
    fused = strict_session(model, fused=True, poison_outputs=True).run(None, feed)[0]
    apart = strict_session(_model(case, activation, residual, apart=True), fused=True).run(None, feed)[0]
    want = InferenceSession(model, providers=["cpu"]).run(None, feed)[0]
    assert fused.tobytes() == apart.tobytes()
    np.testing.assert_allclose(fused, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", ["c20_3x3_s2_odd_overlapping_last_block", "c5_multiplier4_s2", "c32_1d_k5_s2",
                                  "rows_c8_3x3_s2_last_row_and_column_unread"])
def test_exported_depthwise_runs_clean_under_sanitizers_and_matches_cpu(case, tmp_path):
    """Standalone C (ep_depthwise.c copied with the support sources), built with ASan and UBSan: no access
    outside the buffers (the interleaved rows, the last block's overlap, the padding), the cpu provider's
    results."""
    model = _model(case, "relu6", residual=True)
    res = export_model(model, tmp_path / "out")
    assert (tmp_path / "out" / "ep_depthwise.c").exists()
    sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    _, _, got, want = verify(model, res, extra_flags=sanitize)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)
