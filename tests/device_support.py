"""What the model tests of the device providers (CUDA, OpenCL) share: bench/bench_models.py
(its light models), and a transformer encoder block built from primitives."""

from __future__ import annotations

import numpy as np
from onnx import helper

from bench import bench_models  # noqa: F401  (re-exported to the device model tests)
from tests.helpers.models import F, const, make_model


def transformer_block(d=32, heads=4, ffn=64, seed=0):
    """One post-norm encoder block: multi-head self-attention from MatMul/Reshape/Transpose/Softmax,
    residuals, LayerNormalization, a Gelu feed-forward."""
    rng = np.random.default_rng(seed)
    dh = d // heads

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)

    inits = [const("wq", w(d, d)), const("wk", w(d, d)), const("wv", w(d, d)), const("wo", w(d, d)),
             const("bq", w(d)), const("bk", w(d)), const("bv", w(d)), const("bo", w(d)),
             const("w1", w(d, ffn)), const("b1", w(ffn)), const("w2", w(ffn, d)), const("b2", w(d)),
             const("g1", 1 + 0.1 * w(d)), const("be1", w(d)), const("g2", 1 + 0.1 * w(d)), const("be2", w(d)),
             const("split_heads", np.array([0, 0, heads, dh], np.int64)),
             const("merge_heads", np.array([0, 0, d], np.int64)),
             const("scale", np.array(1 / np.sqrt(dh), np.float32))]
    n = helper.make_node
    nodes = []
    for h in "qkv":
        nodes += [n("MatMul", ["x", f"w{h}"], [f"{h}0"], name=f"proj_{h}"),
                  n("Add", [f"{h}0", f"b{h}"], [f"{h}1"], name=f"bias_{h}"),
                  n("Reshape", [f"{h}1", "split_heads"], [f"{h}2"], name=f"split_{h}")]
    nodes += [
        n("Transpose", ["q2"], ["q"], perm=[0, 2, 1, 3], name="q_heads"),
        n("Transpose", ["k2"], ["kt"], perm=[0, 2, 3, 1], name="k_heads_t"),
        n("Transpose", ["v2"], ["v"], perm=[0, 2, 1, 3], name="v_heads"),
        n("MatMul", ["q", "kt"], ["s0"], name="scores"),
        n("Mul", ["s0", "scale"], ["s1"], name="scale_scores"),
        n("Softmax", ["s1"], ["p"], axis=-1, name="attention"),
        n("MatMul", ["p", "v"], ["c0"], name="context"),
        n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3], name="merge_t"),
        n("Reshape", ["c1", "merge_heads"], ["c2"], name="merge"),
        n("MatMul", ["c2", "wo"], ["o0"], name="out_proj"),
        n("Add", ["o0", "bo"], ["o1"], name="out_bias"),
        n("Add", ["o1", "x"], ["r1"], name="residual1"),
        n("LayerNormalization", ["r1", "g1", "be1"], ["h1"], axis=-1, epsilon=1e-5, name="norm1"),
        n("MatMul", ["h1", "w1"], ["f0"], name="ffn1"),
        n("Add", ["f0", "b1"], ["f1"], name="ffn1_bias"),
        n("Gelu", ["f1"], ["f2"], name="gelu"),
        n("MatMul", ["f2", "w2"], ["f3"], name="ffn2"),
        n("Add", ["f3", "b2"], ["f4"], name="ffn2_bias"),
        n("Add", ["f4", "h1"], ["r2"], name="residual2"),
        n("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1, epsilon=1e-5, name="norm2"),
    ]
    return make_model(nodes, [("x", F, ["B", "S", d])], [("y", F, ["B", "S", d])], inits, opset=20)
