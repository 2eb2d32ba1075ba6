"""The integer kernels of the embedded C provider against an exact integer reference.

MatMulInteger and ConvInteger must equal the int64 sums of products (saturated to int32); QLinearMatMul and
QLinearConv must equal those sums requantized with the same Q31 multipliers and shifts as the C code
(`quant.quantize_multiplier`, gemmlowp's rounding), bit for bit. The kernels accumulate in int32 over
blocks short enough never to overflow, so these hold for long reductions too (K and C*kh*kw past 33,000).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.quant import quantize_multiplier
from tests.embedded_c_helpers import strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

_TYPES = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}


def _sat32(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -(1 << 31), (1 << 31) - 1)


def _requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul then RoundingDivideByPOT, on int64 arrays (ep_quant.c)."""
    x = _sat32(acc)
    left, right = np.maximum(shift, 0), np.minimum(np.maximum(-shift, 0), 31)
    x = _sat32(x * (1 << left))
    ab = x * mult
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge  # |v| < 2^62: exact in int64
    high = np.where(v >= 0, v // (1 << 31), -((-v) // (1 << 31)))  # C's division truncates toward zero
    mask = (np.int64(1) << right) - 1
    rem = high & mask
    floor_q = (high - rem) >> right
    threshold = (mask >> 1) + (high < 0)
    return floor_q + (rem > threshold)


def _model(op: str, x: tuple[np.dtype, tuple], consts: dict[str, np.ndarray], out: tuple[int, tuple],
           opset: int, **attrs) -> onnx.ModelProto:
    node = helper.make_node(op, ["x", *consts], ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", _TYPES[x[0]], x[1])],
                          [helper.make_tensor_value_info("y", *out)],
                          [numpy_helper.from_array(np.asarray(v), n) for n, v in consts.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    return [strict_session(model, fused=fused).run(None, {"x": x})[0] for fused in (False, True)]


def _conv_sums(x: np.ndarray, w: np.ndarray, zx: int, zw: np.ndarray, group: int, strides, pads, dil) -> np.ndarray:
    """int64 sums of (x - zx) * (w - zw) over each window (padding holds the zero point: contributes 0)."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64) - zx, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) // strides[1] + 1
    wz = w.astype(np.int64) - zw.reshape(-1, 1, 1, 1)
    out = np.zeros((n, m, oh, ow), np.int64)
    per = m // group
    for mm in range(m):
        g = mm // per
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dil[0]:i * dil[0] + strides[0] * (oh - 1) + 1:strides[0],
                           j * dil[1]:j * dil[1] + strides[1] * (ow - 1) + 1:strides[1]]
                out[:, mm] += np.einsum("nchw,c->nhw", patch, wz[mm, :, i, j])
    return out


CONVS = [  # x shape, w shape, group, strides, pads, dilations
    ((1, 4, 9, 11), (6, 4, 3, 3), 1, (1, 1), (1, 1, 1, 1), (1, 1)),
    ((2, 4, 8, 7), (4, 2, 3, 2), 2, (2, 1), (1, 0, 2, 1), (1, 2)),
    ((1, 8, 70, 5), (8, 1, 3, 3), 8, (1, 1), (1, 1, 1, 1), (1, 1)),  # depthwise, rows wider than one tile
    ((1, 3, 1, 130), (5, 3, 1, 5), 1, (1, 3), (0, 2, 0, 2), (1, 1)),  # 1-D shaped, strided
]


@pytest.mark.parametrize("xt", [np.uint8, np.int8])
@pytest.mark.parametrize("case", range(len(CONVS)))
def test_convinteger_and_qlinearconv_equal_the_exact_integer_reference(xt, case):
    xs, ws, group, strides, pads, dil = CONVS[case]
    rng = np.random.default_rng(case)
    info = np.iinfo(xt)
    x = rng.integers(info.min, info.max + 1, xs).astype(xt)
    w = rng.integers(-128, 128, ws).astype(np.int8)
    zx = int(rng.integers(info.min, info.max + 1))
    zw = rng.integers(-5, 6, ws[0]).astype(np.int8)
    attrs = dict(group=group, strides=list(strides), pads=list(pads), dilations=list(dil))
    sums = _conv_sums(x, w, zx, zw, group, strides, pads, dil)
    ci = _model("ConvInteger", (xt, xs), {"w": w, "xz": np.asarray(zx, xt), "wz": zw}, (TensorProto.INT32, sums.shape),
                10, **attrs)
    for got in _run(ci, x):
        np.testing.assert_array_equal(got, _sat32(sums))
    bias = rng.integers(-5000, 5000, ws[0]).astype(np.int32)
    ws_scale = rng.uniform(0.002, 0.02, ws[0]).astype(np.float32)
    x_scale, y_scale, yz = np.float32(0.03), np.float32(0.5), int(rng.integers(info.min, info.max + 1))
    mult, shift = zip(*(quantize_multiplier(float(np.float32(x_scale * s) / y_scale)) for s in ws_scale))
    acc = sums + bias.reshape(1, -1, 1, 1)
    want = np.clip(_requantize(acc, np.asarray(mult).reshape(1, -1, 1, 1), np.asarray(shift).reshape(1, -1, 1, 1))
                   + yz, info.min, info.max).astype(xt)
    ql = _model("QLinearConv", (xt, xs), {"xs": x_scale, "xz": np.asarray(zx, xt), "w": w, "ws": ws_scale, "wz": zw,
                                          "ys": y_scale, "yz": np.asarray(yz, xt), "b": bias},
                (_TYPES[xt], sums.shape), 10, **attrs)
    for got in _run(ql, x):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("at, bt", [(np.uint8, np.int8), (np.int8, np.int8), (np.uint8, np.uint8)])
@pytest.mark.parametrize("shape", [(3, 9, 4), (2, 70, 133), (5, 1, 1)])
def test_matmulinteger_and_qlinearmatmul_equal_the_exact_integer_reference(at, bt, shape):
    m, k, n = shape
    rng = np.random.default_rng(k)
    ai, bi = np.iinfo(at), np.iinfo(bt)
    a = rng.integers(ai.min, ai.max + 1, (2, m, k)).astype(at)
    b = rng.integers(bi.min, bi.max + 1, (k, n)).astype(bt)
    za = int(rng.integers(ai.min, ai.max + 1))
    zb = rng.integers(bi.min, bi.max + 1, n).astype(bt)
    sums = (a.astype(np.int64) - za) @ (b.astype(np.int64) - zb.astype(np.int64))
    mi = _model("MatMulInteger", (at, a.shape), {"b": b, "az": np.asarray(za, at), "bz": zb},
                (TensorProto.INT32, sums.shape), 10)
    for got in _run(mi, a):
        np.testing.assert_array_equal(got, _sat32(sums))
    b_scale = rng.uniform(0.001, 0.01, n).astype(np.float32)
    a_scale, y_scale, yz = np.float32(0.02), np.float32(0.7), int(rng.integers(ai.min, ai.max + 1))
    mult, shift = zip(*(quantize_multiplier(float(np.float32(a_scale * s) / y_scale)) for s in b_scale))
    want = np.clip(_requantize(sums, np.asarray(mult), np.asarray(shift)) + yz, ai.min, ai.max).astype(at)
    ql = _model("QLinearMatMul", (at, a.shape), {"as": a_scale, "az": np.asarray(za, at), "b": b, "bs": b_scale,
                                                 "bz": zb, "ys": y_scale, "yz": np.asarray(yz, at)},
                (_TYPES[at], sums.shape), 21)
    for got in _run(ql, a):
        np.testing.assert_array_equal(got, want)


def test_long_reductions_past_the_int32_block_stay_exact():
    """K = 40,000 products of 255 * 255 overflow an int32 accumulator; the kernels fold blocks into int64."""
    k = 40_000
    a = np.full((1, 1, k), 255, np.uint8)
    b = np.full((k, 2), 255, np.uint8)
    mi = _model("MatMulInteger", (np.uint8, a.shape), {"b": b, "az": np.uint8(0), "bz": np.uint8(0)},
                (TensorProto.INT32, (1, 1, 2)), 10)
    for got in _run(mi, a):
        np.testing.assert_array_equal(got, np.full((1, 1, 2), (1 << 31) - 1))  # 2.6e9 saturates
    half = np.full((1, 1, k), 200, np.uint8)
    b2 = np.full((k, 2), 200, np.uint8)
    b2[:, 1] = 0
    mi2 = _model("MatMulInteger", (np.uint8, half.shape), {"b": b2, "az": np.uint8(0), "bz": np.uint8(100)},
                 (TensorProto.INT32, (1, 1, 2)), 10)
    for got in _run(mi2, half):  # 200 * 100 * 40000 = 8e8 and -8e8: exact, through several blocks
        np.testing.assert_array_equal(got, [[[800_000_000, -800_000_000]]])


def test_dot_product_blocks_equal_the_exact_integer_reference():
    """Sizes past every block of the byte dot products (csrc/ep_qgemm.c): 300 rows of a (row blocks of 128,
    an odd last pair), K = 5,000 (k blocks of 1,024 and 4,096), 37 columns (a last group of one); a
    convolution of uint8 weights with 7 output channels (an odd last pair) and one with 1,030 (past the
    1,024 channels the tile holds: the direct loops)."""
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (300, 5000)).astype(np.uint8)
    b = rng.integers(0, 256, (5000, 37)).astype(np.uint8)
    zb = rng.integers(0, 256, 37).astype(np.uint8)
    sums = (a.astype(np.int64) - 7) @ (b.astype(np.int64) - zb.astype(np.int64))
    mi = _model("MatMulInteger", (np.uint8, a.shape), {"b": b, "az": np.uint8(7), "bz": zb},
                (TensorProto.INT32, sums.shape), 10)
    for got in _run(mi, a):
        np.testing.assert_array_equal(got, _sat32(sums))
    for m, c in ((7, 600), (1030, 3)):  # K = 600 * 9 = 5,400: two k blocks
        x = rng.integers(0, 256, (1, c, 5, 6)).astype(np.uint8)
        w = rng.integers(0, 256, (m, c, 3, 3)).astype(np.uint8)
        zw = rng.integers(0, 256, m).astype(np.uint8)
        sums = _conv_sums(x, w, 100, zw, 1, (1, 1), (1, 1, 1, 1), (1, 1))
        ci = _model("ConvInteger", (np.uint8, x.shape), {"w": w, "xz": np.uint8(100), "wz": zw},
                    (TensorProto.INT32, sums.shape), 10, pads=[1, 1, 1, 1])
        for got in _run(ci, x):
            np.testing.assert_array_equal(got, _sat32(sums))


def test_uint8_intermediates_take_one_byte_a_element_in_the_arena(tmp_path):
    """x -> QuantizeLinear -> QLinearConv (1x1) -> DequantizeLinear: the two uint8 intermediates of 4,096
    elements, alive together, take 8 KiB of arena (4-byte slots took 32 KiB); the results do not change."""
    from providers.embedded_c.export import export_model, verify

    rng = np.random.default_rng(0)
    consts = {"s": np.float32(0.05), "z": np.uint8(128), "w": rng.integers(-20, 20, (4, 4, 1, 1)).astype(np.int8),
              "ws": np.float32(0.01), "wz": np.int8(0), "ys": np.float32(0.02), "yz": np.uint8(120)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("QLinearConv", ["q", "s", "z", "w", "ws", "wz", "ys", "yz"], ["q2"]),
             helper.make_node("DequantizeLinear", ["q2", "ys", "yz"], ["y"])]
    g = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 4, 32, 32))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 4, 32, 32))],
                          [numpy_helper.from_array(np.asarray(v), n) for n, v in consts.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    res = export_model(model, tmp_path / "out")
    assert res.intermediate_bytes == 2 * 4096 and res.arena_bytes == 2 * 4096
    x = rng.standard_normal((1, 4, 32, 32)).astype(np.float32)
    _, _, got, want = verify(model, res, feed={"x": x})
    np.testing.assert_allclose(got[0], want[0], atol=0.02 + 1e-6)  # the cpu provider: within one output step
    for fused in (False, True):  # the provider's arena is planned the same way: the same bytes come out
        np.testing.assert_array_equal(strict_session(model, fused=fused).run(None, {"x": x})[0], got[0])


def _weights_as_input(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """The model with constant `name` made a graph input (computed at run time: the unpacked kernels)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    init = next(i for i in m.graph.initializer if i.name == name)
    m.graph.input.append(helper.make_tensor_value_info(name, init.data_type, list(init.dims)))
    m.graph.initializer.remove(init)
    return m


def _lowered_funcs(model: onnx.ModelProto, *, vendor: dict | None = None) -> list[str]:
    from ep_runtime.graph import Graph
    from providers.embedded_c.lowering import fuse_conv_activations, lower

    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 10})
    calls = [lower(n, graph) for n in graph.nodes]
    calls, _ = fuse_conv_activations(calls, graph.nodes, graph, {v.name for v in graph.outputs}, vendor)
    return [c.func for c in calls]


@pytest.mark.parametrize("xt, wt", [(np.uint8, np.int8), (np.int8, np.uint8)])
def test_packed_constant_weights_and_weights_given_at_run_time_give_the_exact_sums(xt, wt):
    """Constant weights are packed at generate time (ep_convinteger_packed / ep_matmulinteger_packed); weights
    given at run time take the unpacked kernels; both equal the int64 sums: a 3x3 stride-2 convolution of 13
    output channels (a last tile of one) over 9 positions per row (a last group of one), a 1x1 one of 64
    channels (rows read in place), and a product of 7 columns (a packed group padded with zero rows)."""
    rng = np.random.default_rng(3)
    xi, wi = np.iinfo(xt), np.iinfo(wt)
    for xs, ws, strides, pads in (((1, 5, 9, 17), (13, 5, 3, 3), (2, 2), (1, 1, 1, 1)),
                                  ((2, 64, 3, 5), (6, 64, 1, 1), (1, 1), (0, 0, 0, 0))):
        x = rng.integers(xi.min, xi.max + 1, xs).astype(xt)
        w = rng.integers(wi.min, wi.max + 1, ws).astype(wt)
        zx, zw = int(rng.integers(xi.min, xi.max + 1)), rng.integers(wi.min, wi.max + 1, ws[0]).astype(wt)
        sums = _conv_sums(x, w, zx, zw, 1, strides, pads, (1, 1))
        ci = _model("ConvInteger", (xt, xs), {"w": w, "xz": np.asarray(zx, xt), "wz": zw},
                    (TensorProto.INT32, sums.shape), 10, strides=list(strides), pads=list(pads))
        assert _lowered_funcs(ci) == ["ep_convinteger_packed"]
        runtime = _weights_as_input(ci, "w")
        assert _lowered_funcs(runtime) == ["ep_convinteger"]
        for got in _run(ci, x):
            np.testing.assert_array_equal(got, _sat32(sums))
        for fused in (False, True):
            got = strict_session(runtime, fused=fused).run(None, {"x": x, "w": w})[0]
            np.testing.assert_array_equal(got, _sat32(sums))
    a = rng.integers(xi.min, xi.max + 1, (3, 11, 300)).astype(xt)
    b = rng.integers(wi.min, wi.max + 1, (300, 7)).astype(wt)
    zb = rng.integers(wi.min, wi.max + 1, 7).astype(wt)
    sums = (a.astype(np.int64) - 1) @ (b.astype(np.int64) - zb.astype(np.int64))
    mi = _model("MatMulInteger", (xt, a.shape), {"b": b, "az": np.asarray(1, xt), "bz": zb},
                (TensorProto.INT32, sums.shape), 10)
    assert _lowered_funcs(mi) == ["ep_matmulinteger_packed"]
    for got in _run(mi, a):
        np.testing.assert_array_equal(got, _sat32(sums))
    got = strict_session(_weights_as_input(mi, "b"), fused=True).run(None, {"x": a, "b": b})[0]
    np.testing.assert_array_equal(got, _sat32(sums))


def test_int8_rows_too_long_to_flip_a_tile_at_a_time_keep_the_unpacked_product():
    """An int8 a is flipped into a 64 KiB block of at least 4 rows: rows past 16,384 bytes are not packed."""
    b = np.ones((20_000, 2), np.int8)
    model = _model("MatMulInteger", (np.int8, (1, 20_000)), {"b": b}, (TensorProto.INT32, (1, 2)), 10)
    assert _lowered_funcs(model) == ["ep_matmulinteger"]
    a = np.full((1, 20_000), -3, np.int8)
    for got in _run(model, a):
        np.testing.assert_array_equal(got, [[-60_000, -60_000]])


def test_a_vendor_kernel_gets_the_default_call_with_the_models_weights():
    """Packing is the default kernels' business: a vendor MatMulInteger or ConvInteger gets ep_matmulinteger /
    ep_convinteger on the model's own weights; without one, the packed call no longer reads them."""
    from ep_runtime.graph import Graph
    from providers.embedded_c.lowering import lower
    from providers.embedded_c.quant import settle_packed

    b = np.ones((8, 3), np.int8)
    model = _model("MatMulInteger", (np.uint8, (2, 8)), {"b": b, "az": np.uint8(3)}, (TensorProto.INT32, (2, 3)), 10)
    assert _lowered_funcs(model, vendor={"MatMulInteger": "mine.c"}) == ["ep_matmulinteger"]
    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 10})
    call = lower(graph.nodes[0], graph)
    vendor = settle_packed([call], graph.nodes, {"MatMulInteger": "mine.c"})[0]
    assert vendor.args == [("t", "x"), ("t", "az"), ("t", "b"), ("t", None), ("t", "y")]
    assert vendor.inputs == ["x", "b", "az"] and not vendor.constants
    default = settle_packed([call], graph.nodes, {})[0]
    assert "b" not in default.inputs and set(default.constants) <= set(default.inputs)


def test_packed_kernels_refuse_descriptors_that_do_not_fit():
    """The packed operands come from the lowering, but the kernels still check them before touching memory."""
    import ctypes

    from providers.embedded_c.provider import ConvParams, make_tensor

    lib = EmbeddedCExecutionProvider().library.load()
    a, y = np.zeros((2, 8), np.uint8), np.zeros((2, 3), np.int32)
    bt, bsum = np.zeros((4, 8), np.int8), np.zeros(3, np.int32)

    def desc(arr: np.ndarray, code: int, shape=None):
        t = make_tensor(arr.shape if shape is None else shape, code)
        t.data = arr.ctypes.data
        return ctypes.byref(t)

    mm = lib.ep_matmulinteger_packed
    ok = mm(desc(a, 2), None, desc(bt, 3), desc(bsum, 6), None, desc(y, 6), ctypes.c_int32(3))
    assert ok == 0
    assert mm(desc(a, 2), None, desc(bt, 3, (3, 8)), desc(bsum, 6), None, desc(y, 6), ctypes.c_int32(3)) == 2
    assert mm(desc(a, 2), None, desc(bt, 3, (4, 7)), desc(bsum, 6), None, desc(y, 6), ctypes.c_int32(3)) == 2
    assert mm(desc(a, 2), None, desc(bt, 3), desc(bsum, 6, (2,)), None, desc(y, 6), ctypes.c_int32(3)) == 2
    assert mm(desc(a, 2), None, desc(bt, 3), desc(bsum, 6), None, desc(y, 6), ctypes.c_int32(6)) == 3
    assert mm(desc(a, 2), None, desc(bt, 2), desc(bsum, 6), None, desc(y, 6), ctypes.c_int32(3)) == 1
    x, wp, ws = np.zeros((1, 2, 4, 4), np.uint8), np.zeros((3, 32), np.uint8), np.zeros(3, np.int32)
    yc = np.zeros((1, 3, 4, 4), np.int32)
    p = ConvParams(group=1)
    p.kernel[:], p.strides[:], p.pads[:], p.dilations[:] = [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]
    need = lib.ep_convinteger_packed_scratch_size(desc(x, 2), desc(wp, 2), ctypes.byref(p))
    scratch = np.zeros(max(need, 1), np.float32)
    cv = lib.ep_convinteger_packed

    def conv(wp_shape=None, floats=need):
        return cv(desc(x, 2), None, desc(wp, 2, wp_shape), desc(ws, 6), None, desc(yc, 6), ctypes.byref(p),
                  ctypes.c_int32(3), scratch.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(floats))

    assert conv() == 0
    assert conv(wp_shape=(3, 18)) == 2  # rows not padded to 32
    assert conv(wp_shape=(4, 32)) == 2  # not the output's channels
    assert conv(floats=need - 1) == 3  # too little scratch


_VENDOR_MATMULINTEGER = r"""
#include "matmulinteger.h"

/* a plain loop: a vendor's MatMulInteger of 2-D uint8 a and b with scalar zero points */
int ep_matmulinteger(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *b, const ep_tensor *b_zp,
                     ep_tensor *y)
{
    int64_t m, n, k, rows = a->dims[0], kd = a->dims[1], cols = b->dims[1];
    int32_t za = a_zp ? ((const uint8_t *)a_zp->data)[0] : 0, zb = b_zp ? ((const uint8_t *)b_zp->data)[0] : 0;
    for (m = 0; m < rows; ++m) {
        for (n = 0; n < cols; ++n) {
            int32_t s = 0;
            for (k = 0; k < kd; ++k) {
                s += (((const uint8_t *)a->data)[m * kd + k] - za) * (((const uint8_t *)b->data)[k * cols + n] - zb);
            }
            ((int32_t *)y->data)[m * cols + n] = s;
        }
    }
    return 0;
}
"""


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_a_vendor_matmulinteger_inside_an_if_branch_runs_on_the_models_weights(tmp_path, fused):
    """The packed call is the default kernel's: in an If's branch too, a vendor kernel gets the default call."""
    src = tmp_path / "my_matmulinteger.c"
    src.write_text(_VENDOR_MATMULINTEGER)
    rng = np.random.default_rng(5)
    b = rng.integers(0, 256, (6, 5)).astype(np.uint8)
    branch = helper.make_graph([helper.make_node("MatMulInteger", ["x", "b", "az"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.INT32, [3, 5])])
    other = helper.make_graph([helper.make_node("MatMulInteger", ["x", "b"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.INT32, [3, 5])])
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=other)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, [3, 6]),
                           helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [3, 5])],
                          [numpy_helper.from_array(b, "b"), numpy_helper.from_array(np.uint8(9), "az")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.integers(0, 256, (3, 6)).astype(np.uint8)
    for vendor in ({}, {"MatMulInteger": str(src)}):
        sess = strict_session(model, fused=fused, **({"kernels": vendor} if vendor else {}))
        for cond, za in ((True, 9), (False, 0)):
            got = sess.run(None, {"x": x, "c": np.asarray(cond)})[0]
            np.testing.assert_array_equal(got, (x.astype(np.int64) - za) @ b.astype(np.int64))
