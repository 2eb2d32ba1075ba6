"""Model builders shared by the embedded C tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import GraphOptimizationLevel, InferenceSession, SessionOptions

RTOL, ATOL = 1e-4, 1e-5


def single_node_model(op: str, inputs: dict[str, tuple], out_shape: tuple | None = None, consts=None,
                      opset: int = 17, n_outputs: int = 1, **attrs) -> onnx.ModelProto:
    consts = consts or {}
    names = list(inputs) + list(consts)
    outs = [f"y{k}" for k in range(n_outputs)]
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, out_shape if k == 0 else None)
         for k, o in enumerate(outs)],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in consts.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def mlp_model(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((16, 32)).astype(np.float32)
    b1 = rng.standard_normal(32).astype(np.float32)
    w2 = rng.standard_normal((32, 10)).astype(np.float32)
    b2 = rng.standard_normal(10).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["ha"]),
             helper.make_node("Tanh", ["ha"], ["t"]), helper.make_node("Gemm", ["t", "w2", "b2"], ["z"]),
             helper.make_node("Sigmoid", ["z"], ["s"]), helper.make_node("Softmax", ["s"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 10])],
                          [numpy_helper.from_array(a, n) for n, a in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def lenet_model(seed: int = 0, names: dict[str, str] | None = None) -> onnx.ModelProto:
    """A LeNet-style CNN; `names` renames values (for the hostile-names export test)."""
    rng = np.random.default_rng(seed)
    nm = {k: k for k in ("x", "c1", "r1", "p1", "c2", "r2", "p2", "f", "g1", "l1", "g2", "y")}
    nm.update(names or {})

    def w(*s):
        return (rng.standard_normal(s) * 0.2).astype(np.float32)

    inits = {"w1": w(6, 1, 5, 5), "b1": w(6), "w2": w(16, 6, 5, 5), "b2": w(16), "wf1": w(64, 16 * 5 * 5),
             "bf1": w(64), "wf2": w(10, 64), "bf2": w(10)}
    nodes = [
        helper.make_node("Conv", [nm["x"], "w1", "b1"], [nm["c1"]], pads=[2, 2, 2, 2], name="conv 1 \"*/"),
        helper.make_node("Relu", [nm["c1"]], [nm["r1"]]),
        helper.make_node("MaxPool", [nm["r1"]], [nm["p1"]], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", [nm["p1"], "w2", "b2"], [nm["c2"]], name="int"),
        helper.make_node("Relu", [nm["c2"]], [nm["r2"]]),
        helper.make_node("AveragePool", [nm["r2"]], [nm["p2"]], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", [nm["p2"]], [nm["f"]]),
        helper.make_node("Gemm", [nm["f"], "wf1", "bf1"], [nm["g1"]], transB=1),
        helper.make_node("LeakyRelu", [nm["g1"]], [nm["l1"]], alpha=0.1),
        helper.make_node("Gemm", [nm["l1"], "wf2", "bf2"], [nm["g2"]], transB=1),
        helper.make_node("Softmax", [nm["g2"]], [nm["y"]], axis=1),
    ]
    g = helper.make_graph(nodes, "lenet", [helper.make_tensor_value_info(nm["x"], TensorProto.FLOAT, [2, 1, 28, 28])],
                          [helper.make_tensor_value_info(nm["y"], TensorProto.FLOAT, [2, 10])],
                          [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def strict_session(model, *, optimization_level: GraphOptimizationLevel | None = None, **options) -> InferenceSession:
    """A session that must run every node on the embedded C provider (graph optimizations at
    `optimization_level` when given, else the session default)."""
    so = SessionOptions()
    so.disable_cpu_ep_fallback = True
    if optimization_level is not None:
        so.graph_optimization_level = optimization_level
    return InferenceSession(model, so, providers=[("embedded_c", options)])


def cpu_run(model, feed):
    return InferenceSession(model, providers=["cpu"]).run(None, feed)


def assert_matches_cpu(model, feed, *, fused: bool, rtol: float = RTOL, atol: float = ATOL) -> list:
    """Every node on the embedded C provider (per node, or fused) gives the CPU provider's outputs; returns
    the provider's outputs."""
    got = strict_session(model, fused=fused).run(None, feed)
    want = cpu_run(model, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got
