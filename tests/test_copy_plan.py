"""One owner of the copy plan: the copies `Partition.explain()` lists are exactly the copies a run makes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import hookimpl
from ep_runtime.errors import EPRuntimeError
from ep_runtime.executor import assemble_plan
from ep_runtime.partition import plan_copies
from tests.helpers.models import F, make_model
from tests.helpers.plugins import registered_plugin
from tests.test_devices import PeerSim


class _Plugin:
    @hookimpl
    def ep_runtime_providers(self):
        return [PeerSim]


@pytest.fixture
def peers():
    with registered_plugin(_Plugin(), "test-copy-plan-peers"):
        yield


def mixed_model():
    """Add on device 0, Mul on device 1, Relu on the CPU: direct device-to-device copies, copies through the
    host, a graph input read on the host and on a device, graph outputs on both devices, on the host, one
    needed on the host by a node too (copied once), and a graph input that is also a graph output."""
    n = helper.make_node
    nodes = [
        n("Add", ["x", "x"], ["a"], name="add_x"),        # device 0
        n("Mul", ["a", "a"], ["m"], name="mul_a"),        # device 1: a goes over directly
        n("Relu", ["m"], ["r"], name="relu_m"),           # CPU: m comes to the host
        n("Add", ["r", "z"], ["s"], name="add_rz"),       # device 0: r and z go to the device
        n("Mul", ["s", "m"], ["t"], name="mul_sm"),       # device 1: s goes over directly, m is there already
        n("Relu", ["z"], ["zr"], name="relu_z"),          # CPU: z is on the host already
    ]
    return make_model(nodes, [("x", F, [3]), ("z", F, [3])],
                      [("t", F, [3]), ("a", F, [3]), ("m", F, [3]), ("z", F, [3]), ("zr", F, [3])])


PROVIDERS = [("peersim", {"device_id": 0, "ops": ["Add"]}), ("peersim", {"device_id": 1, "ops": ["Mul"]}), "cpu"]
FEED = {"x": np.array([0.5, -1.5, 2.0], np.float32), "z": np.array([-1.0, 0.25, 3.0], np.float32)}


def _profiled_session(tmp_path, model, providers=PROVIDERS):
    opts = ep.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp_path / "profile")
    return ep.InferenceSession(model, opts, providers=providers)


def _copy_events(sess):
    with open(sess.end_profiling(), encoding="utf-8") as fh:
        return [e["args"] for e in json.load(fh) if e["cat"] == "Copy"]


def _explained_copies(part):
    lines = part.explain().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("device copies per run:"))
    return lines[start + 1:start + 1 + len(part.copies)]


def _as_explained(event):
    host = "cpu"
    route = "" if host in (event["from"], event["to"]) else ", direct" if event["direct"] else ", through the host"
    return (f"  {event['value']}: {event['from']} -> {event['to']} "
            f"(before subgraph {event['before_subgraph']}{route})")


def test_the_copies_explain_lists_are_exactly_the_copies_a_run_makes(peers, tmp_path):
    sess = _profiled_session(tmp_path, mixed_model())
    part = sess.get_partition()
    assert {(c.value, c.direct) for c in part.copies if "cpu" not in (c.src, c.dst)} == {("a", True), ("s", True)}
    assert [c.value for c in part.copies].count("m") == 1  # read by the CPU's Relu and a graph output: one copy
    assert not any(c.value == "z" and c.dst == "cpu" for c in part.copies)  # input and output: never moved
    got = sess.run(None, FEED)
    want = ep.InferenceSession(mixed_model(), providers=["cpu"]).run(None, FEED)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    events = _copy_events(sess)
    assert [_as_explained(e) for e in events] == _explained_copies(part)
    assert [(e["value"], e["from"], e["to"], e["direct"], e["before_subgraph"]) for e in events] == \
        [(c.value, c.src, c.dst, c.direct, c.before_subgraph) for c in part.copies]
    devices = [p for p in sess._providers if isinstance(p, PeerSim)]
    assert sum(p.transfers() for p in devices) == len(part.copies)  # every copy here is one transfer
    assert sum(p.direct_calls for p in devices) == sum(c.direct for c in part.copies)


def test_the_executor_follows_the_partitions_copies_not_a_rule_of_its_own(peers):
    sess = ep.InferenceSession(mixed_model(), providers=PROVIDERS)
    part = sess.get_partition()
    devices = [p for p in sess._providers if isinstance(p, PeerSim)]
    # a copy the partition marks as going through the host does, though the devices could copy directly
    part.copies = [dataclasses.replace(c, direct=False) for c in part.copies]
    plan = assemble_plan(sess.get_graph(), part, sess._providers, sess._compiled)
    for p in devices:
        p.to_device_calls = p.to_host_calls = p.direct_calls = 0
    plan(*[FEED[i.name] for i in sess.get_graph().inputs])
    assert sum(p.direct_calls for p in devices) == 0
    assert sum(p.transfers() for p in devices) == len(part.copies) + 2  # a and s: two transfers each
    # a copy missing from the partition's plan is not made up: the plan cannot be built
    part.copies = [c for c in part.copies if c.value != "s"]
    with pytest.raises(EPRuntimeError, match=r"no copy of 's' to peersim:1"):
        assemble_plan(sess.get_graph(), part, sess._providers, sess._compiled)


def test_inputs_bound_on_a_device_are_copied_as_the_partitioner_plans_for_that_home(peers, tmp_path):
    sess = _profiled_session(tmp_path, mixed_model())
    part = sess.get_partition()
    x_on_device = ep.OrtValue.ortvalue_from_numpy(FEED["x"], "peersim", 0)
    assert x_on_device.provider.device == "peersim:0"
    outs = sess.run_with_ort_values(None, {"x": x_on_device, "z": ep.OrtValue.ortvalue_from_numpy(FEED["z"])})
    want = ep.InferenceSession(mixed_model(), providers=["cpu"]).run(None, FEED)
    for g, w in zip(outs, want):
        np.testing.assert_array_equal(g.numpy(), w)
    planned = plan_copies(sess.get_graph(), part.subgraphs, part.placement, sess._providers,
                          input_homes={"x": "peersim:0"})
    assert not any(c.value == "x" for c in planned)  # x is where Add needs it already
    events = _copy_events(sess)
    assert [(e["value"], e["from"], e["to"], e["direct"]) for e in events] == \
        [(c.value, c.src, c.dst, c.direct) for c in planned]
