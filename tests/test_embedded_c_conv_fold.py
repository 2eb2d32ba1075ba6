"""Conv chains the embedded C provider runs as one call (providers/embedded_c/fold.py): a per-channel scale and
shift after a Conv folded into its weights, the gated activations `x * HardSigmoid(x)` / `x * Sigmoid(x)` and
Swish / QuickGelu applied in the Conv's epilogue. Per node, fused and exported; close to the cpu provider, and
the epilogue fusions bitwise the separate ops."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import GraphOptimizationLevel, InferenceSession
from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c import provider as provider_module
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.fold import fold_conv_affine, fuse_conv_gates, fuse_conv_residual
from providers.embedded_c.lowering import lower
from tests.embedded_c_helpers import ATOL, RTOL, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

BASIC = GraphOptimizationLevel.ORT_ENABLE_BASIC
#: name -> (x shape, w shape, Conv attributes, bias)
GEOMETRIES = {
    "dense3x3_odd": ((1, 5, 13, 11), (7, 5, 3, 3), {"pads": [1, 0, 2, 1], "strides": [2, 1]}, True),
    "depthwise": ((1, 6, 15, 9), (6, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 6}, False),
    "pointwise": ((1, 9, 17, 21), (5, 9, 1, 1), {}, True),
    "conv1d_dilated": ((1, 3, 29), (4, 3, 5), {"pads": [4, 3], "dilations": [2]}, False),
}


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def _model(geometry: str | tuple, tail: list[onnx.NodeProto], inits: list[onnx.TensorProto], out: str = "y",
           extra_outputs: tuple[str, ...] = (), opsets: dict[str, int] | None = None) -> onnx.ModelProto:
    """x -> Conv (output "c") -> the `tail` nodes -> `out`; `geometry` a name of GEOMETRIES or such a tuple."""
    xs, ws, attrs, bias = GEOMETRIES[geometry] if isinstance(geometry, str) else geometry
    rng = np.random.default_rng(len(xs) + ws[0])
    inits = inits + [_const("w", rng.standard_normal(ws))]
    conv_in = ["x", "w"]
    if bias:
        inits.append(_const("b", rng.standard_normal(ws[0])))
        conv_in.append("b")
    nodes = [helper.make_node("Conv", conv_in, ["c"], **attrs), *tail]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in (out, *extra_outputs)]
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)], outs, inits)
    ops = [helper.make_opsetid(d, v) for d, v in (opsets or {"": 17}).items()]
    return helper.make_model(g, opset_imports=ops)


def _affine_model(geometry: str, extra_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """Conv -> Mul by a per-channel [M, 1, 1] (1-D: [M, 1]) constant -> Add of a scalar -> Relu."""
    m, rank = GEOMETRIES[geometry][1][0], len(GEOMETRIES[geometry][0])
    scale = np.linspace(-1.5, 2.0, m).reshape((m,) + (1,) * (rank - 2))
    tail = [helper.make_node("Mul", ["c", "s"], ["m"]), helper.make_node("Add", ["shift", "m"], ["a"]),
            helper.make_node("Relu", ["a"], ["y"])]
    return _model(geometry, tail, [_const("s", scale), _const("shift", 0.25)], extra_outputs=extra_outputs)


def _gate_model(geometry: str | tuple, gate: str, extra_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """Conv -> x * Gate(x), the Mul's operands in the order (gate, x)."""
    attrs = {"alpha": 0.3, "beta": 0.45} if gate == "HardSigmoid" else {}
    tail = [helper.make_node(gate, ["c"], ["g"], **attrs), helper.make_node("Mul", ["g", "c"], ["y"])]
    return _model(geometry, tail, [], extra_outputs=extra_outputs)


def _feed(geometry: str, special: bool = False) -> dict[str, np.ndarray]:
    x = (np.random.default_rng(3).standard_normal(GEOMETRIES[geometry][0]) * 3).astype(np.float32)
    if special:
        x.reshape(-1)[1] = np.nan
    return {"x": x}


def _lowered(model: onnx.ModelProto):
    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 17})
    return graph, [lower(n, graph) for n in graph.nodes]


def _spied_funcs(monkeypatch) -> list[list[str]]:
    seen: list[list[str]] = []
    real = provider_module.fuse_conv_activations

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append([c.func for c in out[0]])
        return out

    monkeypatch.setattr(provider_module, "fuse_conv_activations", spy)
    return seen


def test_a_conv_followed_by_channel_scale_and_shift_becomes_one_conv_with_new_weights():
    graph, calls = _lowered(_affine_model("dense3x3_odd"))
    folded, nodes = fold_conv_affine(calls, graph.nodes, graph, {"y"})
    assert [c.func for c in folded] == ["ep_conv", "ep_relu"] and [n.op_type for n in nodes] == ["Conv", "Relu"]
    conv = folded[0]
    assert conv.outputs == ["a"] and ("t", "w") not in conv.args and ("t", "c") not in conv.args
    w_name, b_name = conv.args[1][1], conv.args[2][1]
    scale = np.linspace(-1.5, 2.0, 7).reshape(7, 1, 1, 1)
    np.testing.assert_allclose(conv.constants[w_name], graph.initializers["w"] * scale, rtol=1e-6)
    np.testing.assert_allclose(conv.constants[b_name], graph.initializers["b"] * scale.reshape(-1) + 0.25, rtol=1e-6)
    assert {w_name, b_name} <= set(conv.inputs) and "w" not in conv.inputs


def test_scale_and_shift_are_not_folded_when_an_intermediate_has_another_reader_or_a_spatial_shape():
    graph, calls = _lowered(_affine_model("dense3x3_odd", extra_outputs=("m",)))
    folded, _ = fold_conv_affine(calls, graph.nodes, graph, {"y", "m"})
    assert [c.func for c in folded] == ["ep_conv", "ep_add", "ep_relu"]  # the Mul stays: its output is read
    model = _model("pointwise", [helper.make_node("Mul", ["c", "s"], ["y"])],
                   [_const("s", np.ones((1, 1, 21), np.float32))])  # varies along W: not per channel
    graph, calls = _lowered(model)
    assert [c.func for c in fold_conv_affine(calls, graph.nodes, graph, {"y"})[0]] == ["ep_conv", "ep_mul"]
    graph, calls = _lowered(_affine_model("pointwise"))
    for vendor in ({"Conv": "my_conv.c"}, {"Mul": "my_mul.c"}):
        assert [c.func for c in fold_conv_affine(calls, graph.nodes, graph, {"y"}, vendor)[0]] == \
            ["ep_conv", "ep_mul", "ep_add", "ep_relu"]


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_folded_scale_and_shift_match_the_cpu_provider(geometry, fused, monkeypatch):
    seen = _spied_funcs(monkeypatch)
    model, feed = _affine_model(geometry), _feed(geometry)
    got = strict_session(model, fused=fused, optimization_level=BASIC).run(None, feed)[0]
    assert seen[0] == ["ep_conv_act"]  # scale, shift and Relu all inside the Conv call
    want = InferenceSession(model, providers=["cpu"]).run(None, feed)[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan"])
@pytest.mark.parametrize("gate", ["HardSigmoid", "Sigmoid"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_conv_times_its_gate_is_one_call_bitwise_the_separate_ops(geometry, gate, special, fused, monkeypatch):
    seen = _spied_funcs(monkeypatch)
    feed = _feed(geometry, special)
    got = strict_session(_gate_model(geometry, gate), fused=fused, optimization_level=BASIC).run(None, feed)[0]
    apart = strict_session(_gate_model(geometry, gate, extra_outputs=("c",)), fused=fused,
                           optimization_level=BASIC).run(None, feed)[0]
    assert seen[0] == ["ep_conv_act"] and seen[1][0] == "ep_conv" and len(seen[1]) == 3
    assert got.tobytes() == apart.tobytes()
    want = InferenceSession(_gate_model(geometry, gate), providers=["cpu"]).run(None, feed)[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    if special:
        assert np.isnan(got).any()


def test_a_gate_read_elsewhere_keeps_the_three_calls():
    model = _gate_model("pointwise", "HardSigmoid", extra_outputs=("g",))
    graph, calls = _lowered(model)
    assert [c.func for c in fuse_conv_gates(calls, graph.nodes, graph, {"y", "g"})[0]] == \
        ["ep_conv", "ep_hardsigmoid", "ep_mul"]
    graph, calls = _lowered(_gate_model("pointwise", "Sigmoid"))
    assert [c.func for c in fuse_conv_gates(calls, graph.nodes, graph, {"y"}, {"Sigmoid": "s.c"})[0]] == \
        ["ep_conv", "ep_sigmoid", "ep_mul"]


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("op, domain, opset", [("QuickGelu", "com.microsoft", 17), ("Swish", "", 24)])
def test_conv_then_swish_or_quickgelu_is_one_call_bitwise_the_pair(op, domain, opset, fused, monkeypatch):
    seen = _spied_funcs(monkeypatch)
    opsets = {"": opset, **({domain: 1} if domain else {})}

    def model(extra=()):
        tail = [helper.make_node(op, ["c"], ["y"], domain=domain, alpha=1.3)]
        return _model("dense3x3_odd", tail, [], extra_outputs=extra, opsets=opsets)

    feed = _feed("dense3x3_odd")
    got = strict_session(model(), fused=fused).run(None, feed)[0]
    apart = strict_session(model(("c",)), fused=fused).run(None, feed)[0]
    assert seen[0] == ["ep_conv_act"] and seen[1] == ["ep_conv", "ep_swish"]
    assert got.tobytes() == apart.tobytes()
    c = InferenceSession(model(("c",)), providers=["cpu"]).run(None, feed)[1].astype(np.float64)
    np.testing.assert_allclose(got, c / (1 + np.exp(-1.3 * c)), rtol=RTOL, atol=ATOL)


def test_exported_folded_chains_build_clean_and_verify(tmp_path):
    # Conv -> Mul -> Add (folded) -> x * HardSigmoid(x) (the epilogue): one call, no Mul, Add or HardSigmoid
    m = 7
    tail = [helper.make_node("Mul", ["c", "s"], ["m"]), helper.make_node("Add", ["m", "shift"], ["a"]),
            helper.make_node("HardSigmoid", ["a"], ["g"], alpha=0.25, beta=0.5),
            helper.make_node("Mul", ["a", "g"], ["y"])]
    model = _model("dense3x3_odd", tail, [_const("s", np.linspace(0.5, 1.5, m).reshape(1, m, 1, 1)),
                                          _const("shift", np.arange(m, dtype=np.float32).reshape(m, 1, 1) * 0.1)])
    res = export_model(model, tmp_path / "out")
    source = (tmp_path / "out" / "model.c").read_text()
    assert source.count("ep_conv_act(") == 1
    assert not any(f"{f}(" in source for f in ("ep_mul", "ep_add", "ep_hardsigmoid"))
    _, _, got, want = verify(model, res)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_wide_path_convs_export_and_run_clean_under_sanitizers(tmp_path):
    """Stride-1 and strided convs (the wide path: phase planes read in place by the GEMM), dilated, with
    asymmetric pads, folded and gated, exported and built with ASan and UBSan: results as the cpu provider's."""
    from tests.test_embedded_c_csrc import SANITIZE

    cases = {"s1": ((1, 5, 14, 19), (6, 5, 3, 3), {"pads": [0, 2, 1, 1]}, True),
             "s2_dilated": ((2, 4, 17, 22), (6, 4, 3, 3), {"pads": [2, 1, 0, 3], "strides": [2, 2],
                                                           "dilations": [2, 1]}, False)}
    for k, (name, geometry) in enumerate(cases.items()):
        model = _gate_model(geometry, "HardSigmoid")
        res = export_model(model, tmp_path / name)
        assert "ep_conv_act(" in (tmp_path / name / "model.c").read_text()
        _, _, got, want = verify(model, res, seed=k, extra_flags=SANITIZE)
        np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)
    model, _ = _residual_model("conv1d_dilated", "Relu", True)  # the residual added in the epilogue
    res = export_model(model, tmp_path / "residual")
    assert "ep_conv_act_add(" in (tmp_path / "residual" / "model.c").read_text()
    _, _, got, want = verify(model, res, seed=3, extra_flags=SANITIZE)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)


def _residual_model(geometry: str, act: str | None, residual_first: bool, extra_outputs: tuple[str, ...] = ()):
    """x -> Conv [-> act] -> Add with r (a second input of the Conv's output shape)."""
    tail = [helper.make_node(act, ["c"], ["a"])] if act else []
    conv_out = "a" if act else "c"
    tail.append(helper.make_node("Add", ["r", conv_out] if residual_first else [conv_out, "r"], ["y"]))
    model = _model(geometry, tail, [], extra_outputs=extra_outputs)
    ys = InferenceSession(_model(geometry, [], [], out="c"), providers=["cpu"]).run(None, _feed(geometry))[0].shape
    model.graph.input.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, ys))
    return model, ys


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("act, residual_first", [(None, False), ("Relu", True), ("Sigmoid", False)])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_conv_then_residual_add_is_one_call_bitwise_the_separate_ops(geometry, act, residual_first, fused,
                                                                     monkeypatch):
    seen = _spied_funcs(monkeypatch)
    model, ys = _residual_model(geometry, act, residual_first)
    apart, _ = _residual_model(geometry, act, residual_first, extra_outputs=("a" if act else "c",))
    feed = {**_feed(geometry, special=True), "r": np.random.default_rng(9).standard_normal(ys).astype(np.float32)}
    got = strict_session(model, fused=fused, optimization_level=BASIC, poison_outputs=True).run(None, feed)[0]
    want = strict_session(apart, fused=fused, optimization_level=BASIC).run(None, feed)[0]
    assert seen[0] == ["ep_conv_act_add"] and seen[1][-1] == "ep_add"
    assert got.tobytes() == want.tobytes()
    np.testing.assert_allclose(got, InferenceSession(model, providers=["cpu"]).run(None, feed)[0], rtol=RTOL,
                               atol=ATOL, equal_nan=True)


def test_a_residual_computed_after_the_conv_or_broadcast_stays_a_separate_add():
    # r = Neg(x2) is computed after the Conv in call order when its node comes later: no fusion
    model, ys = _residual_model("pointwise", None, False)
    model.graph.node.insert(1, helper.make_node("Neg", ["r0"], ["r"]))
    model.graph.input[-1].name = "r0"
    graph, calls = _lowered(model)
    fused, _ = fold_conv_affine(calls, graph.nodes, graph, {"y"})
    assert [c.func for c in fuse_conv_residual(fused, graph.nodes, graph, {"y"})[0]] == ["ep_conv", "ep_neg", "ep_add"]
    # a per-channel bias broadcast by the Add: not the Conv's shape
    model, _ = _residual_model("pointwise", None, False)
    model.graph.input[-1].CopyFrom(helper.make_tensor_value_info("r", TensorProto.FLOAT, (1, 5, 1, 1)))
    graph, calls = _lowered(model)
    assert [c.func for c in fuse_conv_residual(calls, graph.nodes, graph, {"y"})[0]] == ["ep_conv", "ep_add"]
