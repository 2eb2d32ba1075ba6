"""CPU-provider fusions: Conv with its residual Add and Relu computed in one kernel, same results."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import helper

import ep_runtime as ep
from providers.cpu.fusion import fuse_subgraph
from tests.conftest import F, const, make_model


def residual_block(extra_use: bool = False):
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "x"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["y"], name="relu2"),
    ]
    outputs = [("y", F, [1, 4, 6, 6])]
    if extra_use:
        outputs.append(("c2", F, [1, 4, 6, 6]))
    inits = [const("w1", rng.standard_normal((4, 4, 3, 3)).astype(np.float32)),
             const("b1", rng.standard_normal(4).astype(np.float32)),
             const("w2", rng.standard_normal((4, 4, 3, 3)).astype(np.float32))]
    return make_model(nodes, [("x", F, [1, 4, 6, 6])], outputs, inits)


def fused_ops(model):
    sess = ep.InferenceSession(model, providers=["cpu"])
    sg = sess.get_partition().subgraphs[0]
    return [n.op_type for n in fuse_subgraph(sg).nodes]


def test_conv_relu_and_conv_add_relu_become_fused_convs():
    assert fused_ops(residual_block()) == ["FusedConv", "FusedConv"]


def test_a_conv_output_used_elsewhere_is_not_fused_with_its_add():
    assert fused_ops(residual_block(extra_use=True)) == ["FusedConv", "Conv", "Add", "Relu"]


def test_fused_results_equal_onnxruntime():
    for extra in (False, True):
        model = residual_block(extra)
        x = np.random.default_rng(1).standard_normal((1, 4, 6, 6)).astype(np.float32)
        got = ep.InferenceSession(model, providers=["cpu"]).run(None, {"x": x})
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_the_partition_still_lists_the_original_nodes():
    part = ep.InferenceSession(residual_block(), providers=["cpu"]).get_partition()
    assert [d.node.name for d in part.decisions] == ["conv1", "relu1", "conv2", "add", "relu2"]
