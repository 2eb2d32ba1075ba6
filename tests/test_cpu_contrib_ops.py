"""The com.microsoft contrib operators of the CPU provider, against onnxruntime (a test oracle
only) on models onnxruntime's own tools produce inside each test: quantize_dynamic (LSTM, MatMul,
Conv, Gemm), onnxruntime's graph fusions of its output (DynamicQuantizeMatMul,
MatMulIntegerToFloat), quantize_static in QOperator format (QLinearAdd ... QGemm), and
contrib nodes built directly with onnx.helper.

onnxruntime runs single-threaded: some of its kernels (DynamicQuantizeLSTM's batch split)
quantize per thread chunk, so only one thread gives the per-tensor semantics the docs describe.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime

ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

MS = "com.microsoft"
F = TensorProto.FLOAT


def ort_session(model: onnx.ModelProto, optimize: bool = False, save_to: str | None = None):
    """An onnxruntime session on one thread; without `optimize` it runs the graph as written."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if save_to is not None:
        so.optimized_model_filepath = save_to
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run_both(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(ours, onnxruntime's) outputs of the model on the feeds."""
    got = ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, feeds)
    want = ort_session(model).run(None, feeds)
    assert len(got) == len(want)
    return got, want


def contrib_model(op: str, inputs: list[tuple[str, int, list | None]], outputs: list[tuple[str, int, list | None]],
                  initializers: list[onnx.TensorProto] = (), node_inputs: list[str] | None = None,
                  **attrs) -> onnx.ModelProto:
    """One com.microsoft node; inputs/outputs are (name, elem_type, shape) triples, `node_inputs`
    the node's input names when they differ (initializers, empty optional slots)."""
    names = node_inputs if node_inputs is not None else [n for n, _, _ in inputs]
    node = helper.make_node(op, names, [n for n, _, _ in outputs], domain=MS, **attrs)
    graph = helper.make_graph([node], "contrib", [helper.make_tensor_value_info(*i) for i in inputs],
                              [helper.make_tensor_value_info(*o) for o in outputs], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                             ir_version=10)


def op_types(model: onnx.ModelProto) -> set[tuple[str, str]]:
    return {(n.domain or "", n.op_type) for n in model.graph.node}


# --------------------------------------------------------------------------- quantize_dynamic: LSTM


def lstm_model(rng, direction: str, seq: int, batch: int, input_size: int, hidden: int,
               with_lens: bool, peepholes: bool = False) -> onnx.ModelProto:
    dirs = 2 if direction == "bidirectional" else 1

    def w(name, *shape, s=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32), name)

    inits = [w("W", dirs, 4 * hidden, input_size), w("R", dirs, 4 * hidden, hidden), w("B", dirs, 8 * hidden, s=0.1)]
    ins = ["X", "W", "R", "B", "lens" if with_lens else "", "", ""]
    if peepholes:
        inits.append(w("P", dirs, 3 * hidden, s=0.1))
        ins.append("P")
    node = helper.make_node("LSTM", ins, ["Y", "Y_h", "Y_c"], hidden_size=hidden, direction=direction)
    inputs = [helper.make_tensor_value_info("X", F, [seq, batch, input_size])]
    if with_lens:
        inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [batch]))
    graph = helper.make_graph([node], "lstm", inputs, [helper.make_tensor_value_info(n, F, None)
                                                         for n in ("Y", "Y_h", "Y_c")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


def quantize_dynamic(model: onnx.ModelProto, tmp_path, **options) -> onnx.ModelProto:
    src, dst = tmp_path / "float.onnx", tmp_path / "quantized.onnx"
    onnx.save(model, src)
    quantization.quantize_dynamic(str(src), str(dst), **options)
    return onnx.load(dst)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("with_lens", [False, True], ids=["full", "lens"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_dynamic_quantize_lstm_from_quantize_dynamic_matches_onnxruntime(tmp_path, direction, with_lens, per_channel):
    check_quantized_lstm(tmp_path, direction, [7, 3, 0, 5, 1] if with_lens else None, per_channel=per_channel)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_dynamic_quantize_lstm_with_uint8_weights_peepholes_and_no_y_output(tmp_path, direction):
    # without Y, onnxruntime quantizes a finished sequence's frozen last state with the others;
    # no length is 0 here: onnxruntime then reads that entry's state from uninitialized memory
    check_quantized_lstm(tmp_path, direction, [7, 3, 2, 5, 1], peepholes=True, drop_y=True,
                         weight_type=quantization.QuantType.QUInt8)


def check_quantized_lstm(tmp_path, direction, lens, peepholes=False, drop_y=False, **options):
    rng = np.random.default_rng(7)
    seq, batch, input_size, hidden = 7, 5, 24, 32
    model = lstm_model(rng, direction, seq, batch, input_size, hidden, lens is not None, peepholes)
    if drop_y:
        model.graph.node[0].output[0] = ""
        del model.graph.output[0]
    q = quantize_dynamic(model, tmp_path, op_types_to_quantize=["LSTM"], **options)
    assert op_types(q) == {(MS, "DynamicQuantizeLSTM")}
    feeds = {"X": rng.standard_normal((seq, batch, input_size)).astype(np.float32)}
    if lens is not None:
        feeds["lens"] = np.array(lens, np.int32)
    got, want = run_both(q, feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        # the integer matmuls are exact and every uint8 quantization uses onnxruntime's parameters;
        # what is left is float32 summation order and onnxruntime's sigmoid/tanh approximations
        # (~1e-7 relative), so results agree to a few float32 ulps
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


def test_quantized_lstm_integer_products_stay_exact_where_plain_float32_sums_would_round():
    # the integer matmuls run as float32 GEMMs; with 1100 uint8 rows near 255 a column's sum passes 2**24,
    # so the rows are split into blocks whose sums stay exact and the blocks are added in float64
    from providers.cpu.contrib.quantized_lstm import _IntegerWeights

    rng = np.random.default_rng(5)
    w = rng.integers(200, 256, (1100, 64)).astype(np.uint8)
    a = rng.integers(0, 256, (6, 1100)).astype(np.float32)
    weights = _IntegerWeights(w, np.zeros(1, np.uint8), "R", "DynamicQuantizeLSTM")
    exact = (a.astype(np.int64) @ w.astype(np.int64)).astype(np.float32)
    assert len(weights.blocks) > 1
    assert not np.array_equal(a @ w.astype(np.float32), exact)  # what one float32 GEMM would give
    np.testing.assert_array_equal(weights.matmul(a, np.empty((6, 64), np.float32)), exact)


def test_dynamic_quantize_lstm_with_a_nan_in_x_gives_nan_rather_than_finite_values(tmp_path):
    # a NaN makes X's quantization range undefined: every output it reaches is NaN (before, the NaN was
    # quantized as 0 over a range that ignored it, and the outputs were finite and wrong)
    rng = np.random.default_rng(11)
    q = quantize_dynamic(lstm_model(rng, "bidirectional", 4, 2, 5, 3, False), tmp_path, op_types_to_quantize=["LSTM"])
    x = rng.standard_normal((4, 2, 5)).astype(np.float32)
    x[2, 1, 3] = np.nan
    outs = ep_runtime.InferenceSession(q.SerializeToString(), providers=["cpu"]).run(None, {"X": x})
    assert all(np.isnan(o).all() for o in outs)


def test_dynamic_quantize_lstm_weights_fed_as_inputs_are_read_on_every_run():
    # converted weights are kept between runs only for initializers: a fed W changed in place must count
    rng = np.random.default_rng(13)
    seq, batch, k, hidden = 3, 2, 4, 5
    scale = numpy_helper.from_array(np.array([0.02], np.float32), "ws")
    zero = numpy_helper.from_array(np.zeros(1, np.int8), "wz")
    r = numpy_helper.from_array(rng.integers(-127, 128, (1, hidden, 4 * hidden)).astype(np.int8), "R")
    model = contrib_model("DynamicQuantizeLSTM", [("X", F, [seq, batch, k]), ("W", I8, [1, k, 4 * hidden])],
                          [("Y", F, None)], [scale, zero, r],
                          node_inputs=["X", "W", "R", "", "", "", "", "", "ws", "wz", "ws", "wz"], hidden_size=hidden)
    sess = ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])
    x = rng.standard_normal((seq, batch, k)).astype(np.float32)
    w = rng.integers(-127, 128, (1, k, 4 * hidden)).astype(np.int8)
    first = sess.run(None, {"X": x, "W": w})[0]
    w[0, 0] = -w[0, 0]
    second = sess.run(None, {"X": x, "W": w})[0]
    fresh = ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, {"X": x, "W": w})[0]
    np.testing.assert_array_equal(second, fresh)
    assert not np.array_equal(first, second)
    np.testing.assert_allclose(second, ort_session(model).run(None, {"X": x, "W": w})[0], atol=1e-5, rtol=0)


def test_dynamic_quantize_lstm_converts_initializer_weights_once_per_session(tmp_path, monkeypatch):
    from providers.cpu.contrib import quantized_lstm
    from providers.cpu.native import rnn as native_rnn

    built = []
    real, real_native = quantized_lstm._IntegerWeights, native_rnn.PackedWeights
    monkeypatch.setattr(quantized_lstm, "_IntegerWeights", lambda *a: built.append(a[2]) or real(*a))
    # the native kernel (when built) packs its own int8 weights instead
    monkeypatch.setattr(native_rnn, "PackedWeights", lambda *a: built.append(a[2]) or real_native(*a))
    rng = np.random.default_rng(17)
    q = quantize_dynamic(lstm_model(rng, "bidirectional", 4, 2, 5, 3, False), tmp_path, op_types_to_quantize=["LSTM"])
    sess = ep_runtime.InferenceSession(q.SerializeToString(), providers=["cpu"])
    x = rng.standard_normal((4, 2, 5)).astype(np.float32)
    first = sess.run(None, {"X": x})
    second = sess.run(None, {"X": x})
    assert sorted(built) == ["R", "R", "W", "W"]  # one W and one R per direction, on the first run only
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- quantize_dynamic: MatMul, Conv, Gemm


def matmul_conv_gemm_model(rng) -> onnx.ModelProto:
    """MatMul -> Gemm, a Conv, and two MatMuls sharing their input (onnxruntime's fusion then
    keeps one DynamicQuantizeLinear and makes MatMulIntegerToFloat of both)."""
    def w(name, *shape, s=0.2):
        return numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32), name)

    inits = [w("W", 64, 48), w("G", 48, 10), w("Gb", 10), w("Cw", 16, 3, 3, 3), w("Cb", 16), w("S1", 64, 32),
             w("S2", 64, 24), w("S2b", 24)]
    nodes = [helper.make_node("MatMul", ["X", "W"], ["Y"]),
             helper.make_node("Gemm", ["Y", "G", "Gb"], ["Q"]),
             helper.make_node("Conv", ["I", "Cw", "Cb"], ["Z"], pads=[1, 1, 1, 1]),
             helper.make_node("MatMul", ["T", "S1"], ["T1"]),
             helper.make_node("MatMul", ["T", "S2"], ["T2a"]),
             helper.make_node("Add", ["T2a", "S2b"], ["T2"])]
    graph = helper.make_graph(nodes, "mm", [helper.make_tensor_value_info("X", F, [6, 64]),
                                            helper.make_tensor_value_info("I", F, [2, 3, 10, 10]),
                                            helper.make_tensor_value_info("T", F, [2, 5, 64])],
                              [helper.make_tensor_value_info(n, F, None) for n in ("Q", "Z", "T1", "T2")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


def matmul_feeds(rng) -> dict[str, np.ndarray]:
    return {"X": rng.standard_normal((6, 64)).astype(np.float32),
            "I": rng.standard_normal((2, 3, 10, 10)).astype(np.float32),
            "T": (rng.standard_normal((2, 5, 64)) + 0.5).astype(np.float32)}


def quantized_matmul_conv_gemm(rng, tmp_path, per_channel: bool, weight_type: str) -> onnx.ModelProto:
    """matmul_conv_gemm_model quantized by onnxruntime's quantize_dynamic."""
    return quantize_dynamic(matmul_conv_gemm_model(rng), tmp_path, per_channel=per_channel,
                            weight_type=getattr(quantization.QuantType, weight_type))


# every quantization step matches onnxruntime's exactly and the integer products are exact; only the
# float32 scaling (and Gemm's float bias add) may differ in the last bit
FLOAT_AFTER_INTEGER = dict(rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("weight_type", ["QInt8", "QUInt8"])
def test_quantize_dynamic_standard_ops_match_onnxruntime(tmp_path, per_channel, weight_type):
    rng = np.random.default_rng(3)
    q = quantized_matmul_conv_gemm(rng, tmp_path, per_channel, weight_type)
    assert {("", "DynamicQuantizeLinear"), ("", "MatMulInteger"), ("", "ConvInteger")} <= op_types(q)
    got, want = run_both(q, matmul_feeds(rng))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **FLOAT_AFTER_INTEGER)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("weight_type", ["QInt8", "QUInt8"])
def test_onnxruntime_fusions_of_quantize_dynamic_output_match_onnxruntime(tmp_path, per_channel, weight_type):
    rng = np.random.default_rng(4)
    q = quantized_matmul_conv_gemm(rng, tmp_path, per_channel, weight_type)
    ort_session(q, optimize=True, save_to=str(tmp_path / "fused.onnx"))
    fused = onnx.load(tmp_path / "fused.onnx")
    assert {(MS, "DynamicQuantizeMatMul"), (MS, "MatMulIntegerToFloat")} <= op_types(fused)
    got, want = run_both(fused, matmul_feeds(rng))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **FLOAT_AFTER_INTEGER)


def test_matmul_integer_to_float_with_float16_scales_and_batched_a():
    rng = np.random.default_rng(5)
    b = numpy_helper.from_array(rng.integers(-128, 128, (16, 12)).astype(np.int8), "B")
    bs = numpy_helper.from_array((rng.random(12) * 0.01 + 0.001).astype(np.float16), "bs")
    bz = numpy_helper.from_array(np.zeros(12, np.int8), "bz")
    bias = numpy_helper.from_array(rng.standard_normal(12).astype(np.float16), "bias")
    model = contrib_model("MatMulIntegerToFloat",
                          [("A", TensorProto.UINT8, [2, 3, 16]), ("as", TensorProto.FLOAT16, []),
                           ("az", TensorProto.UINT8, [])],
                          [("Y", TensorProto.FLOAT16, None)], [b, bs, bz, bias],
                          node_inputs=["A", "B", "as", "bs", "az", "bz", "bias"])
    feeds = {"A": rng.integers(0, 256, (2, 3, 16)).astype(np.uint8), "as": np.array(0.02, np.float16),
             "az": np.array(131, np.uint8)}
    got, want = run_both(model, feeds)
    assert got[0].dtype == np.float16
    # float16 result: one float16 ulp of the largest values
    np.testing.assert_allclose(got[0].astype(np.float32), want[0].astype(np.float32), rtol=2e-3, atol=1e-3)


# --------------------------------------------------------------------------- quantize_static, QOperator format


def static_model(rng) -> onnx.ModelProto:
    """A small CNN whose every op quantize_static turns into a QLinear / Q* operator."""
    def w(name, *shape, s=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32), name)

    c = 8
    inits = [w("cw", c, 3, 3, 3), w("cb", c, s=0.1), w("cw2", c, c, 1, 1), w("gw", 2 * c, 10), w("gb", 10, s=0.1),
             numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape")]
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c1", "cw2"], ["c2"]),
             helper.make_node("Add", ["c1", "c2"], ["a"]),
             helper.make_node("Mul", ["a", "c1"], ["m"]),
             helper.make_node("Sigmoid", ["m"], ["s"]),
             helper.make_node("LeakyRelu", ["a"], ["l"], alpha=0.1),
             helper.make_node("Concat", ["s", "l"], ["cat"], axis=1),
             helper.make_node("AveragePool", ["cat"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["ap"], ["gap"]),
             helper.make_node("Reshape", ["gap", "flat_shape"], ["flat"]),
             helper.make_node("Gemm", ["flat", "gw", "gb"], ["g"]),
             helper.make_node("Softmax", ["g"], ["y"], axis=-1)]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", F, [2, 3, 12, 12])],
                              [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


class _Calibration(quantization.CalibrationDataReader):
    def __init__(self, rng, count: int = 6) -> None:
        self.batches = iter([{"x": rng.standard_normal((2, 3, 12, 12)).astype(np.float32)} for _ in range(count)])

    def get_next(self):
        return next(self.batches, None)


QOPERATOR_OPS = {(MS, op) for op in ("QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearConcat",
                                     "QLinearAveragePool", "QLinearGlobalAveragePool", "QGemm", "QLinearSoftmax")}


@pytest.fixture(scope="module", params=["QUInt8", "QInt8"])
def qoperator_model(request, tmp_path_factory):
    rng = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp(f"static_{request.param}")
    onnx.save(static_model(rng), folder / "float.onnx")
    quantization.quantize_static(str(folder / "float.onnx"), str(folder / "q.onnx"), _Calibration(rng),
                                 quant_format=quantization.QuantFormat.QOperator,
                                 activation_type=getattr(quantization.QuantType, request.param),
                                 weight_type=quantization.QuantType.QInt8, per_channel=True)
    model = onnx.load(folder / "q.onnx")
    assert QOPERATOR_OPS <= op_types(model)
    return model


def ort_intermediates(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every node output onnxruntime computes for the feeds, by name."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        probe.graph.output.extend(helper.ValueInfoProto(name=o) for o in node.output if o and o not in known)
    sess = ort_session(probe)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds))) | feeds


def single_node_model(model: onnx.ModelProto, node: onnx.NodeProto, values: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The node alone: its initializers kept, its other inputs graph inputs typed from `values`."""
    inits = {t.name: t for t in model.graph.initializer}
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(values[n].dtype), values[n].shape)
              for n in dict.fromkeys(node.input) if n and n not in inits]
    graph = helper.make_graph([node], node.op_type, inputs, [helper.ValueInfoProto(name=o) for o in node.output],
                              [inits[n] for n in dict.fromkeys(node.input) if n in inits])
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


# Ops whose onnxruntime kernel computes in a way our exact-rational numpy form can round differently
# at a .5 boundary: QLinearAdd (MLAS uses fixed-point multipliers), QLinearSigmoid (MLAS's polynomial
# logistic builds the table), QLinearSoftmax (float32 sums in a different order). A boundary case moves
# the result by one quantization step; everything else must be bit-exact.
ONE_STEP_OPS = {"QLinearAdd", "QLinearSigmoid", "QLinearSoftmax"}


def test_every_qoperator_node_matches_onnxruntime_on_its_own_inputs(qoperator_model):
    rng = np.random.default_rng(12)
    values = ort_intermediates(qoperator_model, {"x": rng.standard_normal((2, 3, 12, 12)).astype(np.float32)})
    checked = set()
    for node in qoperator_model.graph.node:
        if node.domain != MS:
            continue
        model = single_node_model(qoperator_model, node, values)
        feeds = {i.name: values[i.name] for i in model.graph.input}
        got = ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, feeds)[0]
        want = values[node.output[0]]
        assert got.dtype == want.dtype and got.shape == want.shape, node.op_type
        diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
        if node.op_type in ONE_STEP_OPS:
            assert diff.max() <= 1 and diff.mean() < 0.01, (node.op_type, diff.max(), diff.mean())
        else:
            assert diff.max() == 0, (node.op_type, diff.max(), int((diff > 0).sum()))
        checked.add((MS, node.op_type))
    assert checked == QOPERATOR_OPS


def test_qoperator_model_end_to_end_matches_onnxruntime(qoperator_model):
    rng = np.random.default_rng(13)
    got, want = run_both(qoperator_model, {"x": rng.standard_normal((2, 3, 12, 12)).astype(np.float32)})
    # every node is bit-exact here; allow one output step (the final DequantizeLinear's scale) for the
    # platform-dependent boundary cases of QLinearAdd / QLinearSigmoid / QLinearSoftmax upstream
    inits = {t.name: numpy_helper.to_array(t) for t in qoperator_model.graph.initializer}
    step = float(inits[qoperator_model.graph.node[-1].input[1]])
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=step * 1.001)
    assert np.mean(got[0] == want[0]) > 0.95


# --------------------------------------------------------------------------- QLinear nodes built directly

U8, I8 = TensorProto.UINT8, TensorProto.INT8


def qparams(prefix: str, scale: float, zero: int, elem: int) -> list[onnx.TensorProto]:
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    return [numpy_helper.from_array(np.array(scale, np.float32), f"{prefix}_s"),
            numpy_helper.from_array(np.array(zero, dtype), f"{prefix}_z")]


def random_q(rng, elem: int, shape) -> np.ndarray:
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def assert_within_one_step(got: np.ndarray, want: np.ndarray) -> None:
    """Equal, except that a value on a rounding boundary may land one quantization step away
    (onnxruntime's MLAS kernels use platform-specific float/fixed-point arithmetic there)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
    assert diff.max() <= 1 and diff.mean() < 0.01, (diff.max(), diff.mean())


@pytest.mark.parametrize("elem", [U8, I8], ids=["uint8", "int8"])
@pytest.mark.parametrize("trans", [(0, 0), (1, 1)], ids=["nn", "tt"])
@pytest.mark.parametrize("quantized_output", [True, False], ids=["quantized", "float"])
def test_qgemm_node_matches_onnxruntime(elem, trans, quantized_output):
    rng = np.random.default_rng(21)
    m, k, n = 5, 40, 12
    ta, tb = trans
    b = numpy_helper.from_array(random_q(rng, I8, (n, k) if tb else (k, n)), "B")
    bs = numpy_helper.from_array((rng.random(n) * 0.01 + 0.001).astype(np.float32), "b_s")
    bz = numpy_helper.from_array(np.zeros(n, np.int8), "b_z")
    c = numpy_helper.from_array(rng.integers(-5000, 5000, (n,)).astype(np.int32), "C")
    inits = [b, bs, bz, c, *qparams("a", 0.02, 3, elem)]
    names = ["A", "a_s", "a_z", "B", "b_s", "b_z", "C"]
    out = elem
    if quantized_output:
        inits += qparams("y", 0.05, -7 if elem == I8 else 120, elem)
        names += ["y_s", "y_z"]
    else:
        out = F
    model = contrib_model("QGemm", [("A", elem, [k, m] if ta else [m, k])], [("Y", out, None)], inits,
                          node_inputs=names, transA=ta, transB=tb, alpha=0.75)
    got, want = run_both(model, {"A": random_q(rng, elem, (k, m) if ta else (m, k))})
    if quantized_output:
        np.testing.assert_array_equal(got[0], want[0])
    else:
        np.testing.assert_allclose(got[0], want[0], **FLOAT_AFTER_INTEGER)


@pytest.mark.parametrize("elem", [U8, I8], ids=["uint8", "int8"])
@pytest.mark.parametrize(("opset", "axis", "shape"), [(13, -1, [3, 4, 17]), (13, 1, [3, 9, 5]), (12, 1, [3, 4, 5]),
                                                      (11, None, [2, 3, 4])])
def test_qlinear_softmax_node_matches_onnxruntime(elem, opset, axis, shape):
    rng = np.random.default_rng(22)
    attrs = {"opset": opset} | ({} if axis is None else {"axis": axis})
    y_zero = -128 if elem == I8 else 0
    model = contrib_model("QLinearSoftmax", [("X", elem, shape)], [("Y", elem, None)],
                          [*qparams("x", 0.07, 5, elem), *qparams("y", 1 / 256, y_zero, elem)],
                          node_inputs=["X", "x_s", "x_z", "y_s", "y_z"], **attrs)
    got, want = run_both(model, {"X": random_q(rng, elem, shape)})
    assert_within_one_step(got[0], want[0])


@pytest.mark.parametrize("elem", [U8, I8], ids=["uint8", "int8"])
@pytest.mark.parametrize("attrs", [dict(kernel_shape=[3, 3]),
                                   dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], count_include_pad=1),
                                   dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER"),
                                   dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], channels_last=1)],
                         ids=["plain", "pads_count_pad", "same_upper", "channels_last"])
def test_qlinear_average_pool_node_matches_onnxruntime(elem, attrs):
    rng = np.random.default_rng(23)
    shape = [2, 9, 11, 4] if attrs.get("channels_last") else [2, 4, 9, 11]
    model = contrib_model("QLinearAveragePool", [("X", elem, shape)], [("Y", elem, None)],
                          [*qparams("x", 0.05, 10, elem), *qparams("y", 0.04, -3 if elem == I8 else 100, elem)],
                          node_inputs=["X", "x_s", "x_z", "y_s", "y_z"], **attrs)
    got, want = run_both(model, {"X": random_q(rng, elem, shape)})
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("elem", [U8, I8], ids=["uint8", "int8"])
@pytest.mark.parametrize("channels_last", [0, 1])
def test_qlinear_global_average_pool_node_matches_onnxruntime(elem, channels_last):
    rng = np.random.default_rng(24)
    shape = [2, 7, 6, 5] if channels_last else [2, 5, 7, 6]
    model = contrib_model("QLinearGlobalAveragePool", [("X", elem, shape)], [("Y", elem, None)],
                          [*qparams("x", 0.05, 10, elem), *qparams("y", 0.01, -3 if elem == I8 else 100, elem)],
                          node_inputs=["X", "x_s", "x_z", "y_s", "y_z"], channels_last=channels_last)
    got, want = run_both(model, {"X": random_q(rng, elem, shape)})
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("elem", [U8, I8], ids=["uint8", "int8"])
def test_qlinear_concat_requantizes_each_input_and_copies_matching_ones(elem):
    rng = np.random.default_rng(25)
    inits = [*qparams("y", 0.05, 4, elem), *qparams("a", 0.02, -1 if elem == I8 else 128, elem),
             *qparams("b", 0.05, 4, elem), *qparams("c", 0.3, 0, elem)]
    model = contrib_model("QLinearConcat", [("A", elem, [2, 3, 4]), ("B", elem, [2, 5, 4]), ("C", elem, [2, 1, 4])],
                          [("Y", elem, None)], inits,
                          node_inputs=["y_s", "y_z", "A", "a_s", "a_z", "B", "b_s", "b_z", "C", "c_s", "c_z"], axis=-2)
    feeds = {n: random_q(rng, elem, shape) for n, shape in (("A", (2, 3, 4)), ("B", (2, 5, 4)), ("C", (2, 1, 4)))}
    got, want = run_both(model, feeds)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[0][:, 3:8], feeds["B"])


@pytest.mark.parametrize("elem", [U8, I8], ids=["uint8", "int8"])
@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("b_shape", [(2, 3, 40), (3, 1), (1,)], ids=["same", "inner_broadcast", "scalar"])
def test_qlinear_binary_nodes_broadcast_and_match_onnxruntime(elem, op, b_shape):
    # scales as calibration gives them; ratios like 0.5 would put many results exactly on .5,
    # where onnxruntime's platform kernels (fixed-point on some CPUs) round either way
    rng = np.random.default_rng(26)
    inits = [*qparams("a", 0.0317, 7, elem), *qparams("b", 0.0491, -2 if elem == I8 else 130, elem),
             *qparams("c", 0.0613, 1 if elem == I8 else 125, elem)]
    model = contrib_model(op, [("A", elem, [2, 3, 40]), ("B", elem, list(b_shape))], [("C", elem, None)], inits,
                          node_inputs=["A", "a_s", "a_z", "B", "b_s", "b_z", "c_s", "c_z"])
    got, want = run_both(model, {"A": random_q(rng, elem, (2, 3, 40)), "B": random_q(rng, elem, b_shape)})
    assert_within_one_step(got[0], want[0])


@pytest.mark.parametrize("elem", [U8, I8], ids=["uint8", "int8"])
@pytest.mark.parametrize(("op", "attrs"), [("QLinearSigmoid", {}), ("QLinearLeakyRelu", {"alpha": 0.2})])
def test_qlinear_lookup_table_nodes_match_onnxruntime_on_every_input_value(elem, op, attrs):
    values = np.arange(256, dtype=np.uint8).view(helper.tensor_dtype_to_np_dtype(elem)).reshape(16, 16)
    model = contrib_model(op, [("X", elem, [16, 16])], [("Y", elem, None)],
                          [*qparams("x", 0.05, 3, elem), *qparams("y", 0.01, -100 if elem == I8 else 20, elem)],
                          node_inputs=["X", "x_s", "x_z", "y_s", "y_z"], **attrs)
    got, want = run_both(model, {"X": values})
    assert_within_one_step(got[0], want[0])


# --------------------------------------------------------------------------- transformer fusions (float)

# float kernels: numpy and onnxruntime sum and approximate erf/tanh/exp differently, so results agree to
# float32 rounding, not bit for bit
FLOAT = dict(rtol=1e-5, atol=1e-5)


def assert_float_outputs_match(model, feeds, **tol):
    got, want = run_both(model, feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, **(tol or FLOAT))
    return got


def randn(rng, *shape, scale=1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize(("op", "with_bias", "attrs"), [
    ("Gelu", False, {}), ("FastGelu", False, {}), ("FastGelu", True, {}), ("BiasGelu", True, {}),
    ("QuickGelu", False, {}), ("QuickGelu", False, {"alpha": 1.1})])
def test_gelu_family_matches_onnxruntime(op, with_bias, attrs):
    rng = np.random.default_rng(31)
    inputs = [("X", F, [2, 7, 64])] + ([("bias", F, [64])] if with_bias else [])
    feeds = {"X": randn(rng, 2, 7, 64, scale=3)} | ({"bias": randn(rng, 64)} if with_bias else {})
    assert_float_outputs_match(contrib_model(op, inputs, [("Y", F, None)], **attrs), feeds)


def test_bias_split_gelu_and_bias_add_match_their_decomposition_in_onnxruntime():
    # onnxruntime has no CPU kernel for these two (CUDA only): the oracle is their documented
    # decomposition into standard ops, run by onnxruntime
    rng = np.random.default_rng(32)
    x, bias, skip = randn(rng, 2, 6, 40), randn(rng, 40), randn(rng, 2, 6, 40)
    ours_split = ep_runtime.InferenceSession(contrib_model("BiasSplitGelu", [("X", F, [2, 6, 40]), ("bias", F, [40])],
                                                           [("Y", F, None)]).SerializeToString(),
                                             providers=["cpu"]).run(None, {"X": x, "bias": bias})[0]
    ours_add = ep_runtime.InferenceSession(contrib_model("BiasAdd", [("X", F, [2, 6, 40]), ("bias", F, [40]),
                                                                     ("skip", F, [2, 6, 40])],
                                                         [("Y", F, None)]).SerializeToString(),
                                           providers=["cpu"]).run(None, {"X": x, "bias": bias, "skip": skip})[0]
    nodes = [helper.make_node("Add", ["X", "bias"], ["xb"]),
             helper.make_node("Split", ["xb", "halves"], ["left", "right"], axis=-1),
             helper.make_node("Gelu", ["right"], ["g"]),
             helper.make_node("Mul", ["left", "g"], ["split_gelu"]),
             helper.make_node("Add", ["xb", "skip"], ["bias_add"])]
    graph = helper.make_graph(nodes, "decomposed", [helper.make_tensor_value_info(n, F, s) for n, s in
                                                    (("X", [2, 6, 40]), ("bias", [40]), ("skip", [2, 6, 40]))],
                              [helper.make_tensor_value_info(n, F, None) for n in ("split_gelu", "bias_add")],
                              [numpy_helper.from_array(np.array([20, 20], np.int64), "halves")])
    split_want, add_want = ort_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])).run(
        None, {"X": x, "bias": bias, "skip": skip})
    np.testing.assert_allclose(ours_split, split_want, **FLOAT)
    np.testing.assert_allclose(ours_add, add_want, **FLOAT)


@pytest.mark.parametrize("skip_shape", [[2, 5, 32], [5, 32]])
@pytest.mark.parametrize("with_bias", [False, True])
def test_skip_layer_normalization_matches_onnxruntime(skip_shape, with_bias):
    rng = np.random.default_rng(33)
    inits = [numpy_helper.from_array(randn(rng, 32), "gamma"), numpy_helper.from_array(randn(rng, 32), "beta")]
    names = ["X", "skip", "gamma", "beta"]
    if with_bias:
        inits.append(numpy_helper.from_array(randn(rng, 32), "bias"))
        names.append("bias")
    model = contrib_model("SkipLayerNormalization", [("X", F, [2, 5, 32]), ("skip", F, skip_shape)],
                          [("Y", F, None), ("mean", F, None), ("inv_std", F, None), ("sum", F, None)], inits,
                          node_inputs=names, epsilon=1e-5)
    got = assert_float_outputs_match(model, {"X": randn(rng, 2, 5, 32, scale=2), "skip": randn(rng, *skip_shape)})
    assert got[1].shape == (2, 5, 1)


@pytest.mark.parametrize("with_bias", [False, True])
def test_skip_simplified_layer_normalization_matches_onnxruntime(with_bias):
    rng = np.random.default_rng(34)
    inits = [numpy_helper.from_array(randn(rng, 48), "gamma")]
    names = ["X", "skip", "gamma"]
    if with_bias:
        inits.append(numpy_helper.from_array(randn(rng, 48), "bias"))
        names.append("bias")
    model = contrib_model("SkipSimplifiedLayerNormalization", [("X", F, [3, 48]), ("skip", F, [3, 48])],
                          [("Y", F, None), ("sum", F, None)], inits, node_inputs=names, epsilon=1e-6)
    model.graph.node[0].output[:] = ["Y", "", "", "sum"]
    assert_float_outputs_match(model, {"X": randn(rng, 3, 48), "skip": randn(rng, 3, 48)})


@pytest.mark.parametrize("variant", ["full", "no_segment", "position_ids"])
def test_embed_layer_normalization_matches_onnxruntime(variant):
    rng = np.random.default_rng(35)
    batch, seq, hidden, vocab = 2, 7, 32, 50
    inits = [numpy_helper.from_array(randn(rng, vocab, hidden), "word"),
             numpy_helper.from_array(randn(rng, 16, hidden), "pos"),
             numpy_helper.from_array(randn(rng, 2, hidden), "seg"),
             numpy_helper.from_array(randn(rng, hidden), "gamma"), numpy_helper.from_array(randn(rng, hidden), "beta")]
    i32 = TensorProto.INT32
    feeds = {"ids": rng.integers(0, vocab, (batch, seq)).astype(np.int32),
             "mask": (np.arange(seq)[None, :] < np.array([[7], [4]])).astype(np.int32)}
    inputs = [("ids", i32, [batch, seq])]
    names = ["ids", "", "word", "pos", "", "gamma", "beta", "mask"]
    if variant != "no_segment":
        feeds["segs"] = rng.integers(0, 2, (batch, seq)).astype(np.int32)
        inputs.append(("segs", i32, [batch, seq]))
        names[1], names[4] = "segs", "seg"
    if variant == "position_ids":
        feeds["positions"] = rng.integers(0, 16, (batch, seq)).astype(np.int64).astype(np.int32)
        inputs.append(("positions", i32, [batch, seq]))
        names.append("positions")
    model = contrib_model("EmbedLayerNormalization", inputs + [("mask", i32, [batch, seq])],
                          [("Y", F, None), ("mask_index", i32, None), ("embedding_sum", F, None)], inits,
                          node_inputs=names, epsilon=1e-5)
    got = assert_float_outputs_match(model, feeds)
    np.testing.assert_array_equal(got[1], [7, 4])


@pytest.mark.parametrize(("activation", "params"), [(None, None), ("Relu", None), ("LeakyRelu", [0.2]),
                                                    ("Clip", [-0.5, 0.7]), ("HardSigmoid", [0.3, 0.4]),
                                                    ("Sigmoid", None), ("Tanh", None)])
@pytest.mark.parametrize("with_z", [False, True])
def test_fused_conv_matches_onnxruntime(activation, params, with_z):
    rng = np.random.default_rng(36)
    attrs = {"pads": [1, 1, 1, 1], "strides": [1, 2]}
    if activation:
        attrs["activation"] = activation
    if params:
        attrs["activation_params"] = params
    inits = [numpy_helper.from_array(randn(rng, 6, 4, 3, 3, scale=0.3), "W"),
             numpy_helper.from_array(randn(rng, 6), "B")]
    inputs = [("X", F, [2, 4, 9, 10])] + ([("Z", F, [2, 6, 9, 5])] if with_z else [])
    feeds = {"X": randn(rng, 2, 4, 9, 10)} | ({"Z": randn(rng, 2, 6, 9, 5)} if with_z else {})
    model = contrib_model("FusedConv", inputs, [("Y", F, None)], inits,
                          node_inputs=["X", "W", "B"] + (["Z"] if with_z else []), **attrs)
    assert_float_outputs_match(model, feeds)


@pytest.mark.parametrize(("activation", "attrs"), [("Relu", {}), ("LeakyRelu", {"activation_alpha": 0.3}),
                                                   ("Sigmoid", {}), ("Tanh", {}),
                                                   ("HardSigmoid", {"activation_alpha": 0.3, "activation_beta": 0.4}),
                                                   ("Elu", {"activation_alpha": 0.5}), ("Softplus", {})])
def test_fused_gemm_matches_onnxruntime(activation, attrs):
    rng = np.random.default_rng(37)
    inits = [numpy_helper.from_array(randn(rng, 20, 16), "B"), numpy_helper.from_array(randn(rng, 20), "C")]
    model = contrib_model("FusedGemm", [("A", F, [5, 16])], [("Y", F, None)], inits, node_inputs=["A", "B", "C"],
                          activation=activation, transB=1, alpha=0.5, beta=2.0, **attrs)
    assert_float_outputs_match(model, {"A": randn(rng, 5, 16)})


def test_fused_conv_with_an_unknown_activation_is_refused_with_its_name():
    model = contrib_model("FusedConv", [("X", F, [1, 2, 5, 5]), ("W", F, [3, 2, 3, 3])], [("Y", F, None)],
                          activation="Mish")
    with pytest.raises(ep_runtime.NotImplementedByAnyProvider, match="Mish"):
        ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])


@pytest.mark.parametrize(("a_shape", "b_shape", "attrs"), [
    ([3, 4, 5], [3, 5, 6], {}),
    ([3, 5, 4], [3, 6, 5], {"transA": 1, "transB": 1, "alpha": 0.25}),
    ([4, 3, 5], [3, 5, 6], {"transBatchA": 1}),
    ([4, 3, 5], [5, 3, 6], {"transBatchA": 1, "transBatchB": 1}),
    ([5, 2, 3, 4], [2, 3, 5, 6], {"transBatchA": 1, "transA": 1}),
])
def test_fused_matmul_matches_onnxruntime(a_shape, b_shape, attrs):
    rng = np.random.default_rng(38)
    model = contrib_model("FusedMatMul", [("A", F, a_shape), ("B", F, b_shape)], [("Y", F, None)], **attrs)
    assert_float_outputs_match(model, {"A": randn(rng, *a_shape), "B": randn(rng, *b_shape)})


# --------------------------------------------------------------------------- weight-only quantization


def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned values < 2**bits packed low bits first along the last axis into uint8."""
    per = 8 // bits
    v = values.astype(np.uint8).reshape(values.shape[:-1] + (-1, per))
    return np.bitwise_or.reduce(v << (np.arange(per, dtype=np.uint8) * bits), axis=-1).astype(np.uint8)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("zero_points", ["default", "packed", "float"])
@pytest.mark.parametrize("k", [128, 100], ids=["whole_blocks", "partial_block"])
def test_matmul_nbits_matches_onnxruntime(bits, zero_points, k):
    if bits == 8 and zero_points == "float":
        pytest.skip("onnxruntime's CPU kernel rejects float zero points with 8-bit weights: no oracle")
    rng = np.random.default_rng(41)
    n, block = 24, 32
    k_blocks = -(-k // block)
    q = rng.integers(0, 2 ** bits, (n, k_blocks * block))
    inits = [numpy_helper.from_array(pack_bits(q, bits).reshape(n, k_blocks, -1), "B"),
             numpy_helper.from_array((rng.random((n, k_blocks)) * 0.1 + 0.01).astype(np.float32), "scales")]
    names = ["A", "B", "scales"]
    if zero_points == "packed":
        zp = rng.integers(0, 2 ** bits, (n, -(-k_blocks * bits // 8) * (8 // bits)))
        inits.append(numpy_helper.from_array(pack_bits(zp, bits), "zp"))
        names.append("zp")
    elif zero_points == "float":
        inits.append(numpy_helper.from_array((rng.random((n, k_blocks)) * 2 ** bits).astype(np.float32), "zp"))
        names.append("zp")
    inits.append(numpy_helper.from_array(randn(rng, n), "bias"))
    names += ["", "bias"] if len(names) == 4 else ["", "", "bias"]
    model = contrib_model("MatMulNBits", [("A", F, [2, 3, k])], [("Y", F, None)], inits, node_inputs=names,
                          K=k, N=n, bits=bits, block_size=block)
    # float32 products summed in another order: relative error ~1e-6 of the row norm
    assert_float_outputs_match(model, {"A": randn(rng, 2, 3, k)}, rtol=1e-4, atol=1e-4)


def test_matmul_nbits_with_an_unsupported_bit_width_is_refused():
    model = contrib_model("MatMulNBits", [("A", F, [2, 64]), ("B", TensorProto.UINT8, [8, 2, 12]),
                                          ("scales", F, [8, 2])], [("Y", F, None)], K=64, N=8, bits=3,
                          block_size=32)
    with pytest.raises(ep_runtime.NotImplementedByAnyProvider, match="bits=3"):
        ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("with_zero_points", [False, True])
@pytest.mark.parametrize("index_dtype", [TensorProto.INT32, TensorProto.INT64])
def test_gather_block_quantized_embedding_matches_onnxruntime(bits, with_zero_points, index_dtype):
    rng = np.random.default_rng(42)
    vocab, hidden, block = 30, 64, 16
    q = rng.integers(0, 2 ** bits, (vocab, hidden))
    inits = [numpy_helper.from_array(pack_bits(q, bits), "data"),
             numpy_helper.from_array((rng.random((vocab, hidden // block)) * 0.1).astype(np.float32), "scales")]
    names = ["data", "ids", "scales"]
    if with_zero_points:
        inits.append(numpy_helper.from_array(pack_bits(rng.integers(0, 2 ** bits, (vocab, hidden // block)), bits),
                                             "zp"))
        names.append("zp")
    ids = np.array([[0, 5, 29, -1], [3, 3, 17, -30]], helper.tensor_dtype_to_np_dtype(index_dtype))
    model = contrib_model("GatherBlockQuantized", [("ids", index_dtype, [2, 4])], [("Y", F, None)], inits,
                          node_inputs=names, bits=bits, block_size=block, gather_axis=0, quantize_axis=1)
    got, want = run_both(model, {"ids": ids})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- attention


def attention_mask(kind: str, batch: int, seq: int, total: int, rng) -> np.ndarray | None:
    if kind == "none":
        return None
    if kind == "lengths":
        return np.array([total, total - 3][:batch], np.int32)
    if kind == "raw2d":
        return (rng.random((batch, total)) > 0.3).astype(np.int32)
    if kind == "raw3d":
        return (rng.random((batch, seq, total)) > 0.3).astype(np.int32)
    raise AssertionError(kind)


@pytest.mark.parametrize("mask", ["none", "lengths", "raw2d", "raw3d"])
@pytest.mark.parametrize(("unidirectional", "with_past"), [(0, False), (1, False), (1, True)])
def test_attention_matches_onnxruntime(mask, unidirectional, with_past):
    rng = np.random.default_rng(51)
    batch, seq, hidden, heads, past_len = 2, 5, 32, 4, 3
    total = seq + (past_len if with_past else 0)
    inits = [numpy_helper.from_array(randn(rng, hidden, 3 * hidden, scale=0.2), "w"),
             numpy_helper.from_array(randn(rng, 3 * hidden, scale=0.1), "b")]
    feeds = {"x": randn(rng, batch, seq, hidden)}
    inputs = [("x", F, [batch, seq, hidden])]
    names = ["x", "w", "b", "", ""]
    m = attention_mask(mask, batch, seq, total, rng)
    if m is not None:
        feeds["mask"] = m
        inputs.append(("mask", TensorProto.INT32, list(m.shape)))
        names[3] = "mask"
    outputs = [("y", F, None)]
    if with_past:
        feeds["past"] = randn(rng, 2, batch, heads, past_len, hidden // heads)
        inputs.append(("past", F, [2, batch, heads, past_len, hidden // heads]))
        names[4] = "past"
        outputs.append(("present", F, None))
    model = contrib_model("Attention", inputs, outputs, inits, node_inputs=names, num_heads=heads,
                          unidirectional=unidirectional)
    assert_float_outputs_match(model, feeds)


def test_attention_with_attention_bias_custom_scale_and_uneven_v_matches_onnxruntime():
    rng = np.random.default_rng(52)
    batch, seq, hidden, heads = 2, 6, 16, 2
    sizes = [16, 16, 24]
    inits = [numpy_helper.from_array(randn(rng, hidden, sum(sizes), scale=0.3), "w"),
             numpy_helper.from_array(randn(rng, sum(sizes), scale=0.1), "b")]
    model = contrib_model("Attention", [("x", F, [batch, seq, hidden]), ("ab", F, [1, heads, seq, seq])],
                          [("y", F, None)], inits, node_inputs=["x", "w", "b", "", "", "ab"], num_heads=heads,
                          qkv_hidden_sizes=sizes, scale=0.2)
    assert_float_outputs_match(model, {"x": randn(rng, batch, seq, hidden), "ab": randn(rng, 1, heads, seq, seq)})


def test_attention_with_rotary_is_refused_with_the_attribute():
    model = contrib_model("Attention", [("x", F, [1, 2, 8]), ("w", F, [8, 24])], [("y", F, None)], num_heads=2,
                          do_rotary=1)
    with pytest.raises(ep_runtime.NotImplementedByAnyProvider, match="do_rotary=1"):
        ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])


@pytest.mark.parametrize("variant", ["self", "cross_bias", "padding_lengths", "raw_mask", "past", "bnsh_kv"])
def test_multi_head_attention_matches_onnxruntime(variant):
    rng = np.random.default_rng(53)
    batch, seq, kv_seq, hidden, heads = 2, 4, 6 if variant in ("cross_bias", "bnsh_kv") else 4, 32, 4
    head = hidden // heads
    feeds = {"q": randn(rng, batch, seq, hidden)}
    if variant == "bnsh_kv":
        feeds |= {"k": randn(rng, batch, heads, kv_seq, head), "v": randn(rng, batch, heads, kv_seq, head)}
    else:
        feeds |= {"k": randn(rng, batch, kv_seq, hidden), "v": randn(rng, batch, kv_seq, hidden)}
    names = ["q", "k", "v"]
    outputs = [("y", F, None)]
    attrs = {}
    if variant == "cross_bias":
        feeds["bias"] = randn(rng, 3 * hidden)
        names.append("bias")
    if variant in ("padding_lengths", "raw_mask"):
        feeds["mask"] = (np.array([kv_seq, 2], np.int32) if variant == "padding_lengths"
                         else (rng.random((batch, kv_seq)) > 0.3).astype(np.int32))
        names += ["", "mask"]
    if variant == "past":
        feeds |= {"pk": randn(rng, batch, heads, 3, head), "pv": randn(rng, batch, heads, 3, head)}
        names += ["", "", "", "pk", "pv"]
        outputs += [("present_k", F, None), ("present_v", F, None)]
        attrs["unidirectional"] = 1
    inputs = [(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for n, v in feeds.items()]
    model = contrib_model("MultiHeadAttention", inputs, outputs, node_inputs=names, num_heads=heads, **attrs)
    assert_float_outputs_match(model, feeds)


@pytest.mark.parametrize("layout", ["bsd", "bnsh"])
@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("positions", ["offset", "per_token"])
@pytest.mark.parametrize("rotary_dim", [0, 8])
def test_rotary_embedding_matches_onnxruntime(layout, interleaved, positions, rotary_dim):
    rng = np.random.default_rng(54)
    batch, seq, heads, head, max_len = 2, 5, 3, 16, 20
    half = (rotary_dim or head) // 2
    angles = np.arange(max_len)[:, None] / (10000 ** (np.arange(half) / half))[None, :]
    inits = [numpy_helper.from_array(np.cos(angles).astype(np.float32), "cos"),
             numpy_helper.from_array(np.sin(angles).astype(np.float32), "sin")]
    shape = [batch, seq, heads * head] if layout == "bsd" else [batch, heads, seq, head]
    pos = np.array([4], np.int64) if positions == "offset" else rng.integers(0, max_len, (batch, seq)).astype(np.int64)
    attrs = {"interleaved": interleaved}
    if rotary_dim:
        attrs |= {"rotary_embedding_dim": rotary_dim, "num_heads": heads}
    model = contrib_model("RotaryEmbedding", [("x", F, shape), ("pos", TensorProto.INT64, list(pos.shape))],
                          [("y", F, None)], inits, node_inputs=["x", "pos", "cos", "sin"], **attrs)
    assert_float_outputs_match(model, {"x": randn(rng, *shape), "pos": pos})


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("unidirectional", [0, 1])
def test_qattention_from_quantize_dynamic_matches_onnxruntime(tmp_path, with_mask, unidirectional):
    rng = np.random.default_rng(55)
    batch, seq, hidden, heads = 2, 6, 32, 4
    inits = [numpy_helper.from_array(randn(rng, hidden, 3 * hidden, scale=0.2), "w"),
             numpy_helper.from_array(randn(rng, 3 * hidden, scale=0.1), "b")]
    inputs = [("x", F, [batch, seq, hidden])] + ([("mask", TensorProto.INT32, [batch])] if with_mask else [])
    model = contrib_model("Attention", inputs, [("y", F, None)], inits,
                          node_inputs=["x", "w", "b"] + (["mask"] if with_mask else []), num_heads=heads,
                          unidirectional=unidirectional)
    q = quantize_dynamic(model, tmp_path, op_types_to_quantize=["Attention"])
    assert (MS, "QAttention") in op_types(q)
    feeds = {"x": randn(rng, batch, seq, hidden)} | ({"mask": np.array([6, 4], np.int32)} if with_mask else {})
    # the uint8 input quantization and the integer product are exact; the rest is float32 attention
    assert_float_outputs_match(q, feeds)


def rotary_caches(max_len: int, half: int) -> tuple[np.ndarray, np.ndarray]:
    angles = np.arange(max_len)[:, None] / (10000 ** (np.arange(half) / half))[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


@pytest.mark.parametrize("variant", ["prompt", "prompt_rotary", "prompt_window_softcap", "packed_qkv",
                                     "decode", "decode_rotary_interleaved", "decode_chunk"])
def test_group_query_attention_matches_onnxruntime(variant):
    rng = np.random.default_rng(56)
    # onnxruntime takes several new tokens on top of a cache for one batch entry only
    batch, heads, kv_heads, head, cache = 1 if variant == "decode_chunk" else 2, 4, 2, 16, 12
    decode = variant.startswith("decode")
    seq = {"decode": 1, "decode_rotary_interleaved": 1, "decode_chunk": 3}.get(variant, 6)
    attrs = {"num_heads": heads, "kv_num_heads": kv_heads}
    feeds = {}
    if variant == "packed_qkv":
        feeds["q"] = randn(rng, batch, seq, (heads + 2 * kv_heads) * head)
        names = ["q", "", ""]
    else:
        feeds |= {"q": randn(rng, batch, seq, heads * head), "k": randn(rng, batch, seq, kv_heads * head),
                  "v": randn(rng, batch, seq, kv_heads * head)}
        names = ["q", "k", "v"]
    if decode:
        feeds |= {"pk": randn(rng, batch, kv_heads, cache, head), "pv": randn(rng, batch, kv_heads, cache, head)}
        names += ["pk", "pv"]
        feeds["seqlens_k"] = np.array([10, 7][:batch], np.int32)  # 11 and 8 tokens after this step
        feeds["total"] = np.array(11, np.int32)
    else:
        names += ["", ""]
        feeds["seqlens_k"] = np.full(batch, seq - 1, np.int32)
        feeds["total"] = np.array(seq, np.int32)
    names += ["seqlens_k", "total"]
    inits = []
    if "rotary" in variant:
        cos, sin = rotary_caches(32, head // 2)
        inits = [numpy_helper.from_array(cos, "cos"), numpy_helper.from_array(sin, "sin")]
        names += ["cos", "sin"]
        attrs |= {"do_rotary": 1, "rotary_interleaved": int("interleaved" in variant)}
    if variant == "prompt_window_softcap":
        attrs |= {"local_window_size": 2, "softcap": 3.0, "scale": 0.4}
    inputs = [(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for n, v in feeds.items()]
    outputs = [("y", F, None), ("present_k", F, None), ("present_v", F, None)]
    model = contrib_model("GroupQueryAttention", inputs, outputs, inits, node_inputs=names, **attrs)
    got, want = run_both(model, feeds)
    np.testing.assert_allclose(got[0], want[0], **FLOAT)
    for b, total in enumerate(feeds["seqlens_k"] + 1):  # cache rows past each entry's tokens are unspecified
        np.testing.assert_allclose(got[1][b, :, :total], want[1][b, :, :total], **FLOAT)
        np.testing.assert_allclose(got[2][b, :, :total], want[2][b, :, :total], **FLOAT)


def test_group_query_attention_with_a_quantized_cache_is_refused():
    model = contrib_model("GroupQueryAttention", [("q", F, [1, 1, 32]), ("k", F, [1, 1, 16]), ("v", F, [1, 1, 16]),
                                                  ("s", TensorProto.INT32, [1]), ("t", TensorProto.INT32, [])],
                          [("y", F, None)], node_inputs=["q", "k", "v", "", "", "s", "t"], num_heads=2,
                          kv_num_heads=1, k_quant_type="PER_TENSOR")
    with pytest.raises(ep_runtime.NotImplementedByAnyProvider, match="k_quant_type=PER_TENSOR"):
        ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])


@pytest.mark.parametrize("update_weight", [False, True])
@pytest.mark.parametrize("attrs", [{"pads": [1, 1, 1, 1]}, {"strides": [2, 2], "group": 2, "dilations": [1, 2]}])
def test_nhwc_conv_from_onnxruntime_nhwc_fusion_matches_the_original_conv(update_weight, attrs):
    # onnxruntime has no CPU kernel for NhwcConv: its own fusion (transformers.FusionNhwcConv) rewrites
    # a Conv, and onnxruntime runs the original Conv as the oracle
    fusion = pytest.importorskip("onnxruntime.transformers.fusion_nhwc_conv")
    onnx_model = pytest.importorskip("onnxruntime.transformers.onnx_model")
    rng = np.random.default_rng(57)
    inits = [numpy_helper.from_array(randn(rng, 6, 4 // attrs.get("group", 1), 3, 3, scale=0.3), "W"),
             numpy_helper.from_array(randn(rng, 6), "B")]
    graph = helper.make_graph([helper.make_node("Conv", ["X", "W", "B"], ["Y"], **attrs)], "conv",
                              [helper.make_tensor_value_info("X", F, [2, 4, 9, 11])],
                              [helper.make_tensor_value_info("Y", F, None)], inits)
    original = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    rewritten = onnx_model.OnnxModel(onnx.load_from_string(original.SerializeToString()))
    fusion.FusionNhwcConv(rewritten, update_weight=update_weight).apply()
    rewritten.model.opset_import.append(helper.make_opsetid(MS, 1))
    assert (MS, "NhwcConv") in op_types(rewritten.model)
    x = randn(rng, 2, 4, 9, 11)
    got = ep_runtime.InferenceSession(rewritten.model.SerializeToString(), providers=["cpu"]).run(None, {"X": x})[0]
    np.testing.assert_allclose(got, ort_session(original).run(None, {"X": x})[0], **FLOAT)


def test_onnxruntime_graph_optimizer_fusions_run_and_match_onnxruntime(tmp_path):
    """A float model onnxruntime's own optimizer (ORT_ENABLE_EXTENDED) rewrites into FusedConv,
    FusedGemm, FusedMatMul, Gelu and SkipLayerNormalization; ep-runtime runs the saved result."""
    rng = np.random.default_rng(58)

    def w(name, *shape):
        return numpy_helper.from_array(randn(rng, *shape, scale=0.3), name)

    def c(name, value):
        return numpy_helper.from_array(np.array(value, np.float32), name)

    inits = [w("cw", 8, 3, 3, 3), w("cb", 8), w("mw", 32, 32), w("mb", 32), w("g", 32), w("be", 32), w("gw", 16, 32),
             w("gb", 16), c("sqrt2", 1.4142135), c("one", 1.0), c("half", 0.5), c("alpha", 0.25)]
    nodes = [helper.make_node("Conv", ["img", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["conv_out"]),
             helper.make_node("MatMul", ["x", "mw"], ["m"]), helper.make_node("Add", ["m", "mb"], ["mbias"]),
             helper.make_node("Div", ["mbias", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["mbias", "e1"], ["gm"]),
             helper.make_node("Mul", ["gm", "half"], ["gelu"]), helper.make_node("Add", ["gelu", "x"], ["res"]),
             helper.make_node("LayerNormalization", ["res", "g", "be"], ["ln_out"], axis=-1, epsilon=1e-5),
             helper.make_node("Gemm", ["x2", "gw", "gb"], ["gg"], transB=1),
             helper.make_node("Relu", ["gg"], ["gemm_out"]),
             helper.make_node("Transpose", ["y"], ["yt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["x", "yt"], ["xy"]), helper.make_node("Mul", ["xy", "alpha"], ["mm_out"])]
    inputs = {"img": [1, 3, 8, 8], "x": [2, 5, 32], "x2": [4, 32], "y": [2, 7, 32]}
    graph = helper.make_graph(nodes, "fusable", [helper.make_tensor_value_info(n, F, s) for n, s in inputs.items()],
                              [helper.make_tensor_value_info(n, F, None)
                               for n in ("conv_out", "ln_out", "gemm_out", "mm_out")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    ort_session(model, optimize=True, save_to=str(tmp_path / "optimized.onnx"))
    optimized = onnx.load(tmp_path / "optimized.onnx")
    assert {(MS, op) for op in ("FusedConv", "FusedGemm", "FusedMatMul", "Gelu",
                                "SkipLayerNormalization")} <= op_types(optimized)
    assert_float_outputs_match(optimized, {n: randn(rng, *s) for n, s in inputs.items()})


# --------------------------------------------------------------------------- registration and bad input

CONTRIB_OPS = ("DynamicQuantizeLSTM", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearAdd", "QLinearMul",
               "QLinearSigmoid", "QLinearLeakyRelu", "QLinearConcat", "QLinearGlobalAveragePool", "QLinearAveragePool",
               "QLinearSoftmax", "QGemm", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "SkipLayerNormalization",
               "SkipSimplifiedLayerNormalization", "EmbedLayerNormalization", "Attention", "MultiHeadAttention",
               "BiasAdd", "BiasSplitGelu", "FusedMatMul", "FusedConv", "FusedGemm", "NhwcConv", "RotaryEmbedding",
               "GroupQueryAttention", "QAttention", "MatMulNBits", "GatherBlockQuantized")


def test_every_contrib_operator_has_a_kernel_in_the_com_microsoft_domain():
    from providers.cpu import REGISTRY

    assert {op for domain, op in REGISTRY.ops() if domain == MS} >= set(CONTRIB_OPS)


def test_a_per_channel_scale_on_a_per_tensor_qlinear_input_is_an_error_naming_it():
    model = contrib_model("QLinearSigmoid", [("X", U8, [4]), ("xs", F, [2])], [("Y", U8, None)],
                          [numpy_helper.from_array(np.array(0.1, np.float32), "ys")], node_inputs=["X", "xs", "", "ys"])
    sess = ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])
    with pytest.raises(ep_runtime.KernelError, match=r"QLinearSigmoid.*X_scale must be a scalar"):
        sess.run(None, {"X": np.arange(4, dtype=np.uint8), "xs": np.ones(2, np.float32)})


def test_a_quantized_lstm_weight_zero_point_that_varies_per_channel_is_an_error(tmp_path):
    rng = np.random.default_rng(59)
    q = quantize_dynamic(lstm_model(rng, "forward", 3, 2, 8, 4, False), tmp_path, op_types_to_quantize=["LSTM"],
                         per_channel=True, weight_type=quantization.QuantType.QUInt8)
    zp = next(t for t in q.graph.initializer if t.name.startswith("W") and "zero_point" in t.name)
    values = numpy_helper.to_array(zp).copy()
    values.reshape(-1)[1] = values.reshape(-1)[0] + 1
    zp.CopyFrom(numpy_helper.from_array(values, zp.name))
    sess = ep_runtime.InferenceSession(q.SerializeToString(), providers=["cpu"])
    # int8 weights need zero zero points, uint8 ones one per direction (as onnxruntime checks)
    with pytest.raises(ep_runtime.KernelError, match="DynamicQuantizeLSTM: per-channel W_zero_point"):
        sess.run(None, {"X": randn(rng, 3, 2, 8)})


def test_rotary_embedding_with_a_scale_is_refused_rather_than_ignored():
    cos, sin = rotary_caches(8, 4)
    model = contrib_model("RotaryEmbedding", [("x", F, [1, 2, 3, 8]), ("pos", TensorProto.INT64, [1])],
                          [("y", F, None)], [numpy_helper.from_array(cos, "cos"), numpy_helper.from_array(sin, "sin")],
                          node_inputs=["x", "pos", "cos", "sin"], scale=2.0)
    with pytest.raises(ep_runtime.NotImplementedByAnyProvider, match="scale=2.0 not supported"):
        ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])


def test_gather_block_quantized_uint4_data_matches_onnxruntime_on_the_same_table_packed_in_uint8():
    # onnxruntime's CPU kernel takes packed uint8 only; the same 4-bit table as a uint4 tensor must
    # dequantize to the same rows (here gathered along axis 1, quantized along axis 0)
    import ml_dtypes

    rng = np.random.default_rng(43)
    rows, cols, block = 32, 10, 16
    q = rng.integers(0, 16, (rows, cols))
    zp = rng.integers(0, 16, (rows // block, cols))
    scales = numpy_helper.from_array((rng.random((rows // block, cols)) * 0.1).astype(np.float32), "scales")
    ids = np.array([[1, 9], [-2, 4]], np.int64)
    attrs = dict(bits=4, block_size=block, gather_axis=1, quantize_axis=0)
    as_uint4 = contrib_model("GatherBlockQuantized", [("ids", TensorProto.INT64, [2, 2])], [("Y", F, None)],
                             [numpy_helper.from_array(q.astype(ml_dtypes.uint4), "data"), scales,
                              numpy_helper.from_array(zp.astype(ml_dtypes.uint4), "zp")],
                             node_inputs=["data", "ids", "scales", "zp"], **attrs)
    got = ep_runtime.InferenceSession(as_uint4.SerializeToString(), providers=["cpu"]).run(None, {"ids": ids})[0]
    # packed uint8 needs the gather axis to differ from the last (packed) axis: transpose the table
    scales_t = numpy_helper.to_array(scales).T.copy()
    packed = contrib_model("GatherBlockQuantized", [("ids", TensorProto.INT64, [2, 2])], [("Y", F, None)],
                           [numpy_helper.from_array(pack_bits(q.T, 4), "data"),
                            numpy_helper.from_array(scales_t, "scales"),
                            numpy_helper.from_array(pack_bits(zp.T, 4), "zp")],
                           node_inputs=["data", "ids", "scales", "zp"], bits=4, block_size=block, gather_axis=0,
                           quantize_axis=1)
    want = ort_session(packed).run(None, {"ids": ids})[0]  # (2, 2, rows)
    np.testing.assert_allclose(got, np.moveaxis(want, -1, 0), rtol=1e-6, atol=1e-7)


def test_skip_simplified_layer_normalization_asking_for_a_mean_is_refused():
    model = contrib_model("SkipSimplifiedLayerNormalization", [("X", F, [2, 8]), ("skip", F, [2, 8]), ("g", F, [8])],
                          [("Y", F, None), ("mean", F, None)])
    with pytest.raises(ep_runtime.NotImplementedByAnyProvider, match="mean"):
        ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])
