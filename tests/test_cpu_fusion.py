"""CPU-provider fusions: Conv with its residual Add and Relu computed in one kernel, same results."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import helper

import ep_runtime as ep
from providers.cpu.fusion import fuse_subgraph
from tests.helpers.models import F, const, make_model


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


def preactivation_block(pads: int = 0, group: int = 1, with_conv: bool = True):
    """x -> BatchNormalization -> Mul -> Add -> Relu -> Conv (DenseNet's pre-activation layer), with
    per-channel scales of both signs and a zero, then the Conv's own Mul -> Add -> Relu."""
    rng = np.random.default_rng(3)
    c, m = 6, 4
    scale = rng.standard_normal(c).astype(np.float32)
    scale[0], scale[1] = 0.0, -abs(scale[1])
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "bb", "mean", "var"], ["bn"], name="bn", epsilon=1e-3),
        helper.make_node("Mul", ["bn", "k"], ["mul"], name="mul"),
        helper.make_node("Add", ["mul", "t"], ["add"], name="add"),
        helper.make_node("Relu", ["add"], ["r"], name="relu"),
    ]
    inits = [const("s", scale), const("bb", rng.standard_normal(c).astype(np.float32)),
             const("mean", rng.standard_normal(c).astype(np.float32)),
             const("var", rng.uniform(0.5, 2, c).astype(np.float32)),
             const("k", rng.uniform(0.5, 1.5, (c, 1, 1)).astype(np.float32)),
             const("t", rng.standard_normal((c, 1, 1)).astype(np.float32))]
    out = ("r", F, [1, c, 5, 5])
    if with_conv:
        nodes += [
            helper.make_node("Conv", ["r", "w", "cb"], ["y0"], name="conv", group=group, pads=[pads] * 4),
            helper.make_node("Mul", ["y0", "k2"], ["y1"], name="mul2"),
            helper.make_node("Add", ["y1", "t2"], ["y2"], name="add2"),
            helper.make_node("Relu", ["y2"], ["y"], name="relu2"),
        ]
        inits += [const("w", rng.standard_normal((m, c // group, 3, 3)).astype(np.float32)),
                  const("cb", rng.standard_normal(m).astype(np.float32)),
                  const("k2", rng.standard_normal((m, 1, 1)).astype(np.float32)),
                  const("t2", rng.standard_normal((m, 1, 1)).astype(np.float32))]
        side = 5 + 2 * pads - 2
        out = ("y", F, [1, m, side, side])
    return make_model(nodes, [("x", F, [1, c, 5, 5])], [out], inits)


def assert_matches_onnxruntime(model):
    x = np.random.default_rng(1).standard_normal((1, 6, 5, 5)).astype(np.float32) * 3
    got = ep.InferenceSession(model, providers=["cpu"]).run(None, {"x": x})
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_a_preactivation_before_an_unpadded_conv_folds_into_it():
    for group in (1, 2):
        model = preactivation_block(group=group)
        assert fused_ops(model) == ["FusedConv"]
        assert_matches_onnxruntime(model)


def test_a_preactivation_before_a_padded_conv_is_one_affine_pass():
    model = preactivation_block(pads=1)
    assert fused_ops(model) == ["FusedAffine", "FusedConv"]
    assert_matches_onnxruntime(model)


def test_a_batchnorm_mul_add_relu_chain_alone_is_one_affine_pass():
    model = preactivation_block(with_conv=False)
    assert fused_ops(model) == ["FusedAffine"]
    assert_matches_onnxruntime(model)


def test_a_sum_residual_fuses_like_an_add():
    model = residual_block()
    for n in model.graph.node:
        if n.op_type == "Add":
            n.op_type = "Sum"
    assert fused_ops(model) == ["FusedConv", "FusedConv"]
    x = np.random.default_rng(1).standard_normal((1, 4, 6, 6)).astype(np.float32)
    got = ep.InferenceSession(model, providers=["cpu"]).run(None, {"x": x})
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)


def test_two_convs_feeding_one_add_fuse_only_one_of_them_with_it():
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="c1"),
             helper.make_node("Conv", ["x", "w2"], ["b"], name="c2"),
             helper.make_node("Add", ["a", "b"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["y"], name="relu")]
    inits = [const("w1", rng.standard_normal((4, 4, 1, 1)).astype(np.float32)),
             const("w2", rng.standard_normal((4, 4, 1, 1)).astype(np.float32))]
    model = make_model(nodes, [("x", F, [1, 4, 6, 6])], [("y", F, [1, 4, 6, 6])], inits)
    assert fused_ops(model) == ["Conv", "FusedConv"]
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    got = ep.InferenceSession(model, providers=["cpu"]).run(None, {"x": x})
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)


def test_fusions_are_off_when_graph_optimizations_are_disabled():
    opts = ep.SessionOptions()
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.enable_profiling = True
    sess = ep.InferenceSession(residual_block(), opts, providers=["cpu"])
    sess.run(None, {"x": np.ones((1, 4, 6, 6), np.float32)})
    labels = [label for label, _ in sess._profiler.records()]
    assert labels == ["'conv1' (Conv)", "'relu1' (Relu)", "'conv2' (Conv)", "'add' (Add)", "'relu2' (Relu)"]
