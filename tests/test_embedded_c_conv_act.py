"""A Conv whose only reader is an activation (Relu, Clip, ...) runs with it as one ep_conv_act call on the
embedded C provider: per node, fused and exported, bitwise the separate ops and close to the cpu provider."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession
from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c import provider as provider_module
from providers.embedded_c.calls import Call
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.lowering import fuse_conv_activations, lower
from tests.embedded_c_helpers import ATOL, RTOL, lenet_model, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

#: name -> (x shape, w shape, Conv attributes, bias)
GEOMETRIES = {
    "dense3x3_odd": ((1, 5, 13, 11), (7, 5, 3, 3), {"pads": [1, 0, 2, 1], "strides": [2, 1]}, True),
    "depthwise_s2": ((2, 6, 15, 9), (6, 1, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2], "group": 6}, True),
    "depthwise_x2_dil": ((1, 3, 12, 10), (6, 1, 3, 3), {"pads": [2, 2, 2, 2], "dilations": [2, 2], "group": 3}, False),
    "pointwise": ((1, 9, 37, 41), (5, 9, 1, 1), {}, True),
    "pointwise_no_bias": ((1, 4, 7, 5), (3, 4, 1, 1), {}, False),
    "conv1d": ((1, 3, 29), (4, 3, 5), {"pads": [2, 1]}, True),
    "grouped": ((1, 8, 9, 9), (6, 4, 3, 3), {"pads": [1, 1, 1, 1], "group": 2}, True),
}

#: name -> (op, attributes, constant inputs after x)
ACTIVATIONS = {
    "relu": ("Relu", {}, []),
    "relu6": ("Clip", {}, [0.0, 6.0]),
    "clip_min_only": ("Clip", {}, [-0.5, None]),
    "leaky": ("LeakyRelu", {"alpha": 0.07}, []),
    "hardsigmoid": ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, []),
    "hardswish": ("HardSwish", {}, []),
    "sigmoid": ("Sigmoid", {}, []),
}


def _pair_model(geometry: str, activation: str, conv_is_output: bool = False):
    """x -> Conv -> activation -> y; with `conv_is_output` the Conv's output is a graph output too
    (a second reader: the pair must then run as two calls)."""
    xs, ws, attrs, bias = GEOMETRIES[geometry]
    op, act_attrs, bounds = ACTIVATIONS[activation]
    rng = np.random.default_rng(len(geometry) * 7 + len(activation))
    inits = [numpy_helper.from_array(rng.standard_normal(ws).astype(np.float32), "w")]
    conv_in = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(ws[0]).astype(np.float32), "b"))
        conv_in.append("b")
    act_in = ["c"]
    for k, v in enumerate(bounds):
        if v is None:
            act_in.append("")
        else:
            inits.append(numpy_helper.from_array(np.array(v, dtype=np.float32), f"bound{k}"))
            act_in.append(f"bound{k}")
    nodes = [helper.make_node("Conv", conv_in, ["c"], **attrs), helper.make_node(op, act_in, ["y"], **act_attrs)]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if conv_is_output:
        outs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "pair", [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)], outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _feed(geometry: str, special: bool) -> np.ndarray:
    xs = GEOMETRIES[geometry][0]
    x = (np.random.default_rng(5).standard_normal(xs) * 3).astype(np.float32)
    if special:  # a NaN and an infinity far apart, so no window holds both
        flat = x.reshape(-1)
        flat[1] = np.nan
        flat[-2] = np.inf
    return x


def _calls(model):
    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 17})
    calls = [lower(n, graph) for n in graph.nodes]
    assert all(isinstance(c, Call) for c in calls), calls
    return graph, calls


def test_a_conv_read_only_by_an_activation_becomes_one_call():
    graph, calls = _calls(_pair_model("dense3x3_odd", "relu6"))
    fused, nodes = fuse_conv_activations(calls, graph.nodes, graph, {"y"})
    assert [c.func for c in fused] == ["ep_conv_act"] and [n.op_type for n in nodes] == ["Conv"]
    assert fused[0].outputs == ["y"] and ("t", "c") not in fused[0].args
    assert fused[0].args[-3:] == [("i32", 2), ("f32", 0.0), ("f32", 6.0)]


def test_a_conv_with_a_second_reader_is_not_fused():
    graph, calls = _calls(_pair_model("dense3x3_odd", "relu", conv_is_output=True))
    fused, _ = fuse_conv_activations(calls, graph.nodes, graph, {"y", "c"})
    assert [c.func for c in fused] == ["ep_conv", "ep_relu"]
    # a second node reading the Conv's output (not a graph output)
    model = _pair_model("dense3x3_odd", "relu")
    model.graph.node.append(helper.make_node("Neg", ["c"], ["z"]))
    model.graph.output.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    graph, calls = _calls(model)
    fused, _ = fuse_conv_activations(calls, graph.nodes, graph, {"y", "z"})
    assert [c.func for c in fused] == ["ep_conv", "ep_relu", "ep_neg"]


def test_a_vendor_kernel_for_either_op_keeps_the_pair_apart():
    graph, calls = _calls(_pair_model("pointwise", "relu"))
    for vendor in ({"Relu": "my_relu.c"}, {"Conv": "my_conv.c"}):
        fused, _ = fuse_conv_activations(calls, graph.nodes, graph, {"y"}, vendor)
        assert [c.func for c in fused] == ["ep_conv", "ep_relu"]


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan_inf"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_fused_conv_activation_is_bitwise_the_separate_ops_and_matches_cpu(geometry, activation, special, fused,
                                                                          monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        out = fuse_conv_activations(*args, **kwargs)
        seen.append([c.func for c in out[0]])
        return out

    monkeypatch.setattr(provider_module, "fuse_conv_activations", spy)
    x = _feed(geometry, special)
    got = strict_session(_pair_model(geometry, activation), fused=fused).run(None, {"x": x})[0]
    apart = strict_session(_pair_model(geometry, activation, conv_is_output=True), fused=fused).run(None, {"x": x})[0]
    assert seen[0] == ["ep_conv_act"] and seen[1][0] == "ep_conv" and len(seen[1]) == 2
    want = InferenceSession(_pair_model(geometry, activation), providers=["cpu"]).run(None, {"x": x})[0]
    assert got.tobytes() == apart.tobytes()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    if special:
        assert np.isnan(got).any()


def test_exported_conv_relu_pairs_run_as_one_call_and_verify(tmp_path):
    model = lenet_model()
    res = export_model(model, tmp_path / "out")
    source = (tmp_path / "out" / "model.c").read_text()
    assert source.count("ep_conv_act(") == 2 and "ep_relu(" not in source
    _, _, got, want = verify(model, res)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)


# Gelu's vectorized erf and Transpose's row copies and tiles (the other two speed paths of issue 13)

@pytest.mark.parametrize("shape, perm", [
    ((67, 45), (1, 0)),                     # 2-D: tiles with ragged edges
    ((2, 3, 33, 70), (0, 1, 3, 2)),         # last two axes swapped
    ((2, 37, 4, 16), (0, 2, 1, 3)),         # last axis stays: row copies
    ((3, 1, 5, 1, 7), (4, 1, 0, 3, 2)),     # unit axes dropped
    ((4, 6, 5, 3), (2, 3, 0, 1)),           # merged into a 2-D transpose
    ((2, 3, 4, 5, 6), (3, 0, 4, 2, 1)),     # general: tiles under an odometer
    ((0, 3, 2), (2, 0, 1)),                 # empty
])
def test_transpose_fast_paths_match_numpy(shape, perm):
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["y"], perm=list(perm))], "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[p] for p in perm])]),
        opset_imports=[helper.make_opsetid("", 17)])
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    for fused in (False, True):
        got = strict_session(model, fused=fused).run(None, {"x": x})[0]
        assert got.tobytes() == np.ascontiguousarray(x.transpose(perm)).tobytes()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_without_libm_stays_within_tolerance_of_exact_gelu(approximate):
    from math import erf, sqrt, tanh

    x = np.concatenate([np.linspace(-12, 12, 20001, dtype=np.float32),
                        np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 3e38], dtype=np.float32)])
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)]), opset_imports=[helper.make_opsetid("", 20)])
    got = strict_session(model).run(None, {"x": x})[0]
    if approximate == "none":
        exact = [0.5 * v * (1 + erf(v / sqrt(2))) if np.isfinite(v) else np.nan for v in x.astype(np.float64)]
    else:
        exact = [0.5 * v * (1 + tanh(sqrt(2 / np.pi) * (v + 0.044715 * v ** 3))) if abs(v) < 1e10 else np.nan
                 for v in x.astype(np.float64)]
    finite = np.isfinite(x) & (np.abs(x) < 1e10)
    assert np.abs(got[finite] - np.array(exact)[finite]).max() < 1e-6
    assert np.isnan(got[-8]) and got[-7] == np.inf and np.isnan(got[-6])  # as 0.5 x (1 + erff(...)) gives
    assert got[-5] == 0 and got[-1] == np.float32(3e38)
    cpu = InferenceSession(model, providers=["cpu"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, cpu, rtol=RTOL, atol=ATOL, equal_nan=True)


@pytest.mark.slow
def test_fused_pairs_export_and_run_clean_under_sanitizers(tmp_path):
    """Every geometry with Clip(0, 6), exported as standalone C (one ep_conv_act call) and built with
    ASan and UBSan: no access outside the buffers, results as the cpu provider's."""
    from tests.test_embedded_c_csrc import SANITIZE

    for k, geometry in enumerate(GEOMETRIES):
        model = _pair_model(geometry, "relu6")
        res = export_model(model, tmp_path / geometry)
        assert "ep_conv_act(" in (tmp_path / geometry / "model.c").read_text()
        _, _, got, want = verify(model, res, seed=k, extra_flags=SANITIZE)
        np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)
