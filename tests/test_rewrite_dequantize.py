"""The DequantizeLinear fold (ep_runtime.rewrites.dequantize): a per-tensor DequantizeLinear of moved integer
constants (an embedding lookup, its transpose, reshapes, slices ...) becomes the same moves over one float32
constant, with the unrewritten graph's bits; per-axis scales, oversized tables, other input types, and the
DISABLE_ALL and BASIC levels are left alone."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime.rewrites import dequantize
from providers.cpu.quantization import dequantize_linear
from tests.helpers.models import I64, F, const, make_model

LEVEL = ep.GraphOptimizationLevel
U8, I8 = TensorProto.UINT8, TensorProto.INT8
RNG = np.random.default_rng(19)


def session(model: onnx.ModelProto, level=LEVEL.ORT_ENABLE_ALL, providers=("cpu",)) -> ep.InferenceSession:
    so = ep.SessionOptions()
    so.graph_optimization_level = level
    return ep.InferenceSession(model.SerializeToString(), so, providers=list(providers))


def ops(sess: ep.InferenceSession) -> Counter:
    return Counter(n.op_type for n in sess.get_graph().nodes)


def table(dtype, rows=37, cols=19) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, (rows, cols), endpoint=True).astype(dtype)


def embedding_model(weights: np.ndarray, scale, zero_point=None, *, extra=(), opset=17) -> onnx.ModelProto:
    """As tashkeel's quantized embedding: Gather(W_q, ids) -> DequantizeLinear -> `emb`, and
    Transpose(Gather(W_q, ids)) -> DequantizeLinear -> `emb_t`."""
    elem = helper.np_dtype_to_tensor_dtype(weights.dtype)
    params = ["s"] + (["zp"] if zero_point is not None else [])
    inits = [const("W", weights), const("s", np.asarray(scale, np.float32))]
    if zero_point is not None:
        inits.append(const("zp", zero_point))
    nodes = [helper.make_node("Gather", ["W", "ids"], ["g"], name="gather"),
             helper.make_node("DequantizeLinear", ["g", *params], ["emb"], name="dq"),
             helper.make_node("Transpose", ["g"], ["gt"], name="transpose", perm=[1, 0, 2]),
             helper.make_node("DequantizeLinear", ["gt", *params], ["emb_t"], name="dq_t")]
    outputs = [("emb", F, None), ("emb_t", F, None)] + [(name, elem, None) for name in extra]
    return make_model(nodes, [("ids", I64, ["b", "t"])], outputs, inits, opset=opset)


def ids(b=3, t=11, rows=37) -> dict:
    return {"ids": RNG.integers(-rows, rows, (b, t)).astype(np.int64)}


def same_bits(model: onnx.ModelProto, feed: dict, **kw) -> ep.InferenceSession:
    """The rewritten session, after checking it gives the DISABLE_ALL session's bits and onnxruntime's values."""
    on = session(model, **kw)
    got, plain = on.run(None, feed), session(model, LEVEL.ORT_DISABLE_ALL, **kw).run(None, feed)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)
    for g, p, w in zip(got, plain, want):
        assert g.dtype == p.dtype and g.shape == p.shape
        np.testing.assert_array_equal(g.view(np.uint8), p.view(np.uint8))
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=0)
    return on


@pytest.mark.parametrize("dtype, zero_point, opset", [(np.uint8, np.uint8(131), 17), (np.int8, np.int8(-7), 13),
                                                      (np.uint8, None, 17), (np.int16, np.int16(-300), 21),
                                                      (np.uint16, np.uint16(40000), 21)],
                         ids=["uint8", "int8", "uint8_no_zero_point", "int16", "uint16"])
def test_dequantized_lookup_and_its_transpose_become_moves_of_one_float_constant_with_the_same_bits(dtype,
                                                                                                   zero_point, opset):
    w = table(dtype)
    sess = same_bits(embedding_model(w, 0.0371, zero_point, opset=opset), ids())
    assert ops(sess) == Counter({"Gather": 1, "Transpose": 1})
    graph = sess.get_graph()
    gather = next(n for n in graph.nodes if n.op_type == "Gather")
    folded = graph.initializers[gather.inputs[0]]
    want = dequantize_linear(w, np.asarray(0.0371, np.float32), None if zero_point is None else np.asarray(zero_point))
    assert folded.dtype == np.float32 and folded.tobytes() == want.tobytes()  # the kernel's own arithmetic
    # the transpose reads the lookup's float output: the lookup is made once
    transpose = next(n for n in graph.nodes if n.op_type == "Transpose")
    assert transpose.inputs[0] == gather.outputs[0] == "emb"


def test_an_empty_lookup_and_special_scales_keep_the_unrewritten_results():
    model = embedding_model(table(np.uint8), np.float32(np.nan), np.uint8(3))
    assert ops(same_bits(model, ids(2, 5))) == Counter({"Gather": 1, "Transpose": 1})
    same_bits(model, {"ids": np.zeros((0, 4), np.int64)})
    same_bits(embedding_model(table(np.uint8), np.float32(np.inf), np.uint8(3)), ids(2, 5))  # 0 * inf: NaN
    same_bits(embedding_model(table(np.int8), np.float32(-1e-30), np.int8(0)), ids(2, 5))  # denormal products


def test_a_chain_of_reshapes_slices_and_squeezes_over_the_constant_folds_whole():
    w = table(np.int8, 4, 30)
    inits = [const("W", w), const("s", np.float32(0.5)), const("zp", np.int8(2)), const("shape", np.array([4, 5, 6])),
             const("starts", np.array([1])), const("ends", np.array([3])), const("axes", np.array([0])),
             const("ax", np.array([1]))]
    nodes = [helper.make_node("Gather", ["W", "i"], ["g"], axis=1),
             helper.make_node("Reshape", ["g", "shape"], ["r"]),
             helper.make_node("Slice", ["r", "starts", "ends", "axes"], ["sl"]),
             helper.make_node("Unsqueeze", ["sl", "ax"], ["u"]),
             helper.make_node("Squeeze", ["u", "ax"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"])]
    model = make_model(nodes, [("i", I64, [30])], [("y", F, None)], inits)
    feed = {"i": RNG.permutation(30).astype(np.int64)}
    sess = same_bits(model, feed)
    assert ops(sess) == Counter({"Gather": 1, "Reshape": 1, "Slice": 1, "Unsqueeze": 1, "Squeeze": 1})


def test_a_quantized_value_read_elsewhere_keeps_its_integer_moves():
    model = embedding_model(table(np.uint8), 0.25, np.uint8(128), extra=("g",))
    sess = same_bits(model, ids())
    # the float lookup and transpose, and the integer lookup the graph output still needs
    assert ops(sess) == Counter({"Gather": 2, "Transpose": 1})


def test_per_axis_scales_are_left_alone():
    w = table(np.uint8, 6, 4)
    inits = [const("W", w), const("s", np.linspace(0.1, 0.6, 4).astype(np.float32)),
             const("zp", np.full(4, 9, np.uint8))]
    nodes = [helper.make_node("Gather", ["W", "ids"], ["g"]),
             helper.make_node("DequantizeLinear", ["g", "s", "zp"], ["y"], axis=-1)]
    model = make_model(nodes, [("ids", I64, [3, 2])], [("y", F, None)], inits)
    sess = same_bits(model, ids(3, 2, rows=6))
    assert ops(sess) == Counter({"Gather": 1, "DequantizeLinear": 1})


def test_a_table_whose_float_copy_exceeds_the_limit_is_not_copied(monkeypatch):
    w = table(np.uint8)
    monkeypatch.setattr(dequantize, "MAX_FOLDED_BYTES", w.size * 4 - 1)
    sess = same_bits(embedding_model(w, 0.5, np.uint8(1)), ids())
    # the lookup stays integer and dequantized; its transpose moves the dequantized lookup instead
    assert ops(sess) == Counter({"Gather": 1, "DequantizeLinear": 1, "Transpose": 1})
    graph = sess.get_graph()
    assert set(graph.initializers) == {"W", "s", "zp"}
    assert next(n for n in graph.nodes if n.op_type == "Transpose").inputs == ["emb"]
    monkeypatch.setattr(dequantize, "MAX_FOLDED_BYTES", w.size * 4)
    assert ops(session(embedding_model(w, 0.5, np.uint8(1))))["DequantizeLinear"] == 0


@pytest.mark.parametrize("level", [LEVEL.ORT_DISABLE_ALL, LEVEL.ORT_ENABLE_BASIC])
def test_the_fold_is_off_below_the_extended_level(level):
    sess = session(embedding_model(table(np.uint8), 0.5, np.uint8(1)), level)
    assert ops(sess) == Counter({"Gather": 1, "Transpose": 1, "DequantizeLinear": 2})


def test_int32_inputs_are_left_alone():
    sess = same_bits(embedding_model(table(np.int32), 0.5, np.int32(1)), ids())
    assert ops(sess)["DequantizeLinear"] == 2
