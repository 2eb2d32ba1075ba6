"""Wide and long graphs: session creation scales near-linearly and the results stay right.

A wide graph is one input feeding many independent nodes (each its own graph output, or all
reduced by one Sum); a long one is a chain. Mixed-provider versions alternate nodes between the
simulated device (Relu, Add, Mul) and the CPU (Sigmoid, Sum), so the partitioner has to group,
merge and plan copies for thousands of nodes.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from tests.helpers.models import F, make_model

SIM = "SimDeviceExecutionProvider"
CPU = "CPUExecutionProvider"


def wide_model(n: int, *, reduce: bool = False, mixed: bool = True):
    """X feeds n parallel nodes; each is a graph output, or (reduce) all are summed into Y.

    With `mixed`, every third node is a Sigmoid (CPU only) and the others Relu/Add (device)."""
    nodes = []
    for k in range(n):
        if mixed and k % 3 == 2:
            nodes.append(helper.make_node("Sigmoid", ["X"], [f"y{k}"], name=f"n{k}"))
        elif k % 2:
            nodes.append(helper.make_node("Relu", ["X"], [f"y{k}"], name=f"n{k}"))
        else:
            nodes.append(helper.make_node("Add", ["X", "X"], [f"y{k}"], name=f"n{k}"))
    outputs = [(f"y{k}", F, [2, 3]) for k in range(n)]
    if reduce:
        nodes.append(helper.make_node("Sum", [f"y{k}" for k in range(n)], ["Y"], name="sum"))
        outputs = [("Y", F, [2, 3])]
    return make_model(nodes, [("X", F, [2, 3])], outputs)


def chain_model(n: int):
    """X -> Relu -> Sigmoid -> Relu -> ... (n nodes): device and CPU nodes alternate."""
    nodes, prev = [], "X"
    for k in range(n):
        nodes.append(helper.make_node("Relu" if k % 2 == 0 else "Sigmoid", [prev], [f"c{k}"], name=f"c{k}"))
        prev = f"c{k}"
    return make_model(nodes, [("X", F, [2, 3])], [(prev, F, [2, 3])])


def feed():
    return {"X": np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)}


def assert_same_as_cpu(model, providers):
    sess = ep.InferenceSession(model, providers=providers)
    got = sess.run(None, feed())
    want = ep.InferenceSession(model, providers=["cpu"]).run(None, feed())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    return sess


def test_wide_mixed_graph_makes_one_subgraph_per_provider_and_matches_cpu(sim_plugin):
    n = 5000
    sess = assert_same_as_cpu(wide_model(n), ["sim", "cpu"])
    part = sess.get_partition()
    assert sorted((s.provider, len(s.nodes)) for s in part.subgraphs) == sorted(
        [(SIM, n - n // 3), (CPU, n // 3)])
    # X goes to the device once; each device result comes back to the host once.
    copies = [(c.value, c.dst) for c in part.copies]
    assert len(copies) == len(set(copies))
    assert copies.count(("X", "sim")) == 1
    assert len(copies) == 1 + (n - n // 3)
    text = part.explain()
    assert "subgraphs: 2" in text and f"{SIM}={n - n // 3}" in text


def test_wide_graph_reduced_by_sum_on_another_provider_matches_cpu(sim_plugin):
    n = 5000
    sess = assert_same_as_cpu(wide_model(n, reduce=True, mixed=False), ["sim", "cpu"])
    groups = [(s.provider, len(s.nodes)) for s in sess.get_partition().subgraphs]
    assert groups == [(SIM, n), (CPU, 1)]


def test_long_alternating_chain_keeps_every_switch_and_matches_cpu(sim_plugin):
    n = 2000
    sess = assert_same_as_cpu(chain_model(n), ["sim", "cpu"])
    part = sess.get_partition()
    assert [s.provider for s in part.subgraphs] == [SIM, CPU] * (n // 2)
    sigmoid = next(d for d in part.decisions if d.node.name == "c3")
    assert sigmoid.subgraph == 3


def test_graph_with_thousands_of_inputs_on_mixed_providers_matches_cpu(sim_plugin):
    n = 3000
    nodes = [helper.make_node("Relu" if k % 2 else "Sigmoid", [f"x{k}"], [f"y{k}"], name=f"n{k}") for k in range(n)]
    model = make_model(nodes, [(f"x{k}", F, [2]) for k in range(n)], [(f"y{k}", F, [2]) for k in range(n)])
    rng = np.random.default_rng(1)
    inputs = {f"x{k}": rng.standard_normal(2).astype(np.float32) for k in range(n)}
    sess = ep.InferenceSession(model, providers=["sim", "cpu"])
    got = sess.run(None, inputs)
    want = ep.InferenceSession(model, providers=["cpu"]).run(None, inputs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    assert sorted(s.provider for s in sess.get_partition().subgraphs) == [CPU, SIM]


@pytest.mark.slow
@pytest.mark.parametrize("reduce", [False, True], ids=["outputs", "sum"])
def test_hundred_thousand_parallel_nodes_on_mixed_providers(sim_plugin, reduce):
    n = 100_000
    model = wide_model(n, reduce=reduce, mixed=not reduce)
    sess = assert_same_as_cpu(model, ["sim", "cpu"])
    assert len(sess.get_partition().subgraphs) == 2


@pytest.mark.slow
def test_hundred_thousand_node_chain(sim_plugin):
    sess = assert_same_as_cpu(chain_model(100_000), ["sim", "cpu"])
    assert len(sess.get_partition().subgraphs) == 100_000


def test_plans_with_the_same_code_each_name_their_own_failing_node():
    from ep_runtime.codegen import Step, compile_steps
    from ep_runtime.errors import KernelError

    def boom(x):
        raise ValueError("bad value")

    plans = [compile_steps([Step(fn, ["x"], ["y"], label=label)], ["x"], ["y"], provider=prov)
             for fn, label, prov in [(abs, "'a' (Abs)", "P1"), (boom, "'b' (Neg)", "P2"), (abs, "'c' (Abs)", "P3")]]
    assert plans[0].__code__.co_filename != plans[2].__code__.co_filename
    assert plans[0](-2) == (2,) and plans[2](-3) == (3,)
    with pytest.raises(KernelError, match=r"node 'b' \(Neg\) failed on P2: ValueError: bad value"):
        plans[1](1)


def test_a_step_using_one_of_several_outputs_gets_the_right_one():
    from ep_runtime.codegen import Step, compile_steps

    def three(x):
        return x, x + 1, x + 2

    calls = []

    def unused(x):
        calls.append(x)
        return x, x

    run = compile_steps([Step(three, ["x"], ["", "", "c"], multi_output=True, label="t"),
                         Step(three, ["c"], ["d", "", "f"], multi_output=True, label="u"),
                         Step(unused, ["f"], ["", ""], multi_output=True, label="v"),
                         Step(unused, ["f"], [], multi_output=True, label="w")], ["x"], ["c", "d", "f"])
    assert run(1) == (3, 3, 5)
    assert calls == [5, 5]


def test_a_subgraph_whose_results_nobody_reads_still_runs(sim_plugin):
    nodes = [helper.make_node("Sigmoid", ["X"], ["y"], name="used"),
             helper.make_node("Relu", ["X"], ["dead"], name="dead")]
    model = make_model(nodes, [("X", F, [2, 3])], [("y", F, [2, 3])])
    sess = ep.InferenceSession(model, providers=["sim", "cpu"])
    assert sorted((s.provider, len(s.outputs)) for s in sess.get_partition().subgraphs) == [(CPU, 1), (SIM, 0)]
    sim = next(p for p in sess._providers if p.name == SIM)
    (y,) = sess.run(None, feed())
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-feed()["X"])), rtol=1e-6)
    assert sim.to_device_calls == 1  # X went to the device: the dead subgraph ran
