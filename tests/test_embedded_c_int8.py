"""int8 on the embedded C provider: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul,
MatMulInteger and ConvInteger, requantized in fixed point as CMSIS-NN does it, match onnxruntime on
models quantized by onnxruntime's own tools, per node and fused; a quantized model exports, builds
and verifies."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession
from ep_runtime.cli import main
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.quant import quantize_multiplier
from tests.embedded_c_helpers import strict_session

ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")


def _cnn(seed: int = 0) -> onnx.ModelProto:
    """Conv + Relu, depthwise stride-2 Conv + Relu, pointwise Conv, Reshape, MatMul: odd sizes."""
    rng = np.random.default_rng(seed)

    def w(*s):
        return (rng.standard_normal(s) * 0.3).astype(np.float32)

    inits = {"w1": w(8, 3, 3, 3), "b1": w(8), "w2": w(8, 1, 3, 3), "b2": w(8), "w3": w(5, 8, 1, 1), "b3": w(5),
             "wm": w(5 * 6 * 6, 7), "shp": np.array([1, -1], np.int64)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], group=8, strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"]),
             helper.make_node("Reshape", ["c3", "shp"], ["f"]),
             helper.make_node("MatMul", ["f", "wm"], ["y"])]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 11, 11])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


class _Calibration(quantization.CalibrationDataReader):
    def __init__(self, n: int = 8) -> None:
        rng = np.random.default_rng(1)
        self.batches = iter([{"x": rng.standard_normal((1, 3, 11, 11)).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self.batches, None)


def _quantized_cnn(tmp_path, activation: str, per_channel: bool) -> str:
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_cnn(), src)
    quantization.quantize_static(str(src), str(dst), _Calibration(), quant_format=quantization.QuantFormat.QOperator,
                                 activation_type=getattr(quantization.QuantType, activation),
                                 weight_type=quantization.QuantType.QInt8, per_channel=per_channel)
    return str(dst)


def _output_quantum(path: str) -> float:
    """The scale of the tensor the final DequantizeLinear reads: one step of the quantized output."""
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    deq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"][-1]
    return float(inits[deq.input[1]])


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("activation, per_channel", [("QUInt8", True), ("QInt8", False)])
def test_static_quantized_cnn_runs_every_node_in_c_and_matches_onnxruntime(tmp_path, activation, per_channel, fused):
    path = _quantized_cnn(tmp_path, activation, per_channel)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"QuantizeLinear", "QLinearConv", "QLinearMatMul", "DequantizeLinear"} <= ops
    x = np.random.default_rng(5).standard_normal((1, 3, 11, 11)).astype(np.float32)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = strict_session(path, fused=fused).run(None, {"x": x})[0]  # every node on embedded_c
    # fixed-point requantization may round a tie the other way than onnxruntime's float path: one step at most
    assert np.abs(got - want).max() <= 1.01 * _output_quantum(path)


def test_quantized_model_exports_builds_and_verifies(tmp_path, capsys):
    path = _quantized_cnn(tmp_path, "QUInt8", True)
    res = export_model(path, tmp_path / "c")
    text = (tmp_path / "c" / "qlinearconv.c").read_text()
    assert "ep_qconv_run" in text and "float" not in text.split("int ep_qlinearconv")[1]
    store = (tmp_path / "c" / "ep_quant.c").read_text().split("void ep_qout_store")[1].split("\n}\n")[0]
    assert "ep_requantize" in store and "float" not in store  # requantized in fixed point
    _, _, got, want = verify(path, res)  # the built program against the cpu provider, on random inputs
    assert np.abs(got[0] - want[0]).max() <= 1.01 * _output_quantum(path)
    assert main(["export-c", path, "-o", str(tmp_path / "cli"), "--verify", "--atol", "0.05"]) == 0
    assert "OK" in capsys.readouterr().out


def _single(op: str, inputs: dict[str, tuple[int, tuple]], consts: dict[str, np.ndarray], out: tuple[int, tuple],
            opset: int = 13, **attrs) -> onnx.ModelProto:
    node = helper.make_node(op, list(inputs) + list(consts), ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
                          [helper.make_tensor_value_info("y", *out)],
                          [numpy_helper.from_array(np.asarray(v), n) for n, v in consts.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _both(model, feed):
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    for fused in (False, True):
        got = strict_session(model, fused=fused).run(None, feed)[0]
        assert got.dtype == want.dtype
        yield got, want


@pytest.mark.parametrize("dtype, tp", [(np.uint8, TensorProto.UINT8), (np.int8, TensorProto.INT8)])
def test_quantize_then_dequantize_per_axis_matches_onnxruntime(dtype, tp):
    rng = np.random.default_rng(2)
    scale = np.float32([0.02, 0.05, 0.1])
    zp = np.array([3, 0, 250] if dtype == np.uint8 else [-5, 0, 100], dtype)
    q = _single("QuantizeLinear", {"x": (TensorProto.FLOAT, (2, 3, 5))}, {"s": scale, "z": zp}, (tp, (2, 3, 5)),
                axis=1)
    x = (rng.standard_normal((2, 3, 5)) * 4).astype(np.float32)
    x[0, 0, :3] = [0.01, 0.03, -0.05]  # ties of x / scale: round half to even
    for got, want in _both(q, {"x": x}):
        np.testing.assert_array_equal(got, want)
    d = _single("DequantizeLinear", {"x": (tp, (2, 3, 5))}, {"s": scale, "z": zp}, (TensorProto.FLOAT, (2, 3, 5)),
                axis=1)
    xq = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, (2, 3, 5)).astype(dtype)
    for got, want in _both(d, {"x": xq}):
        np.testing.assert_array_equal(got, want)


def test_matmulinteger_and_convinteger_match_onnxruntime():
    rng = np.random.default_rng(3)
    b = rng.integers(-128, 128, (6, 5)).astype(np.int8)
    mm = _single("MatMulInteger", {"a": (TensorProto.UINT8, (2, 3, 6))},
                 {"b": b, "az": np.uint8(7), "bz": np.array([1, -2, 0, 3, 4], np.int8)}, (TensorProto.INT32, (2, 3, 5)),
                 opset=10)
    a = rng.integers(0, 256, (2, 3, 6)).astype(np.uint8)
    for got, want in _both(mm, {"a": a}):
        np.testing.assert_array_equal(got, want)
    w = rng.integers(0, 256, (4, 2, 3, 3)).astype(np.uint8)
    cv = _single("ConvInteger", {"x": (TensorProto.UINT8, (1, 4, 7, 6))},
                 {"w": w, "xz": np.uint8(9), "wz": np.uint8(5)}, (TensorProto.INT32, (1, 4, 4, 3)),
                 opset=10, group=2, strides=[2, 2], pads=[1, 1, 1, 0])
    x = rng.integers(0, 256, (1, 4, 7, 6)).astype(np.uint8)
    for got, want in _both(cv, {"x": x}):
        np.testing.assert_array_equal(got, want)


def test_qlinearmatmul_per_column_and_qlinearconv_with_bias_match_onnxruntime():
    rng = np.random.default_rng(4)
    mm = _single("QLinearMatMul", {"a": (TensorProto.INT8, (3, 9))},
                 {"as": np.float32(0.03), "az": np.int8(-3), "b": rng.integers(-128, 128, (9, 4)).astype(np.int8),
                  "bs": np.float32([0.01, 0.02, 0.005, 0.04]), "bz": np.zeros(4, np.int8), "ys": np.float32(0.05),
                  "yz": np.int8(10)}, (TensorProto.INT8, (3, 4)), opset=21)
    a = rng.integers(-128, 128, (3, 9)).astype(np.int8)
    for got, want in _both(mm, {"a": a}):
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    cv = _single("QLinearConv", {"x": (TensorProto.UINT8, (1, 3, 8, 7))},
                 {"xs": np.float32(0.02), "xz": np.uint8(128),
                  "w": rng.integers(-127, 128, (6, 3, 3, 3)).astype(np.int8),
                  "ws": np.float32(rng.uniform(0.001, 0.01, 6)), "wz": np.zeros(6, np.int8), "ys": np.float32(0.04),
                  "yz": np.uint8(100), "b": rng.integers(-2000, 2000, 6).astype(np.int32)},
                 (TensorProto.UINT8, (1, 6, 4, 3)), opset=10, strides=[2, 2], pads=[1, 1, 1, 1], dilations=[1, 2])
    x = rng.integers(0, 256, (1, 3, 8, 7)).astype(np.uint8)
    for got, want in _both(cv, {"x": x}):
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("real", [1.0, 0.5, 0.75, 3.0e-3, 1.234e-7, 123.456])
def test_requantization_multiplier_reproduces_the_float_scale(real):
    mult, shift = quantize_multiplier(real)
    assert 1 << 30 <= mult < 1 << 31
    assert abs(mult * 2.0 ** (shift - 31) - real) <= real * 2.0 ** -30


def test_tiny_and_bad_multipliers():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(1e-12) == (0, 0)  # below 2^-32: every accumulator requantizes to 0
    for bad in (-1.0, float("nan"), 2.0 ** 31):
        with pytest.raises(ValueError):
            quantize_multiplier(bad)


def test_qlinearconv_with_a_scale_computed_at_run_time_is_refused_with_a_reason():
    cv = _single("QLinearConv", {"x": (TensorProto.UINT8, (1, 1, 3, 3)), "xs": (TensorProto.FLOAT, ())},
                 {"xz": np.uint8(0), "w": np.ones((1, 1, 1, 1), np.int8), "ws": np.float32(0.1),
                  "wz": np.int8(0), "ys": np.float32(0.1), "yz": np.uint8(0)}, (TensorProto.UINT8, (1, 1, 3, 3)),
                 opset=10)
    text = InferenceSession(cv, providers=["embedded_c", "cpu"]).get_partition().explain()
    assert "x_scale 'xs' is not a constant" in text


def _dynamic_model() -> onnx.ModelProto:
    """Conv + Relu, Flatten, MatMul + Add + Relu, MatMul: what quantize_dynamic turns into
    DynamicQuantizeLinear, ConvInteger, MatMulInteger, Cast and Mul."""
    rng = np.random.default_rng(6)
    inits = {"w": rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w1": rng.standard_normal((4 * 5 * 4, 9))
             .astype(np.float32), "b1": rng.standard_normal(9).astype(np.float32),
             "w2": rng.standard_normal((9, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 0, 1, 0]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("MatMul", ["f", "w1"], ["h"]),
             helper.make_node("Add", ["h", "b1"], ["ha"]), helper.make_node("Relu", ["ha"], ["hr"]),
             helper.make_node("MatMul", ["hr", "w2"], ["y"])]
    g = helper.make_graph(nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_dynamically_quantized_model_runs_every_node_in_c_and_matches_onnxruntime(tmp_path, fused):
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_dynamic_model(), src)
    quantization.quantize_dynamic(str(src), str(dst), weight_type=quantization.QuantType.QUInt8,
                                  op_types_to_quantize=["Conv", "MatMul"])
    ops = {n.op_type for n in onnx.load(dst).graph.node}
    assert {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "Cast"} <= ops, ops
    x = np.random.default_rng(8).standard_normal((1, 2, 5, 6)).astype(np.float32)
    want = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = strict_session(str(dst), fused=fused).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.abs(want).max())


def test_quantized_models_export_and_run_clean_under_sanitizers(tmp_path):
    """The static and the dynamic quantized model, exported and built with ASan and UBSan, match the cpu provider."""
    from tests.test_embedded_c_csrc import SANITIZE

    static = _quantized_cnn(tmp_path, "QInt8", True)
    src, dynamic = tmp_path / "f.onnx", tmp_path / "dq.onnx"
    onnx.save(_dynamic_model(), src)
    quantization.quantize_dynamic(str(src), str(dynamic), weight_type=quantization.QuantType.QInt8)
    # the cpu provider requantizes in floating point: a tie may round the other way, one output step
    for k, path in enumerate((static, str(dynamic))):
        res = export_model(path, tmp_path / f"c{k}")
        _, _, got, want = verify(path, res, extra_flags=SANITIZE)
        atol = 1.01 * _output_quantum(static) if path == static else 1e-4 * float(np.abs(want[0]).max())
        np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=atol)


def _int32_bias_conv() -> onnx.ModelProto:
    """A Conv with bias as older onnxruntime quantize_dynamic wrote it (ddddocr_rec_int8): the bias quantized at
    run time, Floor(bias / (x_scale * w_scale)) -> Cast(int32) -> Reshape, added to ConvInteger's int32 output,
    then Cast(float32) and Mul by the scale."""
    rng = np.random.default_rng(9)
    mk = helper.make_node
    inits = [numpy_helper.from_array(rng.integers(0, 255, (4, 2, 3, 3)).astype(np.uint8), "wq"),
             numpy_helper.from_array(np.array(0.02, np.float32), "w_scale"),
             numpy_helper.from_array(np.array(127, np.uint8), "w_zp"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "bias"),
             numpy_helper.from_array(np.array([1, -1, 1, 1], np.int64), "bshape")]
    nodes = [mk("DynamicQuantizeLinear", ["x"], ["xq", "x_scale", "x_zp"]),
             mk("Mul", ["x_scale", "w_scale"], ["scale"]),
             mk("ConvInteger", ["xq", "wq", "x_zp", "w_zp"], ["acc"], pads=[1, 1, 1, 1]),
             mk("Div", ["bias", "scale"], ["bdiv"]), mk("Floor", ["bdiv"], ["bfloor"]),
             mk("Cast", ["bfloor"], ["bq"], to=TensorProto.INT32), mk("Reshape", ["bq", "bshape"], ["bq4"]),
             mk("Add", ["acc", "bq4"], ["acc_b"]), mk("Cast", ["acc_b"], ["accf"], to=TensorProto.FLOAT),
             mk("Mul", ["accf", "scale"], ["y"])]
    g = helper.make_graph(nodes, "int32_bias_conv",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 6])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_conv_with_int32_bias_quantized_at_run_time_runs_in_c_and_matches_onnxruntime(fused):
    model = _int32_bias_conv()
    x = np.random.default_rng(8).standard_normal((1, 2, 5, 6)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = strict_session(model, fused=fused).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_integer_add_sub_mul_broadcast_and_wrap_as_numpy(op, dtype):
    info = np.iinfo(dtype)
    a = np.array([[info.max, info.min, -7, 0], [5, -3, 123456, info.max // 3]], dtype)
    b = np.array([1, -2, 3, 4], dtype)
    tp = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    g = helper.make_graph([helper.make_node(op, ["a", "b"], ["y"])], "int_binary",
                          [helper.make_tensor_value_info("a", tp, [2, 4]), helper.make_tensor_value_info("b", tp, [4])],
                          [helper.make_tensor_value_info("y", tp, [2, 4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    want = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](a, b)  # numpy wraps, as onnxruntime
    for fused in (False, True):
        got = strict_session(model, fused=fused).run(None, {"a": a, "b": b})[0]
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("to", [TensorProto.INT32, TensorProto.INT64])
def test_cast_of_floats_to_integers_truncates_toward_zero(to):
    x = np.array([[-2.5, -1.0, -0.75, 0.0], [0.5, 1.99, 1234567.0, -7654321.0]], np.float32)
    g = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=to)], "cast_int",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", to, [2, 4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    for fused in (False, True):
        got = strict_session(model, fused=fused).run(None, {"x": x})[0]
        np.testing.assert_array_equal(got, x.astype(helper.tensor_dtype_to_np_dtype(to)))
