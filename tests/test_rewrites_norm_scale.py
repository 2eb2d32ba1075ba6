"""The normalization and scaling rewrites of the EXTENDED level: residual Add [+ bias] + LayerNormalization ->
com.microsoft SkipLayerNormalization (rewrites/skip_layernorm.py), the LayerNorm chain below opset 17 and on
values of unknown rank (rewrites/layernorm.py), and constant scalar scalings of MatMul folded into a
constant operand or FusedMatMul (rewrites/matmul_scale.py). Each keeps the results of the unoptimized graph
and of onnxruntime, and does not fire where constants or shapes do not allow it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.helpers.models import F, const, make_model
from tests.test_rewrites import LEVEL, check, layer_norm_chain, ops, session, x_feed

RNG = np.random.default_rng(5)
D = 16


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# --- SkipLayerNormalization --------------------------------------------------------------------------

def residual_ln(x_shape=(2, 5, D), skip_shape=None, *, bias=False, sum_output=False, beta=True, gamma_const=True,
                axis=-1, opset=17, ln_stats=False) -> onnx.ModelProto:
    skip_shape = skip_shape or x_shape
    norm = x_shape[axis:]
    n = x_shape[-1]
    inits = [const("beta", randn(*norm))] if beta else []
    inputs = [("x", F, list(x_shape)), ("r", F, list(skip_shape))]
    if gamma_const:
        inits.append(const("gamma", (randn(*norm) * 0.2 + 1).astype(np.float32)))
    else:
        inputs.append(("gamma", F, list(norm)))
    nodes = []
    r = "r"
    if bias:
        inits.append(const("bias", randn(n)))
        nodes.append(helper.make_node("Add", ["r", "bias"], ["rb"], name="bias_add"))
        r = "rb"
    nodes.append(helper.make_node("Add", ["x", r], ["s"], name="residual"))
    ln_out = ["y", "mean", "inv"] if ln_stats else ["y"]
    nodes.append(helper.make_node("LayerNormalization", ["s", "gamma"] + (["beta"] if beta else []), ln_out,
                                  name="ln", axis=axis, epsilon=1e-5))
    outputs = [("y", F, None)] + ([("s", F, None)] if sum_output else []) + \
        ([("mean", F, None)] if ln_stats else [])
    return make_model(nodes, inputs, outputs, inits, opset=opset)


def feed(model: onnx.ModelProto) -> dict:
    return {i.name: randn(*[d.dim_value for d in i.type.tensor_type.shape.dim]) * 2 for i in model.graph.input
            if i.name not in {t.name for t in model.graph.initializer}}


@pytest.mark.parametrize("skip_shape", [None, (5, D), (1, 5, D)])
def test_residual_add_and_layer_norm_become_skip_layer_normalization(skip_shape):
    model = residual_ln(skip_shape=skip_shape)
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"com.microsoft.SkipLayerNormalization": 1})
    node = sess.get_graph().nodes[0]
    assert node.inputs[:2] == ["x", "r"] and node.outputs == ["y"] and node.attrs["epsilon"] == pytest.approx(1e-5)


def test_linear_bias_add_moves_into_the_skip_layer_normalization_bias():
    model = residual_ln(bias=True, beta=False)
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"com.microsoft.SkipLayerNormalization": 1})
    node = sess.get_graph().nodes[0]
    assert node.inputs[:2] == ["x", "r"] and node.inputs[3:] == ["", "bias"] or node.inputs[4] == "bias"
    assert node.name == "bias_add+residual+ln"


def test_residual_sum_read_elsewhere_becomes_the_fused_nodes_fourth_output():
    model = residual_ln(bias=True, sum_output=True)
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"com.microsoft.SkipLayerNormalization": 1})
    assert sess.get_graph().nodes[0].outputs == ["y", "", "", "s"]


def test_rank_2_residual_is_fused():
    model = residual_ln(x_shape=(6, D))
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"com.microsoft.SkipLayerNormalization": 1})


@pytest.mark.parametrize("why,kwargs", [
    ("rank 4", dict(x_shape=(2, 3, 4, D))),
    ("gamma not constant", dict(gamma_const=False)),
    ("more than the last axis", dict(x_shape=(2, 5, D), axis=1)),
    ("statistics outputs read", dict(ln_stats=True)),
    ("skip not broadcastable by the kernel", dict(skip_shape=(2, 1, D))),
])
def test_skip_layer_norm_fusion_does_not_fire_where_it_cannot(why, kwargs):
    model = residual_ln(**kwargs)
    sess = check(model, feed(model))
    assert "com.microsoft.SkipLayerNormalization" not in ops(sess), why
    assert ops(sess)["Add"] == 1 and ops(sess)["LayerNormalization"] == 1


def test_skip_layer_norm_fusion_is_off_at_basic_and_disable_all():
    model = residual_ln()
    for level in (LEVEL.ORT_ENABLE_BASIC, LEVEL.ORT_DISABLE_ALL):
        assert ops(session(model, level)) == Counter({"Add": 1, "LayerNormalization": 1})


def test_layer_norm_chain_with_a_residual_becomes_one_skip_layer_normalization_below_opset_17():
    chain = layer_norm_chain(13)
    graph = chain.graph
    graph.node.insert(0, helper.make_node("Add", ["a", "b"], ["x"], name="residual"))
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info(n, F, [2, 5, 16]) for n in ("a", "b")])
    model = make_model(list(graph.node), [("a", F, [2, 5, 16]), ("b", F, [2, 5, 16])], [("y", F, [2, 5, 16])],
                       list(graph.initializer), opset=13)
    sess = check(model, {"a": randn(2, 5, 16), "b": randn(2, 5, 16)})
    assert ops(sess) == Counter({"com.microsoft.SkipLayerNormalization": 1})


def test_residual_of_one_biased_value_added_to_itself_keeps_its_bias_add():
    nodes = [helper.make_node("Add", ["r", "bias"], ["rb"]), helper.make_node("Add", ["rb", "rb"], ["s"]),
             helper.make_node("LayerNormalization", ["s", "gamma"], ["y"], axis=-1)]
    model = make_model(nodes, [("r", F, [2, 5, D])], [("y", F, None)],
                       [const("bias", randn(D)), const("gamma", randn(D))])
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"Add": 1, "com.microsoft.SkipLayerNormalization": 1})


# --- LayerNorm chain: below opset 17 and unknown rank ------------------------------------------------

@pytest.mark.parametrize("opset", [11, 13])
def test_layer_norm_chain_below_opset_17_becomes_version_1_layer_normalization(opset):
    sess = check(layer_norm_chain(opset), x_feed((2, 5, 16)))
    assert ops(sess) == Counter({"LayerNormalization": 1})
    assert sess.get_graph().nodes[0].opset == opset


def test_layer_norm_chain_below_opset_17_stays_where_no_provider_claims_version_1():
    """The OpenCL provider has LayerNormalization 17 only: the chain stays on the device."""
    from ep_runtime import get_available_providers

    if "OpenCLExecutionProvider" not in get_available_providers():
        pytest.skip("OpenCL not available")
    sess = session(layer_norm_chain(13), providers=("opencl", "cpu"))
    assert "LayerNormalization" not in ops(sess)


def unknown_rank_chain(gamma_width: int = D, affine: bool = True) -> onnx.ModelProto:
    """The LayerNorm chain after a Reshape to a computed shape: the rank is unknown to shape inference."""
    model = layer_norm_chain(13, affine=affine)
    g = model.graph
    for n in g.node:
        n.input[:] = ["xr" if i == "x" else i for i in n.input]
    shape_nodes = [helper.make_node("Shape", ["x"], ["shp"]), helper.make_node("Reshape", ["x", "shp"], ["xr"])]
    inits = list(g.initializer)
    if affine and gamma_width != D:
        inits = [t for t in inits if t.name != "gamma"] + [const("gamma", np.ones(gamma_width, np.float32))]
    return make_model(shape_nodes + list(g.node), [("x", F, [2, 5, D])], [("y", F, None)], inits, opset=13)


def test_layer_norm_chain_of_unknown_rank_is_fused_when_gamma_gives_the_width():
    model = unknown_rank_chain()
    sess = check(model, x_feed((2, 5, D)))
    assert ops(sess)["LayerNormalization"] == 1 and "ReduceMean" not in ops(sess)


def test_layer_norm_chain_of_unknown_rank_without_gamma_is_left_alone():
    sess = check(unknown_rank_chain(affine=False), x_feed((2, 5, D)))
    assert "LayerNormalization" not in ops(sess) and ops(sess)["ReduceMean"] == 2


# --- bias Add + GELU ---------------------------------------------------------------------------------

def bias_gelu_model(bias_shape=(D,), opset=17, x_shape=(2, 5, D), gelu_output=False):
    """torch's Linear + GELU (erf) export: Add(x, bias), then 0.5 a (1 + erf(a / sqrt 2))."""
    nodes = [helper.make_node("Add", ["x", "bias"], ["a"], name="bias_add"),
             helper.make_node("Div", ["a", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["a", "e1"], ["m"]),
             helper.make_node("Mul", ["m", "half"], ["y"])]
    inits = [const("bias", randn(*bias_shape)), const("sqrt2", np.float32(np.sqrt(2.0))),
             const("one", np.float32(1.0)), const("half", np.float32(0.5))]
    outputs = [("y", F, None)] + ([("a", F, None)] if gelu_output else [])
    return make_model(nodes, [("x", F, list(x_shape))], outputs, inits, opset=opset)


@pytest.mark.parametrize("opset,bias_shape", [(17, (D,)), (20, (D,)), (17, (1, 1, D))])
def test_bias_add_and_gelu_become_bias_gelu(opset, bias_shape):
    model = bias_gelu_model(bias_shape, opset)
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"com.microsoft.BiasGelu": 1})
    node = sess.get_graph().nodes[0]
    assert node.inputs[0] == "x" and sess.get_graph().initializers[node.inputs[1]].shape == (D,)


@pytest.mark.parametrize("why,kwargs", [("bias is not per last axis", dict(bias_shape=(5, D))),
                                        ("bias sum read elsewhere", dict(gelu_output=True))])
def test_bias_gelu_fusion_does_not_fire_where_it_cannot(why, kwargs):
    model = bias_gelu_model(**kwargs)
    sess = check(model, feed(model))
    assert "com.microsoft.BiasGelu" not in ops(sess), why
    assert ops(sess)["Add"] == 1


# --- MatMul scaled by a constant scalar --------------------------------------------------------------

def scaled_matmul(where: str = "after", op: str = "Div", weight: bool = True, scale_shape=(), *,
                  extra_output: bool = False, opset: int = 17) -> onnx.ModelProto:
    inits = [const("s", np.full(scale_shape, 1.7, np.float32))]
    inputs = [("a", F, [2, 4, 8])]
    if weight:
        inits.append(const("w", randn(8, 6)))
    else:
        inputs.append(("w", F, [2, 8, 6]))
    if where == "after":
        nodes = [helper.make_node("MatMul", ["a", "w"], ["m"], name="mm"),
                 helper.make_node(op, ["m", "s"], ["y"], name="scale")]
    else:
        nodes = [helper.make_node(op, ["a", "s"], ["as"], name="scale"),
                 helper.make_node("MatMul", ["as", "w"], ["y"], name="mm")]
    outputs = [("y", F, None)] + ([("m" if where == "after" else "as", F, None)] if extra_output else [])
    return make_model(nodes, inputs, outputs, inits, opset=opset)


@pytest.mark.parametrize("where", ["after", "before"])
@pytest.mark.parametrize("op", ["Mul", "Div"])
def test_scalar_scaling_folds_into_a_constant_weight(where, op):
    model = scaled_matmul(where, op)
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"MatMul": 1})
    node = sess.get_graph().nodes[0]
    w = sess.get_graph().initializers[node.inputs[1]]
    factor = 1.7 if op == "Mul" else 1 / 1.7
    np.testing.assert_allclose(w, model_weight(model) * factor, rtol=1e-6)
    assert node.inputs[0] == "a" and node.outputs == ["y"]


def model_weight(model):
    return next(onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "w")


@pytest.mark.parametrize("where", ["after", "before"])
def test_scalar_scaling_of_two_variable_operands_becomes_fused_matmul(where):
    model = scaled_matmul(where, "Div", weight=False)
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"com.microsoft.FusedMatMul": 1})
    node = sess.get_graph().nodes[0]
    assert node.attrs["alpha"] == pytest.approx(1 / 1.7) and node.inputs == ["a", "w"] and node.outputs == ["y"]


@pytest.mark.parametrize("why,kwargs", [
    ("intermediate is a graph output", dict(extra_output=True)),
    ("scale is not a scalar", dict(scale_shape=(6,))),
    ("scale of higher rank than the product", dict(scale_shape=(1, 1, 1, 1))),
])
def test_scalar_scaling_is_left_alone_where_it_cannot_fold(why, kwargs):
    model = scaled_matmul(**kwargs)
    sess = check(model, feed(model))
    assert ops(sess)["Div"] == 1, why


def test_matmul_of_a_scaled_value_with_itself_is_left_alone():
    nodes = [helper.make_node("Mul", ["a", "s"], ["as"]), helper.make_node("MatMul", ["as", "as"], ["y"])]
    model = make_model(nodes, [("a", F, [3, 4, 4])], [("y", F, None)], [const("s", np.float32(1.7))])
    sess = check(model, feed(model))
    assert ops(sess) == Counter({"Mul": 1, "MatMul": 1})


def test_scaling_by_a_divisor_on_the_left_is_not_a_scalar_scaling():
    nodes = [helper.make_node("MatMul", ["a", "w"], ["m"]), helper.make_node("Div", ["s", "m"], ["y"])]
    model = make_model(nodes, [("a", F, [2, 4, 8])], [("y", F, None)],
                       [const("s", np.float32(1.7)), const("w", randn(8, 6))])
    sess = check(model, {"a": randn(2, 4, 8)})
    assert ops(sess) == Counter({"MatMul": 1, "Div": 1})


def test_scalar_scaling_fusion_keeps_results_at_every_level():
    model = scaled_matmul("after", "Mul", weight=False)
    x = feed(model)
    want = session(model, LEVEL.ORT_DISABLE_ALL).run(None, x)[0]
    for level in (LEVEL.ORT_ENABLE_BASIC, LEVEL.ORT_ENABLE_EXTENDED, LEVEL.ORT_ENABLE_ALL):
        np.testing.assert_allclose(session(model, level).run(None, x)[0], want, rtol=1e-5, atol=1e-6)
    assert ops(session(model, LEVEL.ORT_ENABLE_BASIC)) == Counter({"MatMul": 1, "Mul": 1})


def test_bench_transformer_keeps_its_results_with_the_new_fusions():
    from bench import zoo

    model = zoo.build("transformer", **zoo.SMALL_SIZES["transformer"])
    sess = check(model, zoo.example_feed(model), rtol=1e-4, atol=1e-4)
    counts = ops(sess)
    # per layer: two residual LayerNorms, one attention scale; the embedding sum + LayerNorm once
    assert counts["com.microsoft.SkipLayerNormalization"] == 5 and counts["com.microsoft.FusedMatMul"] == 2
    assert counts["com.microsoft.BiasGelu"] == 2
    assert "Div" not in counts and counts["Add"] == 2 * 3  # the Q/K/V biases stay
