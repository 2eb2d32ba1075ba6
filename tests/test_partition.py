"""The partitioner: priority order, refusals as data, cycle-free subgraphs, one copy per device boundary."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime.partition import assign
from tests.helpers.models import I64, F, const, make_model


def mixed_model():
    """Add, Relu, Mul, MatMul are simulated-device ops; Sigmoid, Tanh, Sub are CPU-only."""
    nodes = [
        helper.make_node("Add", ["x", "c"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Sigmoid", ["r"], ["s"], name="sigmoid"),
        helper.make_node("Tanh", ["r"], ["t"], name="tanh"),
        helper.make_node("Sub", ["s", "t"], ["u"], name="sub"),
        helper.make_node("Mul", ["u", "r"], ["m"], name="mul"),
        helper.make_node("MatMul", ["m", "w"], ["y"], name="matmul"),
    ]
    rng = np.random.default_rng(0)
    inits = [const("c", rng.standard_normal((1, 8)).astype(np.float32)),
             const("w", rng.standard_normal((8, 4)).astype(np.float32))]
    return make_model(nodes, [("x", F, ["N", 8])], [("y", F, ["N", 4])], inits)


def run_both(model, providers, feed):
    sess = ep.InferenceSession(model, providers=providers)
    ref = ep.InferenceSession(model, providers=["cpu"])
    return sess, sess.run(None, feed), ref.run(None, feed)


def provider_instance(sess, name):
    return next(p for p in sess._providers if p.name == name)


def test_nodes_go_to_the_first_provider_that_claims_them(sim_plugin):
    sess = ep.InferenceSession(mixed_model(), providers=["sim", "cpu"])
    where = sess.get_partition().assignment()
    assert where == {
        "add": "SimDeviceExecutionProvider", "relu": "SimDeviceExecutionProvider",
        "sigmoid": "CPUExecutionProvider", "tanh": "CPUExecutionProvider", "sub": "CPUExecutionProvider",
        "mul": "SimDeviceExecutionProvider", "matmul": "SimDeviceExecutionProvider",
    }
    assert sess.get_providers() == ["SimDeviceExecutionProvider", "CPUExecutionProvider"]


def test_results_equal_the_cpu_only_run(sim_plugin):
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    _, got, want = run_both(mixed_model(), ["sim", "cpu"], {"x": x})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)


def test_subgraphs_are_connected_and_cycle_free(sim_plugin):
    part = ep.InferenceSession(mixed_model(), providers=["sim", "cpu"]).get_partition()
    groups = [(s.provider, [n.name for n in s.nodes]) for s in part.subgraphs]
    assert groups == [
        ("SimDeviceExecutionProvider", ["add", "relu"]),
        ("CPUExecutionProvider", ["sigmoid", "tanh", "sub"]),
        ("SimDeviceExecutionProvider", ["mul", "matmul"]),
    ]
    mul = next(d for d in part.decisions if d.node.name == "mul")
    assert any("would create a cycle" in note for note in mul.notes)


def test_copies_happen_exactly_at_device_boundaries_once_per_value(sim_plugin):
    sess = ep.InferenceSession(mixed_model(), providers=["sim", "cpu"])
    planned = {(c.value, c.src, c.dst) for c in sess.get_partition().copies}
    # r crosses to the CPU once although Sigmoid and Tanh both read it; u comes back once.
    assert planned == {("x", "cpu", "sim"), ("r", "sim", "cpu"), ("u", "cpu", "sim"), ("y", "sim", "cpu")}
    sim = provider_instance(sess, "SimDeviceExecutionProvider")
    for runs in (1, 2):
        sim.to_device_calls = sim.to_host_calls = 0
        for _ in range(runs):
            sess.run(None, {"x": np.ones((2, 8), np.float32)})
        assert (sim.to_device_calls, sim.to_host_calls) == (2 * runs, 2 * runs)


def test_a_provider_listed_first_wins(sim_plugin):
    first = ep.InferenceSession(mixed_model(), providers=["othersim", "sim", "cpu"])
    assert first.get_partition().assignment()["add"] == "OtherSimExecutionProvider"
    assert "SimDeviceExecutionProvider" not in first.get_providers()
    second = ep.InferenceSession(mixed_model(), providers=["sim", "othersim", "cpu"])
    assert second.get_partition().assignment()["add"] == "SimDeviceExecutionProvider"


def test_every_refusal_is_explained_as_data(sim_plugin):
    part = ep.InferenceSession(mixed_model(), providers=["sim", "cpu"]).get_partition()
    data = part.to_dict()
    sigmoid = next(n for n in data["nodes"] if n["node"] == "sigmoid")
    assert sigmoid["provider"] == "CPUExecutionProvider"
    assert sigmoid["refusals"]["SimDeviceExecutionProvider"]["kind"] == "op"
    assert "Sigmoid" in sigmoid["refusals"]["SimDeviceExecutionProvider"]["reason"]
    text = part.explain()
    assert "sigmoid" in text and "no kernel for ai.onnx::Sigmoid" in text
    assert "device copies per run: 4" in text


def test_refusal_kinds_dtype_version_attribute(sim_plugin):
    nodes = [
        helper.make_node("Reshape", ["i", "shape"], ["ir"], name="int_reshape"),
        helper.make_node("Add", ["x", "x"], ["y"], name="add_v6"),
        helper.make_node("Relu", ["x"], ["z"], name="relu_with_attr", bogus=1),
    ]
    model = make_model(nodes, [("i", I64, [2, 3]), ("x", F, [2])],
                       [("ir", I64, None), ("y", F, None), ("z", F, None)],
                       [const("shape", np.array([3, 2], np.int64))], opset=6)
    decisions = assign(ep.Graph(model.graph, {"": 6}), [sim_plugin.SimDeviceProvider()])
    refusals = {d.node.name: d.refusals["SimDeviceExecutionProvider"] for d in decisions}
    assert refusals["int_reshape"].kind == "dtype"  # the simulated Reshape is float32-only
    assert refusals["add_v6"].kind == "version"  # Add-6; the simulated kernel starts at Add-7
    assert "version 6" in refusals["add_v6"].reason
    assert refusals["relu_with_attr"] == ep.Refusal("attribute", "attribute 'bogus' not supported")


def shape_chain_model():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Shape", ["r"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["d0"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["d0", "axes"], ["d0v"], name="unsqueeze"),
        helper.make_node("Concat", ["d0v", "minus1"], ["newshape"], name="concat", axis=0),
        helper.make_node("Reshape", ["r", "newshape"], ["flat"], name="reshape"),
        helper.make_node("Mul", ["flat", "flat"], ["y"], name="mul"),
    ]
    inits = [const("zero", np.array(0, np.int64)), const("axes", np.array([0], np.int64)),
             const("minus1", np.array([-1], np.int64))]
    return make_model(nodes, [("x", F, ["N", 2, 3])], [("y", F, ["N", 6])], inits)


def test_shape_computations_stay_on_the_cpu_without_ping_pong(sim_plugin):
    sess = ep.InferenceSession(shape_chain_model(), providers=["sim", "cpu"])
    part = sess.get_partition()
    where = part.assignment()
    assert {where[n] for n in ("shape", "gather", "unsqueeze", "concat")} == {"CPUExecutionProvider"}
    assert {where[n] for n in ("relu", "reshape", "mul")} == {"SimDeviceExecutionProvider"}
    gather = next(d for d in part.decisions if d.node.name == "gather")
    assert gather.refusals["SimDeviceExecutionProvider"].kind == "host"
    # Shape reads only r's shape: no copy of r; the new shape reaches Reshape as a host array.
    assert {(c.value, c.dst) for c in part.copies} == {("x", "sim"), ("y", "cpu")}
    sim = provider_instance(sess, "SimDeviceExecutionProvider")
    sim.to_device_calls = sim.to_host_calls = 0
    x = np.random.default_rng(2).standard_normal((4, 2, 3)).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, np.maximum(x, 0).reshape(4, 6) ** 2, rtol=1e-6)
    assert (sim.to_device_calls, sim.to_host_calls) == (1, 1)


def test_strict_mode_lists_every_node_that_would_fall_back(sim_plugin):
    opts = ep.SessionOptions()
    opts.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    with pytest.raises(ep.NotImplementedByAnyProvider) as err:
        ep.InferenceSession(mixed_model(), opts, providers=["sim"])
    msg = str(err.value)
    assert "CPU fallback is disabled" in msg
    for name in ("sigmoid", "tanh", "sub"):
        assert repr(name) in msg
    assert "'add'" not in msg


def test_strict_mode_runs_when_the_device_takes_everything(sim_plugin):
    nodes = [helper.make_node("Add", ["x", "x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    model = make_model(nodes, [("x", F, [2])], [("y", F, [2])])
    opts = ep.SessionOptions()
    opts.disable_cpu_ep_fallback = True
    sess = ep.InferenceSession(model, opts, providers=["sim"])
    assert sess.get_providers() == ["SimDeviceExecutionProvider"]
    np.testing.assert_array_equal(sess.run(None, {"x": np.array([-1, 2], np.float32)})[0], [0, 4])


def test_every_subgraph_gets_only_unclaimed_nodes(sim_plugin):
    seen: list[list[str]] = []

    class Recording(sim_plugin.OtherSimProvider):
        def get_capability(self, graph, nodes):
            seen.append([n.name for n in nodes])
            return super().get_capability(graph, nodes)

    graph = ep.InferenceSession(mixed_model(), providers=["cpu"]).get_graph()
    assign(graph, [sim_plugin.SimDeviceProvider(), Recording()])
    assert seen == [["sigmoid", "tanh", "sub"]]


def random_dag_graph(rng, n_nodes: int) -> ep.Graph:
    values = ["x0", "x1"]
    nodes = []
    for k in range(n_nodes):
        a, b = rng.choice(len(values), size=2)
        nodes.append(helper.make_node("Add", [values[a], values[b]], [f"v{k}"], name=f"n{k}"))
        values.append(f"v{k}")
    outs = [v for v in values[2:] if not any(v in n.input for n in nodes)]
    model = make_model(nodes, [("x0", F, [1]), ("x1", F, [1])], [(o, F, [1]) for o in outs])
    return ep.Graph(model.graph, {"": 17})


@pytest.mark.parametrize("seed", range(25))
def test_grouping_never_creates_a_cycle_between_subgraphs(seed):
    from ep_runtime.partition import NodeDecision, group

    rng = np.random.default_rng(seed)
    graph = random_dag_graph(rng, 60)
    n_providers = 1 + seed % 3
    decisions = [NodeDecision(n, provider=f"p{rng.integers(n_providers)}") for n in graph.nodes]
    groups = group(graph, decisions)  # raises if the subgraphs form a cycle
    assert sorted(n.index for g in groups for n in g) == list(range(len(graph.nodes)))
    assert all(len({decisions[n.index].provider for n in g}) == 1 for g in groups)
    position = {n.index: k for k, g in enumerate(groups) for n in g}
    for node in graph.nodes:  # groups come in an order that runs every producer first
        for v in node.inputs:
            if v in graph.producer:
                assert position[graph.producer[v].index] <= position[node.index]
    if n_providers == 1:
        assert len(groups) == 1


def local_random_dag_graph(rng, n_nodes: int, window: int) -> ep.Graph:
    """A random DAG whose nodes read values made at most `window` values earlier (wide and long)."""
    values = ["x0", "x1"]
    nodes = []
    for k in range(n_nodes):
        a, b = rng.integers(max(0, len(values) - window), len(values), size=2)
        nodes.append(helper.make_node("Add", [values[a], values[b]], [f"v{k}"], name=f"n{k}"))
        values.append(f"v{k}")
    read = {i for n in nodes for i in n.input}
    outs = [v for v in values[2:] if v not in read]
    model = make_model(nodes, [("x0", F, [1]), ("x1", F, [1])], [(o, F, [1]) for o in outs])
    return ep.Graph(model.graph, {"": 17})


def mergeable_pair(graph: ep.Graph, groups, provider_of) -> tuple[int, int] | None:
    """Two same-provider groups that could merge without a cycle (brute force), or None."""
    gid = {n.index: g for g, members in enumerate(groups) for n in members}
    succ = [set() for _ in groups]
    for node in graph.nodes:
        for v in node.inputs:
            if v in graph.producer and gid[graph.producer[v].index] != gid[node.index]:
                succ[gid[graph.producer[v].index]].add(gid[node.index])
    reach = []
    for g in range(len(groups)):
        seen, stack = set(), list(succ[g])
        while stack:
            h = stack.pop()
            if h not in seen:
                seen.add(h)
                stack.extend(succ[h])
        reach.append(seen)

    def through_another(a, b):
        return any(b in reach[m] for m in succ[a] if m != b)

    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            if provider_of(groups[a]) == provider_of(groups[b]) and not (
                    through_another(a, b) or through_another(b, a)):
                return a, b
    return None


@pytest.mark.parametrize("seed", range(30))
def test_grouping_of_large_random_mixed_dags_is_valid_and_maximal(seed):
    from ep_runtime.partition import NodeDecision, group

    rng = np.random.default_rng(1000 + seed)
    graph = local_random_dag_graph(rng, 400, window=int(rng.choice([4, 30, 400])))
    n_providers = 2 + seed % 3
    wanted = [f"p{rng.integers(n_providers)}" for _ in graph.nodes]
    decisions = [NodeDecision(n, provider=p) for n, p in zip(graph.nodes, wanted)]
    groups = group(graph, decisions)
    assert [d.provider for d in decisions] == wanted  # grouping never moves a node to another provider
    assert sorted(n.index for g in groups for n in g) == list(range(len(graph.nodes)))
    assert all(len({wanted[n.index] for n in g}) == 1 for g in groups)
    position = {n.index: k for k, g in enumerate(groups) for n in g}
    for node in graph.nodes:  # the group order runs every producer first: the group graph is acyclic
        for v in node.inputs:
            if v in graph.producer:
                producer = graph.producer[v].index
                assert position[producer] <= position[node.index]
                if wanted[producer] == wanted[node.index] and position[producer] != position[node.index]:
                    assert any("would create a cycle" in note for note in decisions[node.index].notes)
    assert mergeable_pair(graph, groups, lambda g: wanted[g[0].index]) is None
