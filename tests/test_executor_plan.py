"""The flat plan: values freed after their last use, errors mapped to the failing step."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from ep_runtime.codegen import Const, Step, compile_steps
from ep_runtime.errors import KernelError


class Box:
    """An object we can hold a weak reference to."""

    def __init__(self, v):
        self.v = v


def test_each_intermediate_is_freed_after_its_last_use():
    refs: dict[str, weakref.ref] = {}
    alive_at: dict[str, list[str]] = {}

    def make(name):
        def fn(*args):
            gc.collect()
            alive_at[name] = sorted(k for k, r in refs.items() if r() is not None)
            out = Box(sum(a.v for a in args) + 1)
            refs[name] = weakref.ref(out)
            return out
        return fn

    steps = [
        Step(make("a"), ["x"], ["a"], label="a"),
        Step(make("b"), ["a"], ["b"], label="b"),
        Step(make("c"), ["a", "b"], ["c"], label="c"),   # last use of a and b
        Step(make("d"), ["c"], ["d"], label="d"),        # last use of c
        Step(make("e"), ["d"], ["e"], label="e"),
    ]
    run = compile_steps(steps, ["x"], ["e"])
    (out,) = run(Box(0))
    assert out.v == 6  # a=1, b=2, c=a+b+1=4, d=5, e=6
    assert alive_at["c"] == ["a", "b"]
    assert alive_at["d"] == ["c"]
    assert alive_at["e"] == ["d"]


def test_unused_outputs_are_dropped_at_once():
    refs = []

    def two():
        a, b = Box(1), Box(2)
        refs.append(weakref.ref(b))
        return a, b

    def check(a):
        gc.collect()
        assert refs[0]() is None
        return a

    run = compile_steps([Step(two, [], ["a", "unused"], multi_output=True, label="two"),
                         Step(check, ["a"], ["y"], label="check")], [], ["y"])
    assert run()[0].v == 1


def test_a_failing_step_is_named_in_the_error():
    def boom(x, y):
        raise ValueError("shapes (2,3) and (4,5) not aligned")

    steps = [Step(np.negative, ["x"], ["a"], label="'neg' (Neg)"),
             Step(boom, ["a", Const(1)], ["b"], label="'mm' (MatMul)")]
    run = compile_steps(steps, ["x"], ["b"], provider="TestProvider")
    with pytest.raises(KernelError, match=r"node 'mm' \(MatMul\) failed on TestProvider: ValueError: shapes"):
        run(np.ones(3))


def test_constants_and_passthrough_inputs():
    run = compile_steps([Step(np.add, ["x", Const(np.float32(2))], ["y"], label="add")], ["x"], ["y", "x"])
    y, x = run(np.ones(2, np.float32))
    np.testing.assert_array_equal(y, [3, 3])
    np.testing.assert_array_equal(x, [1, 1])


def test_profiling_waits_for_the_device_before_timing_each_step():
    calls = []

    class Recorder:
        def record(self, label, seconds):
            calls.append(("record", label))

    steps = [Step(np.negative, ["x"], ["a"], label="neg"), Step(np.abs, ["a"], ["b"], label="abs")]
    run = compile_steps(steps, ["x"], ["b"], profiler=Recorder(), synchronize=lambda: calls.append(("sync",)))
    run(np.ones(2))
    assert calls == [("sync",), ("record", "neg"), ("sync",), ("record", "abs")]


def test_device_tensors_leave_out_host_and_shape_only_inputs():
    from onnx import helper

    from ep_runtime.graph import Graph
    from ep_runtime.provider import device_tensors
    from tests.helpers.models import I64, F, make_model

    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"])]
    graph = Graph(make_model(nodes, [("x", F, [2, 3])], [("y", F, [2, 3]), ("s", I64, [2])]).graph, {"": 17})
    assert [device_tensors(n) for n in graph.nodes] == [["s"], ["x", "y"]]
