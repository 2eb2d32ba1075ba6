"""A broken plugin never takes the runtime down: it is skipped with a PluginWarning naming it.

Each test installs small distributions (real dist-info folders) into a temporary folder, puts
it on sys.path and starts from a fresh plugin manager; the previous manager, sys.path and the
imported plugin modules are restored afterwards.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import plugins
from ep_runtime.plugins import PluginWarning
from tests.conftest import F, make_model
from tests.plugin_packaging import write_distribution

CPU = "CPUExecutionProvider"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A temporary site folder on sys.path, seen by a fresh plugin manager; all undone afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(plugins, "_manager", None)
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("ep_rt_test_"):
            del sys.modules[name]


def model():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Tanh", ["r"], ["y"], name="tanh")]
    return make_model(nodes, [("x", F, [4])], [("y", F, [4])]).SerializeToString()


X = np.array([-2.0, -0.5, 0.5, 2.0], dtype=np.float32)
EXPECTED = np.tanh(np.maximum(X, 0))


def run_on(sess: ep.InferenceSession) -> None:
    (y,) = sess.run(None, {"x": X})
    np.testing.assert_allclose(y, EXPECTED, rtol=1e-6)


FLAKY = """
    from ep_runtime import ExecutionProvider, hookimpl

    class FlakyExecutionProvider(ExecutionProvider):
        name = "FlakyExecutionProvider"
        aliases = ("flaky",)

        def get_capability(self, graph, nodes):
            raise RuntimeError("device lost")

    @hookimpl
    def ep_runtime_providers():
        return [FlakyExecutionProvider]
"""


def test_plugin_raising_at_import_is_skipped_with_a_warning_naming_it(site):
    write_distribution(site, "ep-runtime-broken-plugin",
                       {"ep_rt_test_broken": "raise ImportError('libvendor.so not found')"},
                       {"broken": "ep_rt_test_broken"})
    with pytest.warns(PluginWarning, match=r"plugin 'broken' from distribution 'ep-runtime-broken-plugin'.*"
                                           r"ImportError: libvendor.so not found"):
        sess = ep.InferenceSession(model(), providers=["cpu"])
    run_on(sess)
    assert sess.get_providers() == [CPU]


def test_entry_point_naming_a_missing_module_is_skipped_with_a_warning(site):
    write_distribution(site, "ep-runtime-misnamed", {}, {"misnamed": "ep_rt_test_no_such_module"})
    with pytest.warns(PluginWarning, match=r"'misnamed'.*ModuleNotFoundError"):
        assert CPU in ep.get_available_providers()


def test_provider_raising_in_get_capability_is_skipped_and_nodes_go_to_the_next_provider(site):
    write_distribution(site, "ep-runtime-flaky", {"ep_rt_test_flaky": FLAKY}, {"flaky": "ep_rt_test_flaky"})
    with pytest.warns(PluginWarning, match=r"provider FlakyExecutionProvider raised in get_capability.*device lost"):
        sess = ep.InferenceSession(model(), providers=["flaky", "cpu"])
    decisions = sess.get_partition().to_dict()["nodes"]
    assert {d["node"]: d["provider"] for d in decisions} == {"relu": CPU, "tanh": CPU}
    refusal = decisions[0]["refusals"]["FlakyExecutionProvider"]
    assert refusal["kind"] == "error" and "device lost" in refusal["reason"]
    run_on(sess)


def test_plugin_whose_providers_hook_raises_is_skipped_with_a_warning(site):
    write_distribution(site, "ep-runtime-raising-hook", {"ep_rt_test_raising": """
        from ep_runtime import hookimpl

        @hookimpl
        def ep_runtime_providers():
            raise RuntimeError("license server unreachable")
    """}, {"raising": "ep_rt_test_raising"})
    name = "ep-runtime-raising-hook:raising"
    with pytest.warns(PluginWarning, match=rf"plugin {name!r} raised in ep_runtime_providers.*license server"):
        sess = ep.InferenceSession(model(), providers=["cpu"])
    run_on(sess)


def test_plugin_whose_kernels_hook_raises_leaves_the_cpu_kernels_unchanged(site):
    write_distribution(site, "ep-runtime-raising-kernels", {"ep_rt_test_kernels": """
        from ep_runtime import hookimpl

        @hookimpl
        def ep_runtime_kernels(provider_name):
            raise RuntimeError("kernel cache corrupt")
    """}, {"kernels": "ep_rt_test_kernels"})
    with pytest.warns(PluginWarning, match=r"raised in ep_runtime_kernels.*kernel cache corrupt"):
        sess = ep.InferenceSession(model(), providers=["cpu"])
    assert all(d["notes"] == [] for d in sess.get_partition().to_dict()["nodes"])
    run_on(sess)


def test_plugin_returning_what_is_not_a_provider_class_is_ignored_with_a_warning(site):
    write_distribution(site, "ep-runtime-confused", {"ep_rt_test_confused": """
        from ep_runtime import hookimpl

        @hookimpl
        def ep_runtime_providers():
            return ["NotAProvider"]

        @hookimpl
        def ep_runtime_kernels(provider_name):
            return {"Relu": None}
    """}, {"confused": "ep_rt_test_confused"})
    with pytest.warns(PluginWarning) as record:
        sess = ep.InferenceSession(model(), providers=["cpu"])
    messages = " | ".join(str(w.message) for w in record)
    assert "returned 'NotAProvider', which is not an ExecutionProvider subclass" in messages
    assert "returned dict from ep_runtime_kernels instead of a KernelRegistry" in messages
    run_on(sess)


def test_unknown_provider_error_lists_the_installed_ones(site):
    write_distribution(site, "ep-runtime-flaky", {"ep_rt_test_flaky": FLAKY}, {"flaky": "ep_rt_test_flaky"})
    listed = r"unknown execution provider 'nosuch'; installed providers: .*FlakyExecutionProvider \(flaky\)"
    with pytest.raises(ep.ProviderError, match=listed):
        ep.InferenceSession(model(), providers=["nosuch", "cpu"])
