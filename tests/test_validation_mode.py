"""Validation mode: non-reference subgraphs also run on the reference CPU provider; errors per subgraph and node."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import KernelRegistry, hookimpl
from ep_runtime.errors import InvalidArgument, KernelError
from tests.helpers.models import F, const, make_model
from tests.helpers.plugins import registered_plugin
from tests.sim_device import SIM_KERNELS, SimArray, SimDeviceProvider, dev

WRONG_KERNELS = SIM_KERNELS.copy()


@WRONG_KERNELS.kernel("Softmax", since=13)
def wrong_softmax(a, *, axis=-1):
    (x,) = dev(a)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return SimArray((1.5 * e / e.sum(axis=axis, keepdims=True)).astype(x.dtype))  # deliberately 1.5x too big


class WrongSoftmaxSim(SimDeviceProvider):
    """A simulated device whose Softmax is wrong."""

    name = "WrongSoftmaxSimExecutionProvider"
    aliases = ("wrongsim",)
    device = "wrongsim"
    registry = WRONG_KERNELS


CPU_OVERRIDE = KernelRegistry()


@CPU_OVERRIDE.kernel("Softmax", since=13, impl="wrong")
def wrong_cpu_softmax(x, *, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True) + np.float32(0.25)).astype(x.dtype)


class _Plugin:
    @hookimpl
    def ep_runtime_providers(self):
        return [WrongSoftmaxSim]


class _CpuOverride:
    @hookimpl
    def ep_runtime_kernels(self, provider_name):
        return CPU_OVERRIDE if provider_name == "CPUExecutionProvider" else None


@pytest.fixture
def wrong_sim(sim_plugin):
    with registered_plugin(_Plugin(), "test-wrong-softmax-sim"):
        yield


def softmax_model():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Softmax", ["h"], ["s"], name="sm"),
             helper.make_node("Relu", ["s"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "r"], ["y"], name="add")]
    w = (np.arange(12, dtype=np.float32) / 10).reshape(4, 3)
    return make_model(nodes, [("x", F, [2, 4])], [("y", F, [2, 3])], [const("w", w)])


def options(validate="1", tolerance=None, strict=None):
    opts = ep.SessionOptions()
    if validate is not None:
        opts.add_session_config_entry("ep_runtime.validate", validate)
    if tolerance is not None:
        opts.add_session_config_entry("ep_runtime.validate_tolerance", tolerance)
    if strict is not None:
        opts.add_session_config_entry("ep_runtime.validate_strict", strict)
    return opts


X = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)


def _node_errors(report_dict, subgraph=0):
    entry = report_dict["subgraphs"][subgraph]
    return {n["node"]: max(o["max_abs"] for o in n["outputs"].values()) for n in entry["nodes"]}


def test_report_shows_the_wrong_softmax_at_its_node_and_the_error_it_carries(wrong_sim):
    sess = ep.InferenceSession(softmax_model(), options(tolerance="1e-4"), providers=["wrongsim", "cpu"])
    sess.run(None, {"x": X})
    report = sess.get_validation_report()
    data = report.to_dict()
    errors = _node_errors(data)
    assert errors["mm"] == 0.0
    assert errors["sm"] > 0.1  # the node making the error: its output is internal to the subgraph
    assert errors["relu"] == pytest.approx(errors["sm"]) and errors["add"] == pytest.approx(2 * errors["sm"])
    entry = data["subgraphs"][0]
    assert entry["provider"] == "WrongSoftmaxSimExecutionProvider" and entry["runs"] == 1
    assert entry["outputs"]["y"]["out_of_tolerance"] and entry["outputs"]["y"]["max_rel"] == pytest.approx(0.5)
    text = sess.get_partition().explain()
    assert "validation against the reference CPU provider (tolerance 0.0001)" in text
    assert "node 'sm' (Softmax) -> s: max abs" in text and "OUT OF TOLERANCE" in text
    assert "node 'mm' (MatMul) -> h: max abs 0," in text
    as_json = json.loads(json.dumps(sess.get_partition().to_dict()))
    assert _node_errors(as_json["validation"]) == pytest.approx(errors)
    np.testing.assert_allclose(sess.run(None, {"x": X})[0], 1.5 * ep.InferenceSession(
        softmax_model(), providers=["cpu"]).run(None, {"x": X})[0], rtol=1e-6)  # results are the provider's
    assert report.to_dict()["subgraphs"][0]["runs"] == 2


def test_strict_validation_fails_naming_subgraph_node_provider_and_output(wrong_sim):
    sess = ep.InferenceSession(softmax_model(), options(tolerance="1e-3", strict="1"), providers=["wrongsim", "cpu"])
    with pytest.raises(KernelError) as err:
        sess.run(None, {"x": X})
    message = str(err.value)
    assert "node 'sm' (Softmax)" in message and "WrongSoftmaxSimExecutionProvider" in message
    assert "subgraph 0" in message and "output 's'" in message and "tolerance 0.001" in message
    assert err.value.provider == "WrongSoftmaxSimExecutionProvider" and err.value.op_type == "Softmax"


def test_a_correct_provider_validates_with_zero_error_and_strict_mode_passes(sim_plugin):
    sess = ep.InferenceSession(softmax_model().SerializeToString(), options(tolerance="1e-6", strict="1"),
                               providers=["sim", "cpu"])
    got = sess.run(None, {"x": X})[0]
    want = ep.InferenceSession(softmax_model(), providers=["cpu"]).run(None, {"x": X})[0]
    np.testing.assert_array_equal(got, want)
    data = sess.get_validation_report().to_dict()
    validated = [s for s in data["subgraphs"] if s["skipped"] is None]
    assert validated and all(s["runs"] == 1 for s in validated)
    for s in validated:
        assert all(not o["out_of_tolerance"] for o in s["outputs"].values())


def test_a_plugin_kernel_of_the_cpu_provider_is_validated_too():
    with registered_plugin(_CpuOverride(), "test-wrong-cpu-softmax"):
        sess = ep.InferenceSession(softmax_model(), options(), providers=["cpu"])
        sess.run(None, {"x": X})
    data = sess.get_validation_report().to_dict()
    assert data["tolerance"] is None
    errors = _node_errors(data)
    assert errors["mm"] == 0.0 and errors["sm"] == pytest.approx(0.25)


def test_only_the_reference_provider_means_nothing_to_validate():
    sess = ep.InferenceSession(softmax_model(), options(), providers=["cpu"])
    sess.run(None, {"x": X})
    assert sess.get_validation_report().to_dict()["subgraphs"] == []
    assert "nothing to validate" in sess.get_partition().explain()


def test_validation_is_off_unless_asked(wrong_sim):
    sess = ep.InferenceSession(softmax_model(), providers=["wrongsim", "cpu"])
    sess.run(None, {"x": X})
    assert sess.get_validation_report() is None
    assert "validation" not in sess.get_partition().to_dict()


@pytest.mark.parametrize("entries, culprit", [
    ({"tolerance": "lots"}, "ep_runtime.validate_tolerance"),
    ({"tolerance": "-1"}, "ep_runtime.validate_tolerance"),
    ({"validate": "maybe"}, "ep_runtime.validate"),
    ({"strict": "1"}, "needs a tolerance"),
])
def test_bad_validation_entries_are_errors_naming_the_entry(entries, culprit):
    with pytest.raises(InvalidArgument, match=culprit):
        ep.InferenceSession(softmax_model(), options(**entries), providers=["cpu"])
