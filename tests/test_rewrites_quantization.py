"""The quantize_dynamic fusions (ep_runtime.rewrites.quantization): MatMulInteger -> Cast -> Mul
[-> Add] chains become com.microsoft MatMulIntegerToFloat, and with their own DynamicQuantizeLinear
DynamicQuantizeMatMul, as onnxruntime fuses them; the fused graph gives the unfused graph's bits and
onnxruntime's outputs; near-misses and DISABLE_ALL are left alone."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime import quantization

import ep_runtime as ep
from tests.helpers.models import F, const, make_model

LEVEL = ep.GraphOptimizationLevel
MS = "com.microsoft"
QUANT_OPS = ("DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Add", "MatMulIntegerToFloat",
             "DynamicQuantizeMatMul")


def session(model: onnx.ModelProto, level=LEVEL.ORT_ENABLE_ALL, providers=("cpu",)) -> ep.InferenceSession:
    so = ep.SessionOptions()
    so.graph_optimization_level = level
    return ep.InferenceSession(model.SerializeToString(), so, providers=list(providers))


def ops(nodes) -> Counter:
    return Counter((f"{n.domain}." if n.domain else "") + n.op_type for n in nodes if n.op_type in QUANT_OPS)


def float_model(rng) -> onnx.ModelProto:
    """X @ W + Wb (with bias), then @ G (without), and T @ S1, T @ S2 + S2b sharing their input T."""
    def w(name, *shape, s=0.2):
        return numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32), name)

    inits = [w("W", 64, 48), w("Wb", 48), w("G", 48, 10), w("S1", 64, 32), w("S2", 64, 24), w("S2b", 24)]
    nodes = [helper.make_node("MatMul", ["X", "W"], ["Xw"]), helper.make_node("Add", ["Xw", "Wb"], ["Y"]),
             helper.make_node("MatMul", ["Y", "G"], ["Q"]),
             helper.make_node("MatMul", ["T", "S1"], ["T1"]),
             helper.make_node("MatMul", ["T", "S2"], ["T2a"]), helper.make_node("Add", ["S2b", "T2a"], ["T2"])]
    return make_model(nodes, [("X", F, [6, 64]), ("T", F, [2, 5, 64])],
                      [(n, F, None) for n in ("Q", "T1", "T2")], inits, ir_version=10)


def quantize_dynamic(model: onnx.ModelProto, tmp_path, **options) -> onnx.ModelProto:
    src, dst = tmp_path / "float.onnx", tmp_path / "quantized.onnx"
    onnx.save(model, src)
    quantization.quantize_dynamic(str(src), str(dst), **options)
    return onnx.load(dst)


def feeds(rng) -> dict[str, np.ndarray]:
    return {"X": rng.standard_normal((6, 64)).astype(np.float32),
            "T": (rng.standard_normal((2, 5, 64)) + 0.5).astype(np.float32)}


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("weight_type", ["QInt8", "QUInt8"])
def test_quantize_dynamic_matmuls_fuse_as_onnxruntime_fuses_them_and_keep_results(tmp_path, per_channel,
                                                                                   weight_type):
    rng = np.random.default_rng(5)
    q = quantize_dynamic(float_model(rng), tmp_path, per_channel=per_channel,
                         weight_type=getattr(quantization.QuantType, weight_type))
    assert ops(q.graph.node)["MatMulInteger"] == 4
    fused, plain = session(q), session(q, LEVEL.ORT_DISABLE_ALL)
    # the shared DynamicQuantizeLinear stays for its two MatMulIntegerToFloat; the other two chains
    # (one with its bias Add) become DynamicQuantizeMatMul
    assert ops(fused.get_graph().nodes) == Counter({f"{MS}.DynamicQuantizeMatMul": 2, "DynamicQuantizeLinear": 1,
                                                    f"{MS}.MatMulIntegerToFloat": 2})
    assert ops(plain.get_graph().nodes) == ops(q.graph.node)
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "ort_fused.onnx")
    ort_session = ort.InferenceSession(q.SerializeToString(), so, providers=["CPUExecutionProvider"])
    assert ops(onnx.load(tmp_path / "ort_fused.onnx").graph.node) == ops(fused.get_graph().nodes)
    biased = [n for n in fused.get_graph().nodes if n.op_type == "DynamicQuantizeMatMul" and len(n.inputs) == 5]
    assert len(biased) == 1 and biased[0].outputs == ["Y"]
    feed = feeds(rng)
    got, unfused, want = fused.run(None, feed), plain.run(None, feed), ort_session.run(None, feed)
    for g, p, w in zip(got, unfused, want):
        np.testing.assert_array_equal(g, p)  # the same integer product times the same float32 scale
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_disable_all_leaves_quantize_dynamic_output_unfused(tmp_path):
    q = quantize_dynamic(float_model(np.random.default_rng(6)), tmp_path)
    assert ops(session(q, LEVEL.ORT_DISABLE_ALL).get_graph().nodes) == ops(q.graph.node)
    assert ops(session(q, LEVEL.ORT_ENABLE_BASIC).get_graph().nodes) == ops(q.graph.node)


# --- hand-built chains ---------------------------------------------------------------------------

K, N = 16, 8


def chain_model(*, b_input=False, cast_to=TensorProto.FLOAT, product_output=False, scale_input=False,
                scale_first=False, a_scale_first=True, per_column=True, dql_scale_output=False):
    """DynamicQuantizeLinear(x) -> MatMulInteger(B) -> Cast -> Mul(a_scale * b_scale) -> Add(bias), with
    the variations the tests name."""
    rng = np.random.default_rng(7)
    b = rng.integers(-128, 128, (K, N)).astype(np.int8)
    b_scale = (rng.random(N if per_column else ()) * 0.01 + 0.001).astype(np.float32)
    b_zp = rng.integers(-3, 4, N if per_column else ()).astype(np.int8)
    inits = [const("b_zp", b_zp), const("b_scale", b_scale), const("bias", rng.standard_normal(N).astype(np.float32))]
    inputs = [("x", F, [3, K])]
    if b_input:
        inputs.append(("B", TensorProto.INT8, [K, N]))
    else:
        inits.append(const("B", b))
    scale_mul = ["xs", "b_scale"] if a_scale_first else ["b_scale", "xs"]
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "B", "xz", "b_zp"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=cast_to)]
    if cast_to == TensorProto.FLOAT16:
        nodes += [helper.make_node("Mul", scale_mul, ["s32"]),
                  helper.make_node("Cast", ["s32"], ["s"], to=TensorProto.FLOAT16),
                  helper.make_node("Mul", ["accf", "s"], ["y16"]),
                  helper.make_node("Cast", ["y16"], ["y0"], to=TensorProto.FLOAT)]
    else:
        if scale_input:
            inputs.append(("s", F, [N]))
        else:
            nodes.append(helper.make_node("Mul", scale_mul, ["s"]))
        nodes.append(helper.make_node("Mul", ["s", "accf"] if scale_first else ["accf", "s"], ["y0"]))
    nodes.append(helper.make_node("Add", ["y0", "bias"], ["y"]))
    outputs = [("y", F, None)] + ([("acc", TensorProto.INT32, None)] if product_output else []) + \
        ([("xs", F, None)] if dql_scale_output else [])
    return make_model(nodes, inputs, outputs, inits, ir_version=10)


def chain_feed(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    feed = {"x": rng.standard_normal((3, K)).astype(np.float32)}
    names = {i.name for i in model.graph.input}
    if "B" in names:
        feed["B"] = rng.integers(-128, 128, (K, N)).astype(np.int8)
    if "s" in names:
        feed["s"] = (rng.random(N) * 0.01).astype(np.float32)
    return feed


def run_against_unfused_and_onnxruntime(model: onnx.ModelProto, tol: float = 1e-6) -> ep.InferenceSession:
    fused, plain = session(model), session(model, LEVEL.ORT_DISABLE_ALL)
    feed = chain_feed(model)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)
    for g, p, w in zip(fused.run(None, feed), plain.run(None, feed), want):
        np.testing.assert_array_equal(g, p)
        np.testing.assert_allclose(g, w, rtol=tol, atol=max(tol, 1e-5))
    return fused


@pytest.mark.parametrize("scale_first", [False, True], ids=["cast_first", "scale_first"])
@pytest.mark.parametrize("a_scale_first", [True, False], ids=["a_scale_first", "b_scale_first"])
@pytest.mark.parametrize("per_column", [True, False], ids=["per_column", "scalar"])
def test_chain_in_either_operand_order_becomes_dynamic_quantize_matmul(scale_first, a_scale_first, per_column):
    sess = run_against_unfused_and_onnxruntime(chain_model(scale_first=scale_first, a_scale_first=a_scale_first,
                                                           per_column=per_column))
    (node,) = sess.get_graph().nodes
    assert (node.domain, node.op_type) == (MS, "DynamicQuantizeMatMul")
    assert node.inputs == ["x", "B", "b_scale", "b_zp", "bias"] and node.outputs == ["y"]


def test_a_dynamic_quantize_linear_whose_scale_is_read_elsewhere_stays_beside_matmul_integer_to_float():
    sess = run_against_unfused_and_onnxruntime(chain_model(dql_scale_output=True))
    assert ops(sess.get_graph().nodes) == Counter({"DynamicQuantizeLinear": 1, f"{MS}.MatMulIntegerToFloat": 1})


@pytest.mark.parametrize("variation", [
    dict(b_input=True), dict(cast_to=TensorProto.FLOAT16), dict(product_output=True), dict(scale_input=True)],
    ids=["non_constant_B", "cast_to_float16", "product_read_elsewhere", "mul_by_non_constant"])
def test_near_misses_are_left_alone(variation):
    model = chain_model(**variation)
    # the float16 products (int32 sums and scales rounded to float16) differ from onnxruntime's by a few ulps
    sess = run_against_unfused_and_onnxruntime(model, 1e-2 if "cast_to" in variation else 1e-6)
    assert ops(sess.get_graph().nodes) == ops(model.graph.node)


def test_the_chain_is_not_fused_when_it_would_move_nodes_off_another_provider(sim_plugin):
    # the simulated device takes the Muls and the Add but no integer op: a fused node only the CPU
    # claims would pull them off the device
    model = chain_model()
    sess = session(model, providers=("sim", "cpu"))
    assert ops(sess.get_graph().nodes) == ops(model.graph.node)
    placed = {d.node.op_type: d.provider for d in sess.get_partition().decisions}
    assert placed["Mul"] == "SimDeviceExecutionProvider"
