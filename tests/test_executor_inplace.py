"""In-place unary kernels: a step overwrites its input 0 only when nothing but the plan can see it."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import KernelRegistry, hookimpl
from ep_runtime.codegen import Const, Step, compile_steps
from ep_runtime.graph import Graph
from providers.cpu import REGISTRY
from tests.helpers.models import F, const, make_model
from tests.helpers.plugins import registered_plugin


def _fresh(x):
    return x + 0  # a new array the plan owns


def _counting(calls):
    def inplace(x):
        calls.append(x)
        return np.tanh(x, out=x)
    return inplace


def _plan(steps, inputs=("x",), outputs=("y",)):
    return compile_steps(steps, list(inputs), list(outputs))


def test_step_overwrites_a_plan_made_value_read_last_by_it():
    calls = []
    seen = {}

    def made(x):
        seen["t"] = x + 0
        return seen["t"]

    fn = _plan([Step(made, ["x"], ["t"]), Step(np.tanh, ["t"], ["y"], inplace=_counting(calls))])
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    # the test's own reference in `seen` makes it unsafe: the normal kernel runs
    (y,) = fn(x)
    assert calls == [] and y is not seen["t"]
    # without a reference held elsewhere the in-place variant runs on the very buffer
    fn2 = _plan([Step(_fresh, ["x"], ["t"]), Step(np.tanh, ["t"], ["y"], inplace=_counting(calls))])
    (y2,) = fn2(x)
    assert len(calls) == 1 and calls[0] is y2
    np.testing.assert_array_equal(y2, np.tanh(x))


@pytest.mark.parametrize("case", ["plan input", "constant", "plan output", "read later", "read twice"])
def test_step_never_overwrites_a_value_others_can_see(case):
    calls = []
    x = np.linspace(-3, 3, 64, dtype=np.float32)
    before = x.copy()
    tanh = dict(inplace=_counting(calls))
    if case == "plan input":
        steps, outs = [Step(np.tanh, ["x"], ["y"], **tanh)], ["y"]
    elif case == "constant":
        c = x.copy()
        steps, outs = [Step(np.tanh, [Const(c)], ["y"], **tanh)], ["y"]
    elif case == "plan output":
        steps, outs = [Step(_fresh, ["x"], ["t"]), Step(np.tanh, ["t"], ["y"], **tanh)], ["y", "t"]
    elif case == "read later":
        steps = [Step(_fresh, ["x"], ["t"]), Step(np.tanh, ["t"], ["u"], **tanh), Step(np.add, ["t", "u"], ["y"])]
        outs = ["y"]
    else:
        steps, outs = [Step(_fresh, ["x"], ["t"]), Step(lambda a, b: np.tanh(a) + b, ["t", "t"], ["y"],
                                                         inplace=lambda a, b: calls.append(a))], ["y"]
    res = _plan(steps, outputs=outs)(x)
    assert calls == []
    np.testing.assert_array_equal(x, before)
    if case == "constant":
        np.testing.assert_array_equal(c, before)
    if case == "plan output":
        np.testing.assert_array_equal(res[1], x)
    if case == "read later":
        np.testing.assert_array_equal(res[0], x + np.tanh(x))


@pytest.mark.parametrize("holder", ["view", "caller", "view of live value"])
def test_step_falls_back_when_the_array_is_shared_at_run_time(holder):
    calls = []
    kept = []
    x = np.linspace(-3, 3, 64, dtype=np.float32)

    if holder == "view":  # a later-read view of t keeps t alive through its base
        steps = [Step(_fresh, ["x"], ["t"]), Step(lambda t: t[:], ["t"], ["v"]),
                 Step(np.tanh, ["t"], ["u"], inplace=_counting(calls)), Step(np.add, ["u", "v"], ["y"])]
    elif holder == "caller":  # a kernel that kept a reference (a cache, a caller)
        def keep(a):
            kept.append(a + 0)
            return kept[-1]
        steps = [Step(keep, ["x"], ["t"]), Step(np.tanh, ["t"], ["y"], inplace=_counting(calls))]
    else:  # Reshape-like output: a view whose base is still a live value
        steps = [Step(_fresh, ["x"], ["t"]), Step(lambda t: t.reshape(8, 8), ["t"], ["r"]),
                 Step(np.tanh, ["r"], ["u"], inplace=_counting(calls)), Step(lambda u, t: u.ravel() + t, ["u", "t"],
                                                                           ["y"])]
    (y,) = _plan(steps)(x)
    assert calls == []
    if holder == "caller":
        np.testing.assert_array_equal(kept[0], x)
    else:
        np.testing.assert_array_equal(y, np.tanh(x) + x)


def _unary_model(op, attrs=None, domain="", extra_inputs=(), expose_input=False):
    """x * 2 -> op -> y; with `expose_input` the op's input t is a graph output too (never in place)."""
    nodes = [helper.make_node("Mul", ["x", "two"], ["t"], name="scale"),
             helper.make_node(op, ["t", *extra_inputs], ["y"], name="act", domain=domain, **(attrs or {}))]
    inits = [const("two", np.float32(2.0))]
    inits += [const(n, np.float32(v)) for n, v in zip(extra_inputs, (-1.5, 2.5))]
    outputs = [helper.make_tensor_value_info("y", F, [3, 257])]
    if expose_input:
        outputs.append(helper.make_tensor_value_info("t", F, [3, 257]))
    graph = helper.make_graph(nodes, "inplace", [helper.make_tensor_value_info("x", F, [3, 257])], outputs, inits)
    opsets = [helper.make_opsetid("", 20)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets)


ACTIVATIONS = [
    ("Tanh", {}, ""), ("Exp", {}, ""), ("Abs", {}, ""), ("Neg", {}, ""), ("Relu", {}, ""), ("Sigmoid", {}, ""),
    ("LeakyRelu", {"alpha": 0.2}, ""), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, ""), ("HardSwish", {}, ""),
    ("Gelu", {}, ""), ("Gelu", {"approximate": "tanh"}, ""), ("QuickGelu", {"alpha": 1.5}, "com.microsoft"),
    ("FastGelu", {}, "com.microsoft"), ("Gelu", {}, "com.microsoft"),
]


@pytest.mark.parametrize("op,attrs,domain", ACTIVATIONS)
def test_in_place_activation_matches_the_out_of_place_kernel_bit_for_bit(op, attrs, domain):
    model = _unary_model(op, attrs, domain)
    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 20, domain: 1} if domain else {"": 20})
    kdef = REGISTRY.select(graph.nodes[1], graph)
    assert kdef.inplace is not None, f"{op} has no in-place variant"
    x = np.random.default_rng(0).standard_normal((3, 257)).astype(np.float32) * 3
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    (got,) = ep.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, {"x": x})
    exposed = _unary_model(op, attrs, domain, expose_input=True)
    want, t = ep.InferenceSession(exposed.SerializeToString(), providers=["cpu"]).run(None, {"x": x})
    np.testing.assert_array_equal(t, x * np.float32(2))  # the exposed input was left alone
    np.testing.assert_array_equal(got, want)
    # the variant itself overwrites its input with the out-of-place kernel's result
    t2 = x * np.float32(2)
    assert kdef.inplace(t2, **attrs) is t2
    np.testing.assert_array_equal(t2, kdef.fn(x * np.float32(2), **attrs))


def test_clip_runs_in_place_with_constant_bounds():
    model = _unary_model("Clip", extra_inputs=("lo", "hi"))
    x = np.random.default_rng(1).standard_normal((3, 257)).astype(np.float32) * 3
    (got,) = ep.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, {"x": x})
    np.testing.assert_array_equal(got, np.clip(x * np.float32(2), np.float32(-1.5), np.float32(2.5)))


def test_in_place_plan_still_profiles_and_leaves_inputs_alone(tmp_path):
    opts = ep.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp_path / "p")
    model = make_model([helper.make_node("Tanh", ["x"], ["t"], name="t1"),
                        helper.make_node("Sigmoid", ["t"], ["y"], name="s1")],
                       [("x", F, [4, 100])], [("y", F, [4, 100])])
    sess = ep.InferenceSession(model.SerializeToString(), opts, providers=["cpu"])
    x = np.random.default_rng(2).standard_normal((4, 100)).astype(np.float32)
    before = x.copy()
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_array_equal(x, before)  # Tanh reads a graph input: never in place
    np.testing.assert_array_equal(y, REGISTRY.versions("Sigmoid", "")[-1].fn(np.tanh(before)))
    assert sess.end_profiling()


class _CountingTanh:
    """A plugin whose CPU Tanh records each array its in-place variant overwrites."""

    def __init__(self):
        self.overwritten = []
        self.kernels = KernelRegistry()

        def inplace(x):
            self.overwritten.append(x)
            return np.tanh(x, out=x)

        self.kernels.kernel("Tanh", 6, inplace=inplace)(lambda x: np.tanh(x))

    @hookimpl
    def ep_runtime_kernels(self, provider_name):
        return self.kernels if provider_name == "CPUExecutionProvider" else None


def _session_case(case):
    """(model, expected y for x) where Tanh's input is of the given kind."""
    shape = [4, 6]
    nodes = [helper.make_node("Mul", ["x", "two"], ["t"], name="scale")]
    inits = [const("two", np.float32(2.0)), const("w", np.full(shape, 0.5, np.float32)),
             const("s", np.array([2, 12], np.int64))]
    outs = [("y", F, shape)]
    y_of = {
        "made": lambda x: np.tanh(2 * x),
        "graph input": lambda x: np.tanh(x),
        "initializer": lambda x: np.tanh(np.float32(0.5)) + 2 * x,
        "graph output": lambda x: np.tanh(2 * x),
        "read later": lambda x: np.tanh(2 * x) + 2 * x,
        "reshape view": lambda x: np.tanh(2 * x) + 2 * x,
        "slice view": lambda x: np.concatenate([np.tanh(2 * x[:2]), 2 * x[2:]]) + 2 * x,
    }
    tanh_in, tail = "t", []
    if case == "graph input":
        tanh_in = "x"
    elif case == "initializer":
        tanh_in, tail = "w", [helper.make_node("Add", ["u", "t"], ["y"], name="add")]
    elif case == "graph output":
        outs.append(("t", F, shape))
    elif case == "read later":
        tail = [helper.make_node("Add", ["u", "t"], ["y"], name="add")]
    elif case == "reshape view":
        nodes.append(helper.make_node("Reshape", ["t", "s"], ["r"], name="reshape"))
        tanh_in = "r"
        tail = [helper.make_node("Reshape", ["u", "shape"], ["u2"], name="back"),
                helper.make_node("Add", ["u2", "t"], ["y"], name="add")]
        inits.append(const("shape", np.array(shape, np.int64)))
    elif case == "slice view":
        nodes.append(helper.make_node("Slice", ["t", "b", "e"], ["r"], name="slice"))
        inits += [const("b", np.array([0], np.int64)), const("e", np.array([2], np.int64))]
        tanh_in = "r"
        tail = [helper.make_node("Slice", ["t", "e", "end"], ["rest"], name="rest"),
                helper.make_node("Concat", ["u", "rest"], ["c"], name="cat", axis=0),
                helper.make_node("Add", ["c", "t"], ["y"], name="add")]
        inits.append(const("end", np.array([4], np.int64)))
    out_name = "u" if tail else "y"
    nodes.append(helper.make_node("Tanh", [tanh_in], [out_name], name="tanh"))
    return make_model(nodes + tail, [("x", F, shape)], outs, inits), y_of[case]


@pytest.mark.parametrize("profiled", [False, True])
@pytest.mark.parametrize("case", ["made", "graph input", "initializer", "graph output", "read later",
                                  "reshape view", "slice view"])
def test_session_runs_tanh_in_place_only_on_a_value_no_one_else_sees(case, profiled, tmp_path):
    plugin = _CountingTanh()
    model, y_of = _session_case(case)
    opts = ep.SessionOptions()
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_DISABLE_ALL
    if profiled:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(tmp_path / "p")
    x = np.arange(24, dtype=np.float32).reshape(4, 6) / 10
    before = x.copy()
    with registered_plugin(plugin, "test-inplace-tanh"):
        sess = ep.InferenceSession(model.SerializeToString(), opts, providers=["cpu"])
        res = sess.run(None, {"x": x})
    np.testing.assert_allclose(res[0], y_of(before), rtol=1e-6)
    np.testing.assert_array_equal(x, before)
    if case == "graph output":
        np.testing.assert_array_equal(res[1], 2 * before)
    assert len(plugin.overwritten) == (1 if case == "made" else 0)
    if case == "made":
        assert plugin.overwritten[0] is res[0]
    if profiled:
        assert [e["name"] for e in _events(sess.end_profiling()) if e.get("args", {}).get("op_name") == "Tanh"] == [
            "'tanh' (Tanh)"]


def _events(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
