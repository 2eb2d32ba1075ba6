"""The embedded C provider runs each operator of its C99 library like the cpu provider, per node and fused,
and refuses what it cannot run with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from ep_runtime import InferenceSession
from providers.embedded_c import EmbeddedCExecutionProvider, build
from tests.embedded_c_helpers import ATOL, RTOL, cpu_run, single_node_model, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

R = np.random.default_rng(0)


def _x(*shape):
    return R.standard_normal(shape).astype(np.float32)


CASES = {
    "relu": ("Relu", {"x": (2, 3, 4)}, {}, {}),
    "leaky_relu": ("LeakyRelu", {"x": (5, 7)}, {}, {"alpha": 0.2}),
    "sigmoid": ("Sigmoid", {"x": (3, 50)}, {}, {}),
    "tanh": ("Tanh", {"x": (3, 5)}, {}, {}),
    "clip": ("Clip", {"x": (4, 6)}, {"lo": np.float32(-0.5), "hi": np.float32(0.7)}, {}),
    "add_broadcast": ("Add", {"a": (2, 3, 4, 5), "b": (3, 1, 5)}, {}, {}),
    "sub_scalar": ("Sub", {"a": (3, 4), "b": ()}, {}, {}),
    "mul_same": ("Mul", {"a": (6, 7), "b": (6, 7)}, {}, {}),
    "div_row": ("Div", {"a": (4, 5), "b": (4, 1)}, {}, {}),
    "conv_pads_strides": ("Conv", {"x": (1, 3, 11, 9), "w": (4, 3, 3, 3), "b": (4,)}, {},
                          {"pads": [1, 2, 0, 1], "strides": [2, 1]}),
    "conv_groups_dilations": ("Conv", {"x": (2, 4, 10, 10), "w": (6, 2, 3, 3)}, {},
                              {"group": 2, "dilations": [2, 1], "pads": [1, 1, 1, 1]}),
    "conv_depthwise_same": ("Conv", {"x": (1, 4, 7, 7), "w": (4, 1, 3, 3)}, {},
                            {"group": 4, "auto_pad": "SAME_UPPER"}),
    "conv_pointwise": ("Conv", {"x": (1, 8, 5, 5), "w": (3, 8, 1, 1)}, {}, {}),
    "conv_1d": ("Conv", {"x": (1, 2, 12), "w": (3, 2, 3)}, {}, {"pads": [1, 1]}),
    "gemm_transb_bias": ("Gemm", {"a": (3, 5), "b": (4, 5), "c": (4,)}, {}, {"transB": 1, "alpha": 0.5, "beta": 2.0}),
    "gemm_transa": ("Gemm", {"a": (5, 3), "b": (5, 4), "c": (3, 1)}, {}, {"transA": 1}),
    "matmul_batched": ("MatMul", {"a": (2, 1, 3, 4), "b": (3, 4, 5)}, {}, {}),
    "matmul_vector": ("MatMul", {"a": (4,), "b": (2, 4, 3)}, {}, {}),
    "maxpool": ("MaxPool", {"x": (1, 2, 9, 9)}, {}, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "maxpool_ceil_dilated": ("MaxPool", {"x": (1, 2, 10, 10)}, {},
                             {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "dilations": [1, 2]}),
    "averagepool_pads": ("AveragePool", {"x": (1, 2, 7, 7)}, {},
                         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "averagepool_count_pad": ("AveragePool", {"x": (1, 2, 7, 7)}, {},
                              {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    "globalaveragepool": ("GlobalAveragePool", {"x": (2, 3, 5, 6)}, {}, {}),
    "batchnorm": ("BatchNormalization", {"x": (2, 3, 4, 4)},
                  {"s": _x(3), "bb": _x(3), "m": _x(3), "v": np.abs(_x(3)) + 0.5}, {"epsilon": 1e-3}),
    "softmax_axis1": ("Softmax", {"x": (3, 4, 5)}, {}, {"axis": 1}),
    "softmax_last": ("Softmax", {"x": (3, 40)}, {}, {}),
    "concat": ("Concat", {"a": (2, 3, 4), "b": (2, 1, 4), "c": (2, 5, 4)}, {}, {"axis": 1}),
    "concat_neg_axis": ("Concat", {"a": (2, 3), "b": (2, 4)}, {}, {"axis": -1}),
    "transpose": ("Transpose", {"x": (2, 3, 4, 5)}, {}, {"perm": [0, 2, 3, 1]}),
    "transpose_default": ("Transpose", {"x": (3, 4, 5)}, {}, {}),
    "sum3": ("Sum", {"a": (2, 3, 4), "b": (3, 4), "c": (2, 3, 4)}, {}, {}),
    "lrn": ("LRN", {"x": (1, 7, 4, 4)}, {}, {"size": 4, "alpha": 1e-3, "beta": 0.75, "bias": 2.0}),
    "reshape": ("Reshape", {"x": (2, 3, 4)}, {"shape": np.array([4, -1], dtype=np.int64)}, {}),
    "flatten": ("Flatten", {"x": (2, 3, 4)}, {}, {"axis": 2}),
    "dropout": ("Dropout", {"x": (3, 4)}, {}, {}),
    "identity": ("Identity", {"x": (3, 4)}, {}, {}),
}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_operator_matches_cpu_provider(case, fused):
    op, inputs, consts, attrs = CASES[case]
    model = single_node_model(op, inputs, consts=consts, **attrs)
    feed = {n: _x(*s) for n, s in inputs.items()}
    got = strict_session(model, fused=fused).run(None, feed)
    want = cpu_run(model, feed)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def _refusal(model) -> str:
    sess = InferenceSession(model, providers=["embedded_c", "cpu"])
    text = sess.get_partition().explain()
    return text


def test_unsupported_op_is_refused_with_its_name():
    model = single_node_model("Hardmax", {"x": (2, 3)})
    assert "Hardmax unsupported" in _refusal(model)


def test_float64_is_refused_as_dtype():
    node = helper.make_node("Relu", ["x"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert "dtype: float64 not supported" in _refusal(model)


def test_unknown_rank_is_refused():
    node = helper.make_node("Relu", ["x"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert "dynamic_shape: rank of 'x' is unknown" in _refusal(model)


def test_3d_conv_is_refused_as_attribute():
    model = single_node_model("Conv", {"x": (1, 1, 3, 3, 3), "w": (1, 1, 1, 1, 1)})
    assert "attribute: Conv with 3 spatial dims unsupported" in _refusal(model)


def test_missing_compiler_makes_the_provider_unavailable(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("EP_RUNTIME_CC", raising=False)
    assert not EmbeddedCExecutionProvider.is_available()
    assert "no C compiler found" in EmbeddedCExecutionProvider.unavailable_reason()


def test_library_build_is_cached_by_hash_of_sources_and_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("EP_RUNTIME_CACHE", str(tmp_path))
    lib = build.Library(build.default_sources())
    path = lib.build()
    assert path.is_relative_to(tmp_path / "embedded_c")
    mtime = path.stat().st_mtime_ns
    again = build.Library(build.default_sources())
    assert again.hash == lib.hash and again.build() == path and path.stat().st_mtime_ns == mtime
    other = build.Library(build.default_sources(), ["-DEP_SOME_FLAG=1"])
    assert other.hash != lib.hash
