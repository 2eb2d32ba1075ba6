"""Gather of any element type, Expand, ArgMax / ArgMin and Where on the embedded C provider give the cpu
provider's outputs (per node and fused): odd shapes, broadcasting, empty tensors, negative indices and axes,
NaN in ArgMax; what the kernels cannot take is refused with a reason."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime.graph import Graph
from ep_runtime.provider import Refusal
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.lowering import lower
from tests.embedded_c_helpers import cpu_run, strict_session
from tests.test_embedded_c_csrc import SANITIZE

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

R = np.random.default_rng(11)


def typed_model(op: str, inputs: dict[str, np.ndarray], consts: dict[str, np.ndarray], out_dtype, out_shape,
                opset: int = 17, **attrs) -> onnx.ModelProto:
    """One `op` node: `inputs` as graph inputs (their dtype and shape), `consts` as initializers."""
    node = helper.make_node(op, list(inputs) + list(consts), ["y"], **attrs)
    graph = helper.make_graph(
        [node], op.lower(),
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
         for k, v in inputs.items()],
        [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype)), list(out_shape))],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def check(model, feed, fused: bool):
    """The single output of `model` on the embedded C provider (per node, or fused) equals the cpu provider's."""
    (got,) = strict_session(model, fused=fused).run(None, feed)
    (want,) = cpu_run(model, feed)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _data(dtype, shape):
    if dtype == np.bool_:
        return R.integers(0, 2, shape).astype(np.bool_)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return R.integers(max(info.min, -1000), min(info.max, 1000), shape, endpoint=True).astype(dtype)
    return R.standard_normal(shape).astype(dtype)


DTYPES = [np.float32, np.uint8, np.int8, np.int32, np.int64, np.bool_]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_gather_of_any_element_type_matches_cpu(dtype):
    """An embedding table of uint8 (what quantize_dynamic leaves of an Embedding), and the other types; indices
    negative, repeated, of rank 2, computed at run time; axes 0, 1 and -1."""
    for shape, axis, idx in (((54, 7), 0, [[3, -1, 3], [0, 53, 2]]), ((2, 5, 3), 1, [4, -5, 0]),
                             ((3, 4), -1, [[1]]), ((4, 3), 0, np.zeros((0,), np.int64))):
        x = _data(dtype, shape)
        indices = np.asarray(idx, np.int64)
        a = axis % len(shape)
        out = shape[:a] + indices.shape + shape[a + 1:]
        model = typed_model("Gather", {"x": x, "i": indices}, {}, dtype, out, axis=axis)
        check(model, {"x": x, "i": indices}, fused=False)


def test_gather_of_a_constant_uint8_table_by_int32_indices_matches_cpu():
    table = _data(np.uint8, (302, 16))
    ids = np.array([[0, 301, 7, 7, 150]], np.int32)
    model = typed_model("Gather", {"i": ids}, {"table": table}, np.uint8, (1, 5, 16))
    model.graph.node[0].input[:] = ["table", "i"]
    check(model, {"i": ids}, fused=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_expand_matches_cpu(dtype):
    """Broadcast along inner and outer axes, a higher-rank target, a target of 1s smaller than the input,
    a scalar input, an empty output."""
    for in_shape, target in (((3, 1), (2, 3, 5)), ((1, 4), (3, 1)), ((2, 1, 3), (1, 1)), ((), (2, 3)),
                             ((2, 1), (2, 0)), ((5,), (5,))):
        x = _data(dtype, in_shape)
        out = np.broadcast_shapes(in_shape, target)
        model = typed_model("Expand", {"x": x}, {"shape": np.asarray(target, np.int64)}, dtype, out)
        check(model, {"x": x}, fused=False)


def test_expand_with_a_target_that_does_not_broadcast_is_refused_with_a_reason():
    model = typed_model("Expand", {"x": _data(np.float32, (3, 2))}, {"shape": np.asarray([4, 2], np.int64)},
                        np.float32, (4, 2))
    graph = Graph(model.graph, {"": 17})
    refusal = lower(graph.nodes[0], graph)
    assert isinstance(refusal, Refusal) and "cannot broadcast" in refusal.reason


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int8, np.int32, np.int64], ids=lambda d: np.dtype(d).name)
def test_argmax_and_argmin_match_cpu(dtype, op):
    """Every axis, keepdims, select_last_index, ties (small integer ranges), odd shapes."""
    x = (R.integers(0, 4, (3, 5, 7)) if dtype != np.float32 else R.integers(-2, 2, (3, 5, 7))).astype(dtype)
    for axis in (0, 1, -1):
        for keepdims in (0, 1):
            for last in (0, 1):
                a = axis % 3
                out = x.shape[:a] + ((1,) if keepdims else ()) + x.shape[a + 1:]
                model = typed_model(op, {"x": x}, {}, np.int64, out, axis=axis, keepdims=keepdims,
                                    select_last_index=last)
                check(model, {"x": x}, fused=False)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_argmax_and_argmin_pick_the_first_or_last_nan_as_numpy(op):
    x = np.array([[1.0, np.nan, 5.0, np.nan, 5.0], [2.0, 2.0, -1.0, 7.0, 7.0], [np.nan, 0.0, 9.0, 1.0, np.nan]],
                 np.float32)
    for last in (0, 1):
        model = typed_model(op, {"x": x}, {}, np.int64, (3,), axis=1, keepdims=0, select_last_index=last)
        check(model, {"x": x}, fused=False)


def test_argmax_along_an_empty_axis_is_refused_with_a_reason():
    model = typed_model("ArgMax", {"x": np.zeros((3, 0), np.float32)}, {}, np.int64, (3,), axis=1, keepdims=0)
    graph = Graph(model.graph, {"": 17})
    refusal = lower(graph.nodes[0], graph)
    assert isinstance(refusal, Refusal) and "empty axis" in refusal.reason


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_where_matches_cpu(dtype):
    """The three operands broadcast each way, scalars, an empty output."""
    for cs, xs, ys in (((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((3, 1), (1, 5), (3, 5)), ((), (4, 2), (1,)),
                       ((2, 1, 3), (), (4, 1)), ((0, 3), (1, 3), (3,))):
        c, x, y = _data(np.bool_, cs), _data(dtype, xs), _data(dtype, ys)
        out = np.broadcast_shapes(cs, xs, ys)
        model = typed_model("Where", {"c": c, "a": x, "b": y}, {}, dtype, out)
        check(model, {"c": c, "a": x, "b": y}, fused=False)


def test_where_with_x_and_y_of_different_types_is_refused_with_a_reason():
    model = typed_model("Where", {"c": _data(np.bool_, (3,)), "x": _data(np.float32, (3,))},
                        {"b": np.zeros(3, np.int64)}, np.float32, (3,))
    graph = Graph(model.graph, {"": 17})
    refusal = lower(graph.nodes[0], graph)
    assert isinstance(refusal, Refusal)


def chain_model() -> onnx.ModelProto:
    """ArgMax -> Gather of a uint8 table -> Expand, and ArgMax -> Equal -> Where."""
    nodes = [helper.make_node("ArgMax", ["x"], ["am"], axis=-1, keepdims=1),
             helper.make_node("Gather", ["table", "am"], ["g"], axis=0),
             helper.make_node("Expand", ["g", "shape"], ["e"]),
             helper.make_node("Equal", ["am", "zero"], ["is0"]),
             helper.make_node("Where", ["is0", "zero", "am"], ["y"])]
    inits = [numpy_helper.from_array(_data(np.uint8, (5, 3)), "table"),
             numpy_helper.from_array(np.asarray([3, 2, 6, 1, 3], np.int64), "shape"),
             numpy_helper.from_array(np.zeros((), np.int64), "zero")]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [2, 6, 1]),
                               helper.make_tensor_value_info("e", TensorProto.UINT8, [3, 2, 6, 1, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_select_ops_chained_run_fused_like_cpu():
    """The kernels above run per node; here, one fused C function."""
    x = _data(np.float32, (2, 6, 5))
    x[0, 1, 2] = np.nan
    model = chain_model()
    got = strict_session(model, fused=True).run(None, {"x": x})
    for g, w in zip(got, cpu_run(model, {"x": x})):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_exported_select_ops_run_clean_under_sanitizers_and_match(tmp_path):
    """The chain exported and built with AddressSanitizer and UBSan."""
    x = _data(np.float32, (2, 6, 5))
    model = chain_model()
    res = export_model(model, tmp_path / "out")
    _, _, got, want = verify(model, res, extra_flags=SANITIZE, feed={"x": x})
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
