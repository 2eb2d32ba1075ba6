"""Several devices: direct device-to-device copies, and one provider listed twice (two instances or an error)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import Refusal, hookimpl
from ep_runtime.errors import ProviderError
from tests.helpers.models import F, make_model
from tests.helpers.plugins import registered_plugin
from tests.sim_device import SimArray, SimDeviceProvider


class PeerSim(SimDeviceProvider):
    """Simulated devices `peersim:<device_id>` that copy between each other directly (option `direct`) and
    claim only the op types in option `ops`; every transfer is counted."""

    name = "PeerSimExecutionProvider"
    aliases = ("peersim",)
    device = "peersim"
    known_options: ClassVar[frozenset[str]] = frozenset({"device_id", "direct", "ops"})

    def __init__(self, **options):
        super().__init__(**options)
        self.device = f"peersim:{options.get('device_id', 0)}"
        self.direct_calls = 0

    def refuse_node(self, node, graph):
        ops = self.options.get("ops")
        return None if ops is None or node.op_type in ops else Refusal("op", f"option ops={ops}")

    def transfers(self) -> int:
        return self.to_device_calls + self.to_host_calls + self.direct_calls

    def direct_copy_from(self, source):
        if not self.options.get("direct", True) or not isinstance(source, PeerSim):
            return None

        def copy(value):
            if not isinstance(value, SimArray):
                raise TypeError(f"direct copy expects a SimArray, got {type(value).__name__}")
            self.direct_calls += 1
            return SimArray(value.data.copy())

        return copy


class PushSim(PeerSim):
    """Declares the direct copy on the sending side only (direct_copy_to)."""

    name = "PushSimExecutionProvider"
    aliases = ("pushsim",)

    def __init__(self, **options):
        super().__init__(**options)
        self.device = f"pushsim:{options.get('device_id', 0)}"

    def direct_copy_from(self, source):
        return None

    def direct_copy_to(self, target):
        if not isinstance(target, PeerSim):
            return None

        def copy(value):
            self.direct_calls += 1
            return SimArray(value.data.copy())

        return copy


class _Plugin:
    @hookimpl
    def ep_runtime_providers(self):
        return [PeerSim, PushSim]


@pytest.fixture
def peers():
    with registered_plugin(_Plugin(), "test-peer-sim"):
        yield


def ping_pong_model():
    """x -> Add -> Mul -> Add -> Mul -> Add -> Mul -> Add -> Mul -> y: with Add on one device and Mul on the
    other, 9 copies: x in, 7 between the devices, y out."""
    nodes, prev = [], "x"
    for k in range(4):
        nodes.append(helper.make_node("Add", [prev, prev], [f"a{k}"], name=f"add{k}"))
        nodes.append(helper.make_node("Mul", [f"a{k}", f"a{k}"], [f"m{k}"], name=f"mul{k}"))
        prev = f"m{k}"
    nodes[-1].output[0] = "y"
    return make_model(nodes, [("x", F, [3])], [("y", F, [3])])


X = np.array([0.5, -0.25, 0.125], np.float32)


def _expected():
    return ep.InferenceSession(ping_pong_model(), providers=["cpu"]).run(None, {"x": X})[0]


def _two_devices(direct=True):
    return [("peersim", {"device_id": 0, "ops": ["Add"], "direct": direct}),
            ("peersim", {"device_id": 1, "ops": ["Mul"], "direct": direct})]


def test_copies_between_devices_that_declare_a_direct_path_cost_one_transfer_each(peers):
    sess = ep.InferenceSession(ping_pong_model(), providers=_two_devices())
    part = sess.get_partition()
    assert len(part.copies) == 9
    assert sum(c.direct for c in part.copies) == 7
    assert "(before subgraph 1, direct)" in part.explain()
    np.testing.assert_array_equal(sess.run(None, {"x": X})[0], _expected())
    devices = [p for p in sess._providers if isinstance(p, PeerSim)]
    assert sum(p.transfers() for p in devices) == 9
    assert sum(p.direct_calls for p in devices) == 7


def test_without_a_direct_path_a_device_copy_goes_through_the_host(peers):
    sess = ep.InferenceSession(ping_pong_model(), providers=_two_devices(direct=False))
    part = sess.get_partition()
    assert len(part.copies) == 9 and not any(c.direct for c in part.copies)
    assert "through the host" in part.explain()
    np.testing.assert_array_equal(sess.run(None, {"x": X})[0], _expected())
    assert sum(p.transfers() for p in sess._providers if isinstance(p, PeerSim)) == 16


def test_the_sending_provider_may_declare_the_direct_copy(peers):
    providers = [("pushsim", {"ops": ["Add"]}), ("peersim", {"ops": ["Mul"], "direct": False})]
    sess = ep.InferenceSession(ping_pong_model(), providers=providers)
    np.testing.assert_array_equal(sess.run(None, {"x": X})[0], _expected())
    push = next(p for p in sess._providers if isinstance(p, PushSim))
    assert push.direct_calls == 4  # a0..a3 go straight to the Mul device; m0..m2 come back through the host
    assert [c.direct for c in sess.get_partition().copies].count(True) == 4


def test_one_provider_listed_twice_on_two_devices_runs_as_two_instances(peers):
    sess = ep.InferenceSession(ping_pong_model(), providers=_two_devices())
    names = ["PeerSimExecutionProvider[peersim:0]", "PeerSimExecutionProvider[peersim:1]"]
    assert sess.get_providers() == names
    assert set(sess.get_provider_options()) >= set(names)
    assignment = sess.get_partition().assignment()
    assert assignment["add0"] == names[0] and assignment["mul0"] == names[1]


def test_one_provider_listed_twice_on_one_device_is_refused_naming_both(peers):
    providers = [("peersim", {"device_id": 0, "ops": ["Add"]}), ("peersim", {"device_id": 0, "ops": ["Mul"]})]
    with pytest.raises(ProviderError, match=r"PeerSimExecutionProvider is listed twice.*'Add'.*'Mul'.*'peersim:0'"):
        ep.InferenceSession(ping_pong_model(), providers=providers)


def test_a_provider_listed_twice_alike_is_one_instance(peers):
    sess = ep.InferenceSession(ping_pong_model(), providers=["peersim", "peersim", "cpu"])
    assert sess.get_providers() == ["PeerSimExecutionProvider"]


def test_a_direct_copy_declaration_that_raises_is_a_provider_error(peers, monkeypatch):
    def broken(self, source):
        raise RuntimeError("no peer access")

    monkeypatch.setattr(PeerSim, "direct_copy_from", broken)
    with pytest.raises(ProviderError, match=r"PeerSimExecutionProvider\[peersim:1\] raised in direct_copy_from"):
        ep.InferenceSession(ping_pong_model(), providers=_two_devices())


def test_opencl_listed_twice_on_one_device_is_refused_not_dropped():
    from tests.opencl_support import DEVICES, REASON

    if not DEVICES or DEVICES[0] is None:
        pytest.skip(f"OpenCL unavailable: {REASON}")
    p, d = DEVICES[0]
    providers = [("opencl", {"platform_id": p, "device_id": d}),
                 ("opencl", {"platform_id": p, "device_id": d, "enable_fp16": False}), "cpu"]
    with pytest.raises(ProviderError, match=rf"OpenCLExecutionProvider is listed twice.*'opencl:{p}:{d}'"):
        ep.InferenceSession(ping_pong_model(), providers=providers)
