"""Graph rewrites by optimization level (ep_runtime.rewrites): each fires on its pattern, keeps the
results of the unoptimized graph and of onnxruntime, keeps graph-output names, leaves chains whose
intermediates are read elsewhere alone, respects the providers' placement, and is off at DISABLE_ALL."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

import ep_runtime as ep
from tests.helpers.models import I64, F, const, make_model

LEVEL = ep.GraphOptimizationLevel
RNG = np.random.default_rng(11)


def session(model: onnx.ModelProto, level=LEVEL.ORT_ENABLE_ALL, providers=("cpu",)) -> ep.InferenceSession:
    so = ep.SessionOptions()
    so.graph_optimization_level = level
    return ep.InferenceSession(model.SerializeToString(), so, providers=list(providers))


def ops(sess: ep.InferenceSession) -> Counter:
    return Counter((f"{n.domain}." if n.domain else "") + n.op_type for n in sess.get_graph().nodes)


def check(model: onnx.ModelProto, feed: dict, *, rtol=1e-4, atol=1e-5, level=LEVEL.ORT_ENABLE_ALL,
          **kw) -> ep.InferenceSession:
    """Run at `level` and DISABLE_ALL and with onnxruntime; all must agree. Returns the `level` session."""
    on, off = session(model, level, **kw), session(model, LEVEL.ORT_DISABLE_ALL, **kw)
    got, plain = on.run(None, feed), off.run(None, feed)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)
    assert [o.name for o in on.get_outputs()] == [o.name for o in model.graph.output]
    for g, p, w in zip(got, plain, want):
        assert g.shape == p.shape == w.shape and g.dtype == p.dtype
        np.testing.assert_allclose(g, p, rtol=rtol, atol=atol)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return on


def x_feed(shape=(2, 3, 8, 8), scale=4.0) -> dict:
    return {"x": (RNG.standard_normal(shape) * scale).astype(np.float32)}


def scalar(name: str, v: float) -> onnx.TensorProto:
    return const(name, np.float32(v))


# --- SiLU ----------------------------------------------------------------------------------------

def silu_model(opset=13, extra_output=False):
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"], name="sig"),
             helper.make_node("Mul", ["s", "x"], ["y"], name="mul")]
    outputs = [("y", F, None)] + ([("s", F, None)] if extra_output else [])
    return make_model(nodes, [("x", F, [2, 3, 8, 8])], outputs, opset=opset)


def test_silu_becomes_one_quickgelu_before_opset_24_and_keeps_results():
    sess = check(silu_model(), x_feed())
    assert ops(sess) == Counter({"com.microsoft.QuickGelu": 1})
    node = sess.get_graph().nodes[0]
    assert node.attrs["alpha"] == 1.0 and node.outputs == ["y"] and node.name == "sig+mul"


def test_silu_becomes_swish_at_opset_24():
    sess = session(silu_model(opset=24))
    assert ops(sess) == Counter({"Swish": 1})
    x = x_feed()
    np.testing.assert_allclose(sess.run(None, x)[0], session(silu_model(opset=24), 0).run(None, x)[0], rtol=1e-5,
                               atol=1e-6)


def test_silu_whose_sigmoid_is_also_a_graph_output_is_not_fused():
    sess = check(silu_model(extra_output=True), x_feed())
    assert ops(sess) == Counter({"Sigmoid": 1, "Mul": 1})


def test_rewrites_are_off_at_disable_all_and_fusions_off_at_basic():
    assert ops(session(silu_model(), LEVEL.ORT_DISABLE_ALL)) == Counter({"Sigmoid": 1, "Mul": 1})
    assert ops(session(silu_model(), LEVEL.ORT_ENABLE_BASIC)) == Counter({"Sigmoid": 1, "Mul": 1})
    assert ops(session(silu_model(), LEVEL.ORT_ENABLE_EXTENDED)) == Counter({"com.microsoft.QuickGelu": 1})


def test_a_fusion_is_not_made_when_it_would_move_nodes_to_another_provider(sim_plugin):
    # the simulated device takes the Mul but not the Sigmoid: a QuickGelu only the CPU claims would
    # pull the Mul off the device, so the chain stays as it is
    sess = session(silu_model(), providers=("sim", "cpu"))
    assert ops(sess) == Counter({"Sigmoid": 1, "Mul": 1})
    part = sess.get_partition()
    assert {d.node.op_type: d.provider for d in part.decisions}["Mul"] == "SimDeviceExecutionProvider"


# --- HardSwish -----------------------------------------------------------------------------------

def hard_swish_chain(order: str, opset: int = 14):
    inits = [scalar("three", 3.0), scalar("zero", 0.0), scalar("six", 6.0), scalar("inv6", 1 / 6)]
    nodes = [helper.make_node("Add", ["x", "three"], ["a"], name="add"),
             helper.make_node("Clip", ["a", "zero", "six"], ["c"], name="clip")]
    if order == "x*clip/6":
        nodes += [helper.make_node("Mul", ["x", "c"], ["m"], name="mul"), helper.make_node("Div", ["m", "six"], ["y"])]
    else:  # x * (clip * 1/6)
        nodes += [helper.make_node("Mul", ["c", "inv6"], ["m"], name="mul"),
                  helper.make_node("Mul", ["m", "x"], ["y"], name="mul2")]
    return make_model(nodes, [("x", F, [2, 3, 8, 8])], [("y", F, None)], inits, opset=opset)


@pytest.mark.parametrize("order", ["x*clip/6", "x*(clip*1/6)"])
def test_hard_swish_chain_becomes_hard_swish_at_opset_14(order):
    sess = check(hard_swish_chain(order), x_feed())
    assert ops(sess) == Counter({"HardSwish": 1})


def test_hard_swish_chain_becomes_x_times_hard_sigmoid_before_opset_14():
    sess = check(hard_swish_chain("x*clip/6", opset=13), x_feed())
    assert ops(sess) == Counter({"HardSigmoid": 1, "Mul": 1})
    gate = sess.get_graph().nodes[0].outputs[0]
    assert sess.get_graph().value(gate).dtype == np.float32


def test_a_provider_that_claims_by_dtype_takes_the_rewritten_hard_sigmoid_before_opset_14():
    # the new HardSigmoid writes a value the edit creates: the placement check must see its type, or a
    # provider that refuses values of unknown dtype (embedded_c) never gets the rewrite
    pytest.importorskip("providers.embedded_c")
    from providers.embedded_c import EmbeddedCExecutionProvider

    if not EmbeddedCExecutionProvider.is_available():
        pytest.skip("no C compiler")
    sess = check(hard_swish_chain("x*clip/6", opset=13), x_feed(), providers=("embedded_c", "cpu"))
    assert ops(sess) == Counter({"HardSigmoid": 1, "Mul": 1})
    assert set(sess.get_partition().assignment().values()) == {"EmbeddedCExecutionProvider"}


def test_x_times_hard_sigmoid_of_one_sixth_becomes_hard_swish():
    nodes = [helper.make_node("HardSigmoid", ["x"], ["h"], alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["x", "h"], ["y"])]
    sess = check(make_model(nodes, [("x", F, [2, 3, 8, 8])], [("y", F, None)], opset=14), x_feed())
    assert ops(sess) == Counter({"HardSwish": 1})
    other = [helper.make_node("HardSigmoid", ["x"], ["h"]), helper.make_node("Mul", ["x", "h"], ["y"])]  # alpha 0.2
    assert ops(session(make_model(other, [("x", F, [4])], [("y", F, None)], opset=14))) == Counter(
        {"HardSigmoid": 1, "Mul": 1})


# --- GELU ----------------------------------------------------------------------------------------

def gelu_erf(opset: int, half_first: bool = False):
    inits = [scalar("sqrt2", math.sqrt(2)), scalar("one", 1.0), scalar("half", 0.5)]
    nodes = [helper.make_node("Div", ["x", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"], name="erf"),
             helper.make_node("Add", ["e", "one"], ["a"])]
    if half_first:  # (x * 0.5) * (1 + erf)
        nodes += [helper.make_node("Mul", ["x", "half"], ["h"]), helper.make_node("Mul", ["h", "a"], ["y"])]
    else:  # (x * (1 + erf)) * 0.5
        nodes += [helper.make_node("Mul", ["x", "a"], ["m"]), helper.make_node("Mul", ["m", "half"], ["y"])]
    return make_model(nodes, [("x", F, [2, 16])], [("y", F, None)], inits, opset=opset)


def gelu_tanh(opset: int, cube: str = "Pow"):
    inits = [scalar("c", 0.044715), scalar("k", math.sqrt(2 / math.pi)), scalar("one", 1.0), scalar("half", 0.5),
             scalar("three", 3.0)]
    if cube == "Pow":
        nodes = [helper.make_node("Pow", ["x", "three"], ["p"])]
    else:
        nodes = [helper.make_node("Mul", ["x", "x"], ["sq"]), helper.make_node("Mul", ["x", "sq"], ["p"])]
    nodes += [helper.make_node("Mul", ["p", "c"], ["pc"]), helper.make_node("Add", ["x", "pc"], ["u"]),
              helper.make_node("Mul", ["u", "k"], ["t"]), helper.make_node("Tanh", ["t"], ["th"], name="tanh"),
              helper.make_node("Add", ["th", "one"], ["a"]), helper.make_node("Mul", ["half", "x"], ["h"]),
              helper.make_node("Mul", ["h", "a"], ["y"])]
    return make_model(nodes, [("x", F, [2, 16])], [("y", F, None)], inits, opset=opset)


@pytest.mark.parametrize("half_first", [False, True])
def test_gelu_erf_form_becomes_contrib_gelu_before_opset_20(half_first):
    sess = check(gelu_erf(17, half_first), x_feed((2, 16)))
    assert ops(sess) == Counter({"com.microsoft.Gelu": 1})


def test_gelu_erf_form_becomes_standard_gelu_at_opset_20():
    sess = check(gelu_erf(20), x_feed((2, 16)))
    assert ops(sess) == Counter({"Gelu": 1})
    assert sess.get_graph().nodes[0].attrs.get("approximate", "none") == "none"


@pytest.mark.parametrize("cube", ["Pow", "Mul"])
def test_gelu_tanh_form_becomes_fast_gelu_before_opset_20(cube):
    sess = check(gelu_tanh(17, cube), x_feed((2, 16), scale=2.0))
    assert ops(sess) == Counter({"com.microsoft.FastGelu": 1})


def test_gelu_tanh_form_becomes_gelu_tanh_at_opset_20():
    sess = check(gelu_tanh(20), x_feed((2, 16), scale=2.0))
    assert ops(sess) == Counter({"Gelu": 1})
    assert sess.get_graph().nodes[0].attrs["approximate"] == "tanh"


def test_gelu_with_an_intermediate_read_elsewhere_is_not_fused():
    model = gelu_erf(17)
    model.graph.output.append(helper.make_tensor_value_info("e", F, None))
    sess = check(model, x_feed((2, 16)))
    assert "com.microsoft.Gelu" not in ops(sess) and ops(sess)["Erf"] == 1


# --- LayerNorm -----------------------------------------------------------------------------------

def layer_norm_chain(opset: int = 17, affine: bool = True, square: str = "Pow"):
    d = 16
    inits = [scalar("two", 2.0), scalar("eps", 1e-5)]
    if opset >= 18:
        inits.append(const("axes", np.asarray([-1], np.int64)))
        mean = lambda i, o: helper.make_node("ReduceMean", [i, "axes"], [o])  # noqa: E731
    else:
        mean = lambda i, o: helper.make_node("ReduceMean", [i], [o], axes=[-1])  # noqa: E731
    nodes = [mean("x", "mu"), helper.make_node("Sub", ["x", "mu"], ["dev"]),
             helper.make_node("Pow", ["dev", "two"], ["sq"]) if square == "Pow"
             else helper.make_node("Mul", ["dev", "dev"], ["sq"]),
             mean("sq", "var"), helper.make_node("Add", ["var", "eps"], ["ve"]),
             helper.make_node("Sqrt", ["ve"], ["std"]), helper.make_node("Div", ["dev", "std"], ["n"])]
    if affine:
        inits += [const("gamma", RNG.uniform(0.5, 1.5, d).astype(np.float32)),
                  const("beta", RNG.standard_normal(d).astype(np.float32))]
        nodes += [helper.make_node("Mul", ["n", "gamma"], ["g"]), helper.make_node("Add", ["g", "beta"], ["y"])]
    else:
        nodes[-1].output[0] = "y"
    return make_model(nodes, [("x", F, [2, 5, d])], [("y", F, [2, 5, d])], inits, opset=opset)


@pytest.mark.parametrize("opset,affine,square", [(17, True, "Pow"), (18, True, "Mul"), (17, False, "Pow")])
def test_layer_norm_chain_becomes_layer_normalization(opset, affine, square):
    sess = check(layer_norm_chain(opset, affine, square), x_feed((2, 5, 16)))
    assert ops(sess) == Counter({"LayerNormalization": 1})
    node = sess.get_graph().nodes[0]
    assert node.attrs["axis"] == -1 and node.attrs["epsilon"] == pytest.approx(1e-5)


# --- MatMul / Gemm -------------------------------------------------------------------------------

def test_matmul_add_on_2d_input_becomes_gemm():
    inits = [const("w", RNG.standard_normal((8, 6)).astype(np.float32)),
             const("b", RNG.standard_normal(6).astype(np.float32))]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    sess = check(make_model(nodes, [("x", F, [4, 8])], [("y", F, None)], inits), x_feed((4, 8)))
    assert ops(sess) == Counter({"Gemm": 1})


def test_matmul_add_on_3d_input_stays():
    inits = [const("w", RNG.standard_normal((8, 6)).astype(np.float32)),
             const("b", RNG.standard_normal(6).astype(np.float32))]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    sess = check(make_model(nodes, [("x", F, [2, 4, 8])], [("y", F, None)], inits), x_feed((2, 4, 8)))
    assert ops(sess) == Counter({"MatMul": 1, "Add": 1})


def test_gemm_with_a_transposed_constant_weight_gets_it_stored_transposed():
    w = RNG.standard_normal((6, 8)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1, alpha=0.5)]
    model = make_model(nodes, [("x", F, [4, 8])], [("y", F, None)], [const("w", w), const("b", np.ones(6, np.float32))])
    sess = check(model, x_feed((4, 8)))
    (node,) = sess.get_graph().nodes
    assert node.attrs["transB"] == 0
    stored = sess.get_graph().initializers[node.inputs[1]]
    assert stored.shape == (8, 6) and stored.flags.c_contiguous


def test_a_folded_transpose_of_a_matmul_weight_is_stored_contiguous():
    w = RNG.standard_normal((6, 8)).astype(np.float32)
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]), helper.make_node("MatMul", ["x", "wt"], ["y"])]
    sess = check(make_model(nodes, [("x", F, [4, 8])], [("y", F, [4, 6])], [const("w", w)]), x_feed((4, 8)))
    assert ops(sess) == Counter({"MatMul": 1})
    assert sess.get_graph().initializers["wt"].flags.c_contiguous
    basic = session(make_model(nodes, [("x", F, [4, 8])], [("y", F, [4, 6])], [const("w", w)]), LEVEL.ORT_ENABLE_BASIC)
    assert not basic.get_graph().initializers["wt"].flags.c_contiguous  # folded as a transposed view


# --- Focus ---------------------------------------------------------------------------------------

def focus_model(order, conv: bool, two_slices: bool = False):
    inits = [const("big", np.asarray([2**62, 2**62], np.int64)), const("steps", np.asarray([2, 2], np.int64)),
             const("axes", np.asarray([2, 3], np.int64)), const("s1", np.asarray([2], np.int64)),
             const("a2", np.asarray([2], np.int64)), const("a3", np.asarray([3], np.int64)),
             const("e1", np.asarray([2**62], np.int64))]
    nodes, parts = [], []
    for k, (dy, dx) in enumerate(order):
        inits.append(const(f"st{k}", np.asarray([dy, dx], np.int64)))
        if two_slices:
            inits += [const(f"sy{k}", np.asarray([dy], np.int64)), const(f"sx{k}", np.asarray([dx], np.int64))]
            nodes.append(helper.make_node("Slice", ["x", f"sy{k}", "e1", "a2", "s1"], [f"r{k}"]))
            nodes.append(helper.make_node("Slice", [f"r{k}", f"sx{k}", "e1", "a3", "s1"], [f"p{k}"]))
        else:
            nodes.append(helper.make_node("Slice", ["x", f"st{k}", "big", "axes", "steps"], [f"p{k}"]))
        parts.append(f"p{k}")
    nodes.append(helper.make_node("Concat", parts, ["cat" if conv else "y"], axis=1, name="focus"))
    if conv:
        inits += [const("w", RNG.standard_normal((5, 12, 3, 3)).astype(np.float32)),
                  const("b", RNG.standard_normal(5).astype(np.float32))]
        nodes.append(helper.make_node("Conv", ["cat", "w", "b"], ["y"], pads=[1, 1, 1, 1], name="conv"))
    return make_model(nodes, [("x", F, [1, 3, 8, 8])], [("y", F, None)], inits)


YOLO_ORDER = [(0, 0), (1, 0), (0, 1), (1, 1)]


@pytest.mark.parametrize("two_slices", [False, True])
def test_yolov5_focus_with_its_conv_becomes_space_to_depth_and_a_permuted_conv(two_slices):
    sess = check(focus_model(YOLO_ORDER, conv=True, two_slices=two_slices), x_feed((1, 3, 8, 8)))
    assert ops(sess) == Counter({"SpaceToDepth": 1, "Conv": 1})


def test_focus_without_a_conv_becomes_space_to_depth_and_a_channel_gather():
    sess = check(focus_model(YOLO_ORDER, conv=False), x_feed((1, 3, 8, 8)))
    assert ops(sess) == Counter({"SpaceToDepth": 1, "Gather": 1})
    # the new value is typed, so kernels that choose by dtype (the native overrides) take its readers
    s2d = sess.get_graph().nodes[0].outputs[0]
    assert sess.get_graph().value(s2d).dtype == np.float32 and sess.get_graph().value(s2d).shape == (1, 12, 4, 4)


def test_focus_in_space_to_depth_order_becomes_space_to_depth_alone():
    sess = check(focus_model([(0, 0), (0, 1), (1, 0), (1, 1)], conv=False), x_feed((1, 3, 8, 8)))
    assert ops(sess) == Counter({"SpaceToDepth": 1})


def test_a_concat_of_phases_that_repeats_one_is_left_alone():
    sess = check(focus_model([(0, 0), (1, 0), (0, 1), (0, 0)], conv=True), x_feed((1, 3, 8, 8)))
    assert ops(sess)["Slice"] == 4 and "SpaceToDepth" not in ops(sess)


# --- Conv + activation (the CPU provider's compile-time FusedConv) -------------------------------

ACTIVATIONS = {
    "Relu6": lambda: ([helper.make_node("Clip", ["c", "zero", "six"], ["y"])],
                      [scalar("zero", 0.0), scalar("six", 6.0)]),
    "ClipMinOnly": lambda: ([helper.make_node("Clip", ["c", "zero"], ["y"])], [scalar("zero", 0.0)]),
    "LeakyRelu": lambda: ([helper.make_node("LeakyRelu", ["c"], ["y"], alpha=0.2)], []),
    "Sigmoid": lambda: ([helper.make_node("Sigmoid", ["c"], ["y"])], []),
    "Tanh": lambda: ([helper.make_node("Tanh", ["c"], ["y"])], []),
    "HardSigmoid": lambda: ([helper.make_node("HardSigmoid", ["c"], ["y"], alpha=0.3, beta=0.4)], []),
    "HardSwish": lambda: ([helper.make_node("HardSwish", ["c"], ["y"])], []),
    "SiLU": lambda: ([helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", ["c", "s"], ["y"])], []),
    "XHardSigmoid": lambda: ([helper.make_node("HardSigmoid", ["c"], ["s"], alpha=1 / 6),
                              helper.make_node("Mul", ["s", "c"], ["y"])], []),
}


def conv_act_model(act: str, group: int, kernel: int = 3):
    w = RNG.standard_normal((6, 6 // group, kernel, kernel)).astype(np.float32)
    nodes, inits = ACTIVATIONS[act]()
    pad = kernel // 2
    conv = helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[pad] * 4, group=group, name="conv")
    inits += [const("w", w), const("b", RNG.standard_normal(6).astype(np.float32))]
    return make_model([conv] + nodes, [("x", F, [1, 6, 7, 9])], [("y", F, None)], inits)


@pytest.mark.parametrize("group,kernel", [(1, 3), (6, 3), (1, 1)])
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_conv_and_its_activation_compile_to_one_fused_conv(act, group, kernel):
    from providers.cpu.fusion import fuse_subgraph

    model = conv_act_model(act, group, kernel)
    sess = check(model, x_feed((1, 6, 7, 9), scale=2.0))
    (sg,) = sess.get_partition().subgraphs
    assert [n.op_type for n in fuse_subgraph(sg).nodes] == ["FusedConv"]


@pytest.mark.parametrize("act", ["SiLU", "XHardSigmoid"])
def test_conv_and_a_gated_activation_fuse_at_basic_level_without_the_graph_rewrite(act):
    from providers.cpu.fusion import fuse_subgraph

    model = conv_act_model(act, 1)
    sess = check(model, x_feed((1, 6, 7, 9), scale=2.0), level=LEVEL.ORT_ENABLE_BASIC)
    (sg,) = sess.get_partition().subgraphs
    assert [n.op_type for n in sg.nodes] == ["Conv", act.replace("X", "").replace("SiLU", "Sigmoid"), "Mul"]
    assert [n.op_type for n in fuse_subgraph(sg).nodes] == ["FusedConv"]


def test_conv_whose_output_is_also_read_elsewhere_keeps_its_activation_apart():
    from providers.cpu.fusion import fuse_subgraph

    model = conv_act_model("Sigmoid", 1)
    model.graph.output.append(helper.make_tensor_value_info("c", F, None))
    sess = check(model, x_feed((1, 6, 7, 9)))
    (sg,) = sess.get_partition().subgraphs
    assert [n.op_type for n in fuse_subgraph(sg).nodes] == ["Conv", "Sigmoid"]


# --- control flow and redundant nodes -------------------------------------------------------------

def if_model(cond: bool, cond_is_input: bool = False):
    then = helper.make_graph([helper.make_node("Add", ["x", "c"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", F, None)])
    other = helper.make_graph([helper.make_node("Mul", ["x", "c"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", F, None)])
    nodes = [helper.make_node("If", ["cond"], ["r"], then_branch=then, else_branch=other, name="if"),
             helper.make_node("Relu", ["r"], ["y"])]
    inputs = [("x", F, [3])] + ([("cond", onnx.TensorProto.BOOL, [])] if cond_is_input else [])
    inits = [const("cond", np.asarray(cond)), scalar("c", 2.0)]
    return make_model(nodes, inputs, [("y", F, [3])], inits)


@pytest.mark.parametrize("cond", [True, False])
def test_if_with_a_constant_condition_is_inlined(cond):
    sess = check(if_model(cond), {"x": np.asarray([-1.0, 0.5, 3.0], np.float32)})
    assert ops(sess) == Counter({"Add" if cond else "Mul": 1, "Relu": 1})


def test_if_whose_condition_is_also_a_graph_input_stays():
    # an initializer listed as a graph input is a default a run may override (onnxruntime's rule)
    sess = session(if_model(True, cond_is_input=True))
    assert ops(sess)["If"] == 1
    x = np.asarray([-1.0, 0.5, 3.0], np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], np.maximum(x + 2, 0))


def loop_model():
    """A Loop whose body multiplies the carried value by w * 2 + 1, computed from an outer initializer."""
    body = [helper.make_node("Mul", ["w", "two"], ["w2"]), helper.make_node("Add", ["w2", "one"], ["k"]),
            helper.make_node("Mul", ["v", "k"], ["v_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])]
    return loop_over_w(body, [const("one", np.float32(1.0))], trips=3, w=RNG.uniform(0.1, 0.5, 3))


def loop_over_w(body_nodes: list, body_inits: list, trips: int, w: np.ndarray) -> onnx.ModelProto:
    """y = Loop(n=trips, x) over a body (i, cond_in, v) -> (cond_out, v_out) that may read the outer
    initializers w [3] and two (2.0)."""
    body = helper.make_graph(body_nodes,
        "body",
        [helper.make_tensor_value_info("i", I64, []),
         helper.make_tensor_value_info("cond_in", onnx.TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", F, [3])],
        [helper.make_tensor_value_info("cond_out", onnx.TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", F, [3])],
        body_inits)
    nodes = [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body, name="loop")]
    inits = [const("n", np.asarray(trips, np.int64)), const("w", w.astype(np.float32)), scalar("two", 2.0)]
    return make_model(nodes, [("x", F, [3])], [("y", F, [3])], inits)


def body_ops(sess: ep.InferenceSession) -> Counter:
    (loop,) = [n for n in sess.get_graph().nodes if n.op_type == "Loop"]
    return Counter(n.op_type for n in loop.attrs["body"].node)


def test_loop_body_nodes_on_outer_constants_are_folded():
    sess = check(loop_model(), {"x": np.asarray([1.0, -2.0, 0.5], np.float32)})
    assert body_ops(sess) == Counter({"Mul": 1, "Identity": 1})
    assert body_ops(session(loop_model(), LEVEL.ORT_DISABLE_ALL)) == Counter({"Mul": 2, "Add": 1, "Identity": 1})


def test_a_folded_scalar_in_a_body_keeps_its_rank():
    then = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=helper.make_tensor("v", F, [], [3.0])),
         helper.make_node("Neg", ["c"], ["n"]), helper.make_node("Add", ["n", "x"], ["t"])],
        "then", [], [helper.make_tensor_value_info("t", F, [])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", F, [])])
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)]
    model = make_model(nodes, [("x", F, []), ("cond", onnx.TensorProto.BOOL, [])], [("y", F, [])])
    sess = check(model, {"x": np.asarray(1.5, np.float32), "cond": np.asarray(True)})
    (if_node,) = sess.get_graph().nodes
    assert [n.op_type for n in if_node.attrs["then_branch"].node] == ["Add"]


def test_nested_bodies_fold_and_a_constant_if_inside_a_body_is_inlined():
    inner = helper.make_graph([helper.make_node("Mul", ["w", "two"], ["k"]),
                               helper.make_node("Mul", ["v", "k"], ["r"])],
                              "inner_then", [], [helper.make_tensor_value_info("r", F, [3])])
    inner_else = helper.make_graph([helper.make_node("Neg", ["v"], ["q"])], "inner_else", [],
                                   [helper.make_tensor_value_info("q", F, [3])])
    body = [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("If", ["yes"], ["v_out"], then_branch=inner, else_branch=inner_else, name="inner_if")]
    model = loop_over_w(body, [const("yes", np.asarray(True))], trips=2, w=RNG.uniform(0.5, 1.0, 3))
    sess = check(model, {"x": np.asarray([1.0, -2.0, 0.5], np.float32)})
    assert body_ops(sess) == Counter({"Identity": 1, "Mul": 1})


def test_identity_and_dropout_are_removed_but_a_graph_output_identity_stays():
    nodes = [helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Dropout", ["i"], ["d"]),
             helper.make_node("Relu", ["d"], ["r"]), helper.make_node("Identity", ["r"], ["y"])]
    sess = check(make_model(nodes, [("x", F, [4])], [("y", F, [4])]), x_feed((4,)))
    assert ops(sess) == Counter({"Relu": 1, "Identity": 1})
    assert sess.get_graph().nodes[-1].outputs == ["y"]


# --- generated zoo models -------------------------------------------------------------------------

@pytest.mark.parametrize("name,fused", [("yolov5", {"com.microsoft.QuickGelu", "SpaceToDepth"}),
                                        ("transformer", {"com.microsoft.BiasGelu",
                                                         "com.microsoft.SkipLayerNormalization"})])
def test_zoo_models_fuse_and_keep_results(name, fused):
    from bench import zoo

    model = zoo.build(name)
    feed = zoo.example_feed(model)
    sess = check(model, feed, rtol=1e-3, atol=1e-4)
    assert fused <= set(ops(sess))
    assert sum(ops(sess).values()) < sum(ops(session(model, LEVEL.ORT_DISABLE_ALL)).values())


def test_the_c_export_sees_no_cpu_only_fused_op(tmp_path):
    # the embedded C export lowers standard ops itself: a SiLU it can lower must not reach it as QuickGelu
    from providers.embedded_c.export import export_model

    export_model(silu_model(), tmp_path)
    assert any(tmp_path.iterdir())
