"""Dense (non-depthwise) Conv on the embedded C provider: each path of conv.c's GEMM (the wide path reading
phase planes in place for few outputs, gathering the exact output positions for many, pointwise, im2col)
and of ep_sgemm.c's blocking (ragged strips and row blocks, several blocks of k) against a float64 numpy
reference, per node and fused, with bias, activation and residual epilogues."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper, numpy_helper

from providers.embedded_c import EmbeddedCExecutionProvider
from tests.embedded_c_helpers import strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

#: name -> (x shape, w shape, Conv attributes); which path of conv.c each one takes is noted
GEOMETRIES = {
    # wide path, 128 outputs: a 4 x 32 map gathered as its 128 exact positions (8 vectors against 134 wide)
    "exact_small_map": ((1, 24, 4, 32), (128, 24, 3, 3), {"pads": [1, 1, 1, 1]}),
    # exact positions, 131 outputs (a last block of 3 rows), a 13 x 13 map (too narrow for wide positions;
    # a ragged strip of 9 columns)
    "exact_odd": ((1, 7, 13, 13), (131, 7, 3, 3), {"pads": [1, 1, 1, 1]}),
    # exact positions with uneven pads, a row stride and a dilation (two phases, runs of 16 from rows of 18)
    "exact_strided_dilated": ((1, 5, 17, 31), (130, 5, 3, 3), {"pads": [1, 2, 0, 2], "strides": [2, 2],
                                                             "dilations": [1, 2]}),
    # exact positions over two blocks of k (40 * 9 = 360 rows: two of 180)
    "exact_deep": ((1, 40, 6, 10), (136, 40, 3, 3), {"pads": [1, 1, 1, 1]}),
    # exact positions per group (two groups of 128 outputs) and per image
    "exact_grouped_batch": ((2, 8, 6, 10), (256, 4, 3, 3), {"pads": [1, 1, 1, 1], "group": 2}),
    # wide path, few outputs: strips read in place from the phase planes, the wide output copied out
    "in_place_few_outputs": ((1, 9, 11, 21), (20, 9, 3, 3), {"pads": [1, 1, 1, 1]}),
    # wide path with a column stride of 2 and 132 outputs
    "exact_stride2": ((1, 16, 20, 20), (132, 16, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    # pointwise, many outputs (packed strips), 63 positions (a ragged tail)
    "pointwise_many": ((1, 19, 7, 9), (133, 19, 1, 1), {}),
    # pointwise, few outputs (strips in place)
    "pointwise_few": ((1, 16, 23, 29), (24, 16, 1, 1), {}),
    # exact positions where the wide ones would drop most columns: a 5-wide kernel on a 5-wide map
    "exact_narrow_map": ((1, 6, 9, 5), (130, 6, 5, 5), {"pads": [2, 2, 2, 2]}),
    # im2col: the same with few outputs
    "im2col": ((1, 6, 9, 5), (30, 6, 5, 5), {"pads": [2, 2, 2, 2]}),
    # 1-D, 128 outputs
    "conv1d": ((1, 12, 50), (128, 12, 5), {"pads": [2, 1]}),
}


def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, attrs: dict) -> np.ndarray:
    """Conv in float64 by windows of the zero-padded input (1-D as 2-D of height 1)."""
    one_d = x.ndim == 3
    if one_d:
        x, w = x[:, :, None, :], w[:, :, None, :]
        pads = attrs.get("pads", [0, 0])
        attrs = {"pads": [0, pads[0], 0, pads[1]], "strides": [1, *attrs.get("strides", [1])],
                 "dilations": [1, *attrs.get("dilations", [1])], "group": attrs.get("group", 1)}
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    group = attrs.get("group", 1)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    m, cg, kh, kw = w.shape
    win = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    mg = m // group
    ys = [np.einsum("nchwij,mcij->nmhw", win[:, g * cg:(g + 1) * cg], w[g * mg:(g + 1) * mg].astype(np.float64))
          for g in range(group)]
    y = np.concatenate(ys, axis=1) + b.astype(np.float64)[None, :, None, None]
    return y[:, :, 0, :] if one_d else y


def _model(xs, ws, attrs, tail: str):
    """x -> Conv(w, b) [-> Relu [-> Add r]] -> y, by `tail`: "", "relu" or "relu_add"."""
    rng = np.random.default_rng(sum(ws) + len(tail))
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c" if tail else "y"], **attrs)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)]
    if tail:
        nodes.append(helper.make_node("Relu", ["c"], ["a" if tail == "relu_add" else "y"]))
    if tail == "relu_add":
        nodes.append(helper.make_node("Add", ["a", "r"], ["y"]))
        out_shape = reference(np.zeros(xs, dtype=np.float32), w, b, attrs).shape
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, list(out_shape)))
    g = helper.make_graph(nodes, "conv", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), w, b


@pytest.mark.parametrize("tail", ["", "relu", "relu_add"])
@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_dense_conv_paths_match_a_float64_reference(geometry, fused, tail):
    xs, ws, attrs = GEOMETRIES[geometry]
    model, w, b = _model(xs, ws, attrs, tail)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xs).astype(np.float32)
    want = reference(x, w, b, attrs)
    feed = {"x": x}
    if tail:
        want = np.maximum(want, 0.0)
    if tail == "relu_add":
        feed["r"] = rng.standard_normal(want.shape).astype(np.float32)
        want = want + feed["r"]
    got = strict_session(model, fused=fused).run(None, feed)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

