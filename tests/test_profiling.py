"""Profiling: events name their provider, copies are events, body-graph nodes nest under their node, and
`ep-runtime run --profile` prints per-provider and per-op tables."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime.cli import main
from ep_runtime.profiling import summary
from tests.helpers.models import F, const, make_model


def _events(sess):
    path = sess.end_profiling()
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _profiled():
    opts = ep.SessionOptions()
    opts.enable_profiling = True
    return opts


def device_model():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Softmax", ["h"], ["s"], name="sm"),
             helper.make_node("Relu", ["s"], ["y"], name="relu")]
    return make_model(nodes, [("x", F, [2, 4])], [("y", F, [2, 3])], [const("w", np.ones((4, 3), np.float32))])


def loop_model():
    body = helper.make_graph(
        [helper.make_node("Add", ["x_in", "one"], ["x_out"], name="Add_3"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going")],
        "loop_body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", F, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", F, [2])],
        [onnx.numpy_helper.from_array(np.ones(2, np.float32), "one")])
    nodes = [helper.make_node("Loop", ["M", "", "x"], ["l"], name="Loop_0", body=body),
             helper.make_node("Relu", ["l"], ["y"], name="relu")]
    return make_model(nodes, [("x", F, [2])], [("y", F, [2])], [const("M", np.array(3, np.int64))])


def test_every_event_names_its_provider_and_copies_are_events(tmp_path, monkeypatch, sim_plugin):
    monkeypatch.chdir(tmp_path)
    sess = ep.InferenceSession(device_model(), _profiled(), providers=["sim", "cpu"])
    sess.run(None, {"x": np.ones((2, 4), np.float32)})
    events = _events(sess)
    nodes = {e["args"]["node"]: e["args"] for e in events if e["cat"] == "Node"}
    assert nodes["'mm' (MatMul)"]["provider"] == "SimDeviceExecutionProvider"
    assert nodes["'sm' (Softmax)"]["provider"] == "CPUExecutionProvider"
    assert nodes["'relu' (Relu)"]["provider"] == "SimDeviceExecutionProvider"
    assert nodes["'mm' (MatMul)"]["op_name"] == "MatMul"
    assert all("provider" in e["args"] for e in events)
    copies = sorted((e["args"]["value"], e["args"]["from"], e["args"]["to"], e["args"]["bytes"], e["args"]["provider"])
                    for e in events if e["cat"] == "Copy")
    assert copies == [("h", "sim", "cpu", 24, "SimDeviceExecutionProvider"),
                      ("s", "cpu", "sim", 24, "SimDeviceExecutionProvider"),
                      ("x", "cpu", "sim", 32, "SimDeviceExecutionProvider"),
                      ("y", "sim", "cpu", 24, "SimDeviceExecutionProvider")]
    assert len(copies) == len(sess.get_partition().copies)
    subgraphs = [(e["args"]["subgraph"], e["args"]["provider"]) for e in events if e["cat"] == "Subgraph"]
    assert subgraphs == [(sg.index, sg.provider) for sg in sess.get_partition().subgraphs]


def test_loop_body_nodes_nest_under_their_loop_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = _profiled()
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ep.InferenceSession(loop_model(), opts, providers=["cpu"])
    np.testing.assert_array_equal(sess.run(None, {"x": np.zeros(2, np.float32)})[0], [3, 3])
    events = [e for e in _events(sess) if e["cat"] == "Node"]
    body = [e for e in events if e["args"].get("parent") == "'Loop_0' (Loop)"]
    assert [e["name"] for e in body].count("'Loop_0' (Loop)/body/'Add_3' (Add)") == 3
    assert {e["args"]["op_name"] for e in body} == {"Add", "Identity"}
    assert all(e["args"]["provider"] == "CPUExecutionProvider" for e in body)
    (loop,) = [e for e in events if e["name"] == "'Loop_0' (Loop)"]
    for e in body:  # inside the Loop's interval, as a trace viewer nests them
        assert loop["ts"] <= e["ts"] and e["ts"] + e["dur"] <= loop["ts"] + loop["dur"]
    assert "parent" not in loop["args"]


def test_if_branches_are_named_by_their_attribute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def branch(name, value):
        return helper.make_graph([helper.make_node("Mul", ["x", "k"], ["out"], name=name)], "",
                                 [], [helper.make_tensor_value_info("out", F, [2])],
                                 [onnx.numpy_helper.from_array(np.array(value, np.float32), "k")])

    nodes = [helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch("twice", 2),
                              else_branch=branch("thrice", 3))]
    model = make_model(nodes, [("c", TensorProto.BOOL, []), ("x", F, [2])], [("y", F, [2])])
    opts = _profiled()
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ep.InferenceSession(model, opts, providers=["cpu"])
    sess.run(None, {"c": np.array(False), "x": np.ones(2, np.float32)})
    names = [e["name"] for e in _events(sess) if e["cat"] == "Node"]
    assert "'choose' (If)/else_branch/'thrice' (Mul)" in names
    assert not any("then_branch" in n for n in names)


def test_summary_adds_up_providers_and_ops():
    events = [
        {"cat": "Subgraph", "dur": 3000.0, "args": {"provider": "A"}},
        {"cat": "Subgraph", "dur": 1000.0, "args": {"provider": "B"}},
        {"cat": "Copy", "dur": 1000.0, "args": {"provider": "A", "from": "cpu", "to": "a"}},
        {"cat": "Node", "dur": 2000.0, "args": {"provider": "A", "op_name": "MatMul"}},
        {"cat": "Node", "dur": 500.0, "args": {"provider": "A", "op_name": "Add", "parent": "'l' (Loop)"}},
        {"cat": "Node", "dur": 1000.0, "args": {"provider": "B", "op_name": "Relu"}},
    ]
    lines = summary(events).splitlines()
    rows = {tuple(line.split()[:-3]): line.split()[-3:] for line in lines if line and not line.startswith("(")}
    assert rows[("A",)] == ["1", "3.000", "60.0"]
    assert rows[("device", "copies")] == ["1", "1.000", "20.0"]
    assert rows[("MatMul", "A")] == ["1", "2.000", "40.0"]
    assert rows[("Copy", "cpu", "->", "a")] == ["1", "1.000", "20.0"]
    assert ("Add", "A") not in rows and "1 body-graph node events" in lines[-1]


def test_run_profile_prints_per_provider_and_per_op_tables(tmp_path, monkeypatch, capsys, sim_plugin):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "m.onnx"
    onnx.save(device_model(), path)
    assert main(["run", str(path), "-p", "sim", "-p", "cpu", "--profile", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "profile: ep_runtime_profile_" in out and "(2 run(s))" in out
    table = out.split("profile: ", 1)[1].splitlines()[1:]
    head = table[0].split()
    assert head == ["provider", "count", "total", "ms", "%"]
    rows = {line.split()[0]: line.split() for line in table if line.strip()}
    assert rows["SimDeviceExecutionProvider"][1] == "4"  # two subgraph calls per run
    assert rows["CPUExecutionProvider"][1] == "2"
    assert rows["device"][2] == "8"  # four copies per run
    assert rows["MatMul"][1:3] == ["SimDeviceExecutionProvider", "2"]
    assert rows["Softmax"][1:3] == ["CPUExecutionProvider", "2"]
    percents = [float(r[-1]) for k, r in rows.items() if k in ("SimDeviceExecutionProvider", "CPUExecutionProvider",
                                                                  "device")]
    assert sum(percents) == pytest.approx(100, abs=0.5)
    assert list(tmp_path.glob("ep_runtime_profile_*.json"))
