"""The float epilogue of the packed int8 products on the embedded C provider (quant.fuse_float_epilogues):
ConvInteger / MatMulInteger -> [Add of an int32 bias] -> Cast to float -> Mul by the scale [-> QuickGelu / Swish],
as onnxruntime's quantize_dynamic writes it (ddddocr_rec_int8), runs as one call whose outputs are the separate
calls' bit for bit and the cpu provider's to float rounding; chains it cannot take keep their calls."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import GraphOptimizationLevel, InferenceSession
from providers.embedded_c import EmbeddedCExecutionProvider, quant
from tests.embedded_c_helpers import strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

BASIC = GraphOptimizationLevel.ORT_ENABLE_BASIC
mk = helper.make_node
#: element types of the intermediates a test also asks for
_TYPES = {"acc": TensorProto.INT32, "s": TensorProto.FLOAT}


def _conv_chain(w_dtype: type, per_channel: bool, act: str | None, bias_shape: tuple[int, ...] | None,
                cin: int = 3, extra_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """DynamicQuantizeLinear -> ConvInteger (constant weights, 5 output channels, 3x3, odd K) -> Add(int32 bias
    quantized at run time, of `bias_shape`) -> Cast -> Mul(x_scale * w_scale) [-> act]."""
    rng = np.random.default_rng(4)
    info = np.iinfo(w_dtype)
    m = 5
    wq = rng.integers(info.min, info.max + 1, (m, cin, 3, 3)).astype(w_dtype)
    w_zp = (rng.integers(info.min // 2, info.max // 2, m) if per_channel else np.array(info.max // 3)).astype(w_dtype)
    w_scale = (rng.uniform(0.01, 0.03, m) if per_channel else np.array(0.02)).astype(np.float32)
    inits = [numpy_helper.from_array(wq, "wq"), numpy_helper.from_array(w_zp, "w_zp"),
             numpy_helper.from_array(w_scale, "w_scale")]
    nodes = [mk("DynamicQuantizeLinear", ["x"], ["xq", "x_scale", "x_zp"]),
             mk("ConvInteger", ["xq", "wq", "x_zp", "w_zp"], ["acc"], pads=[1, 0, 1, 2], strides=[1, 2])]
    scale = "scale"
    if per_channel:  # one scale per channel, broadcast along C of (N, C, H, W)
        inits.append(numpy_helper.from_array(np.array([m, 1, 1], np.int64), "sshape"))
        nodes += [mk("Mul", ["x_scale", "w_scale"], ["scale_flat"]), mk("Reshape", ["scale_flat", "sshape"], ["scale"])]
    else:
        nodes.append(mk("Mul", ["x_scale", "w_scale"], ["scale"]))
    last = "acc"
    if bias_shape is not None:
        count = int(np.prod(bias_shape))
        inits += [numpy_helper.from_array((rng.standard_normal(count) * 3).astype(np.float32), "bias"),
                  numpy_helper.from_array(np.array(bias_shape, np.int64), "bshape")]
        nodes += [mk("Div", ["bias", "scale_flat" if per_channel else "scale"], ["bdiv"]),
                  mk("Floor", ["bdiv"], ["bfloor"]), mk("Cast", ["bfloor"], ["bq"], to=TensorProto.INT32),
                  mk("Reshape", ["bq", "bshape"], ["bq4"]), mk("Add", ["acc", "bq4"], ["acc_b"])]
        last = "acc_b"
    nodes += [mk("Cast", [last], ["accf"], to=TensorProto.FLOAT),
              mk("Mul", ["accf", scale], ["y" if act is None else "s"])]
    if act == "QuickGelu":
        nodes.append(mk("QuickGelu", ["s"], ["y"], domain="com.microsoft", alpha=1.3))
    x_shape, y_shape = [1, cin, 6, 9], [1, m, 6, 5]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)]
    outs += [helper.make_tensor_value_info(o, _TYPES[o], None) for o in extra_outputs]
    g = helper.make_graph(nodes, "conv_chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def _matmul_chain(b_dtype: type, per_column: bool, k: int = 37, n: int = 11,
                  extra_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """DynamicQuantizeLinear -> MatMulInteger (constant b, odd K and N) -> Cast -> Mul(a_scale * b_scale)."""
    rng = np.random.default_rng(5)
    info = np.iinfo(b_dtype)
    b = rng.integers(info.min, info.max + 1, (k, n)).astype(b_dtype)
    b_zp = (rng.integers(info.min // 2, info.max // 2, n) if per_column else np.array(info.max // 3)).astype(b_dtype)
    b_scale = (rng.uniform(0.01, 0.03, n) if per_column else np.array(0.02)).astype(np.float32)
    inits = [numpy_helper.from_array(b, "b"), numpy_helper.from_array(b_zp, "b_zp"),
             numpy_helper.from_array(b_scale, "b_scale")]
    nodes = [mk("DynamicQuantizeLinear", ["x"], ["xq", "x_scale", "x_zp"]),
             mk("MatMulInteger", ["xq", "b", "x_zp", "b_zp"], ["acc"]), mk("Mul", ["x_scale", "b_scale"], ["scale"]),
             mk("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT), mk("Mul", ["accf", "scale"], ["y"])]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 7, n])]
    outs += [helper.make_tensor_value_info(o, _TYPES[o], None) for o in extra_outputs]
    g = helper.make_graph(nodes, "matmul_chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 7, k])],
                          outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _spied_funcs(monkeypatch) -> list[list[str]]:
    seen: list[list[str]] = []
    real = quant.fuse_float_epilogues

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append([c.func for c in out[0]])
        return out

    monkeypatch.setattr(quant, "fuse_float_epilogues", spy)
    return seen


def _feed(shape) -> dict[str, np.ndarray]:
    return {"x": (np.random.default_rng(7).standard_normal(shape) * 2).astype(np.float32)}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("act", [None, "QuickGelu"])
@pytest.mark.parametrize("cin", [3, 8], ids=["float_product", "dot_products"])  # 27 or 72 taps a row
@pytest.mark.parametrize("w_dtype,per_channel,bias_shape",
                         [(np.uint8, False, (1, 5, 1, 1)), (np.int8, True, (5, 1, 1)), (np.uint8, True, None),
                          (np.int8, False, (1,))], ids=["u8_bias4d", "i8_per_channel_bias3d", "u8_no_bias",
                                                        "i8_scalar_bias"])
def test_convinteger_bias_cast_scale_and_activation_are_one_call_bitwise_the_separate_ops(
        w_dtype, per_channel, bias_shape, cin, act, fused, monkeypatch):
    seen = _spied_funcs(monkeypatch)
    feed = _feed((1, cin, 6, 9))
    model = _conv_chain(w_dtype, per_channel, act, bias_shape, cin)
    got = strict_session(model, fused=fused, optimization_level=BASIC).run(None, feed)[0]
    apart = strict_session(_conv_chain(w_dtype, per_channel, act, bias_shape, cin, extra_outputs=("acc",)),
                           fused=fused, optimization_level=BASIC).run(None, feed)[0]
    assert "ep_convinteger_packed_f" in seen[0] and "ep_cast" not in seen[0]
    assert "ep_convinteger_packed" in seen[1] and "ep_cast" in seen[1]
    assert got.tobytes() == apart.tobytes()
    want = InferenceSession(model, providers=["cpu"]).run(None, feed)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("b_dtype,per_column", [(np.uint8, False), (np.int8, True)], ids=["u8", "i8_per_column"])
def test_matmulinteger_cast_and_scale_are_one_call_bitwise_the_separate_ops(b_dtype, per_column, fused, monkeypatch):
    seen = _spied_funcs(monkeypatch)
    feed = _feed((2, 7, 37))
    model = _matmul_chain(b_dtype, per_column)
    got = strict_session(model, fused=fused, optimization_level=BASIC).run(None, feed)[0]
    apart = strict_session(_matmul_chain(b_dtype, per_column, extra_outputs=("acc",)), fused=fused,
                           optimization_level=BASIC).run(None, feed)[0]
    assert "ep_matmulinteger_packed_f" in seen[0] and "ep_cast" not in seen[0]
    assert "ep_matmulinteger_packed" in seen[1] and "ep_cast" in seen[1]
    assert got.tobytes() == apart.tobytes()
    want = InferenceSession(model, providers=["cpu"]).run(None, feed)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_a_bias_that_varies_along_width_or_an_intermediate_read_elsewhere_keeps_the_separate_calls(monkeypatch):
    seen = _spied_funcs(monkeypatch)
    feed = _feed((1, 3, 6, 9))
    along_w = _conv_chain(np.uint8, False, None, (1, 1, 1, 5))  # one bias per column of the output: not a channel's
    got = strict_session(along_w, optimization_level=BASIC).run(None, feed)[0]
    want = InferenceSession(along_w, providers=["cpu"]).run(None, feed)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    read = _conv_chain(np.uint8, False, "QuickGelu", (1, 5, 1, 1), extra_outputs=("s",))
    outs = strict_session(read, optimization_level=BASIC).run(None, feed)
    assert seen[0].count("ep_convinteger_packed") == 1 and "ep_cast" in seen[0]
    assert "ep_convinteger_packed_f" in seen[1] and "ep_swish" in seen[1]  # the Mul's output is read: no Swish inside
    np.testing.assert_allclose(outs[0], InferenceSession(read, providers=["cpu"]).run(None, feed)[0], rtol=1e-5,
                               atol=1e-5)


def _dql_model(n: int) -> onnx.ModelProto:
    nodes = [mk("DynamicQuantizeLinear", ["x"], ["y", "y_scale", "y_zp"])]
    g = helper.make_graph(nodes, "dql", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [n]),
                           helper.make_tensor_value_info("y_scale", TensorProto.FLOAT, []),
                           helper.make_tensor_value_info("y_zp", TensorProto.UINT8, [])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("data", ["random", "halfway", "nan"])
def test_dynamic_quantize_linear_gives_the_cpu_providers_bytes_next_to_rounding_ties(data):
    """DynamicQuantizeLinear's range by vectorised finite-math reductions (NaN and infinities told apart by their
    exponent bits): bytes, scale and zero point equal the cpu provider's (float32 division, ties to even), also
    for values whose x * (1 / scale) would round the other way; a NaN quantizes to the zero point."""
    rng = np.random.default_rng(11)
    n = 3 * 256 + 77
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    if data == "halfway":  # lo = -1, hi = 20; in one block, values whose x * (1 / scale) rounds the other way
        scale = np.float32(np.float32(21) / np.float32(255))
        ties = np.nextafter((np.arange(240, dtype=np.float32) + np.float32(0.5)) * scale, np.float32(-np.inf))
        ties = ties[ties < 20]
        assert (np.rint(ties * (np.float32(1) / scale)) != np.rint(ties / scale)).any()
        x = np.linspace(-1, 20, n).astype(np.float32)
        x[300:300 + ties.size] = ties
    if data == "nan":
        x[5] = np.nan
    model = _dql_model(n)
    got = strict_session(model).run(None, {"x": x})
    if data == "nan":  # NaN is left out of the range and quantizes to the zero point (ONNX leaves it undefined)
        scale, zp = got[1], got[2]
        q = np.rint(np.nan_to_num(x, nan=0.0) / scale) + np.float32(zp)
        assert got[0].tobytes() == np.clip(q, 0, 255).astype(np.uint8).tobytes() and got[0][5] == zp
        return
    want = InferenceSession(model, providers=["cpu"]).run(None, {"x": x})
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()


#: x shape, w shape, group, strides, pads: around ep_qconv_float_scratch's bounds (rows of taps up to 64 bytes,
#: 1x1 kernels up to 256 over 512 positions or more) and past them (the byte dot products)
PACKED_CONVS = [((1, 256, 16, 32), (9, 256, 1, 1), 1, (1, 1), (0, 0, 0, 0)),  # 1x1 at the float product's bounds
                ((1, 257, 16, 32), (5, 257, 1, 1), 1, (1, 1), (0, 0, 0, 0)),  # one channel past them: dot products
                ((1, 256, 5, 7), (9, 256, 1, 1), 1, (1, 1), (0, 0, 0, 0)),  # too few positions: dot products
                ((1, 7, 6, 9), (6, 7, 3, 3), 1, (2, 1), (1, 2, 0, 1)),  # 63 taps: float, strided, padded
                ((1, 8, 6, 9), (5, 8, 3, 3), 1, (1, 2), (2, 1, 1, 0)),  # 72 taps: dot products
                ((2, 6, 5, 8), (4, 3, 3, 3), 2, (1, 1), (1, 1, 1, 1))]  # groups, two images


@pytest.mark.parametrize("xt, wt", [(np.uint8, np.uint8), (np.int8, np.int8), (np.uint8, np.int8)])
@pytest.mark.parametrize("case", range(len(PACKED_CONVS)))
def test_packed_convinteger_equals_the_exact_sums_on_both_sides_of_the_float_product_bound(case, xt, wt):
    """The packed ConvInteger, as a float32 product (short rows of taps) or as byte dot products, equals the int64
    sums with the largest magnitudes the types allow (every |x - zx| and |w - zw| 255 where the zero points sit at
    one end and the values at the other), per node and fused, with int32 and with float outputs."""
    from tests.test_embedded_c_int_kernels import _conv_sums, _model, _run

    xs, ws, group, strides, pads = PACKED_CONVS[case]
    rng = np.random.default_rng(case)
    xi, wi = np.iinfo(xt), np.iinfo(wt)
    x = np.where(rng.random(xs) < 0.9, xi.max, xi.min).astype(xt)
    w = np.where(rng.random(ws) < 0.9, wi.min, wi.max).astype(wt)
    zx, zw = xi.min, np.full(ws[0], wi.max, wt)
    zw[1] = wi.min + 3  # per channel
    sums = _conv_sums(x, w, int(zx), zw, group, strides, pads, (1, 1))
    assert np.abs(sums).max() > 255 * 255 * min(ws[1] * ws[2] * ws[3], 256) // 2
    ci = _model("ConvInteger", (xt, xs), {"w": w, "xz": np.asarray(zx, xt), "wz": zw},
                (TensorProto.INT32, sums.shape), 10, group=group, strides=list(strides), pads=list(pads))
    for got in _run(ci, x):
        np.testing.assert_array_equal(got, sums)
