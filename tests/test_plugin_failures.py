"""A broken plugin never takes the runtime down: it is skipped with a PluginWarning naming it.

Each test installs small distributions (real dist-info folders) into a temporary folder, puts
it on sys.path and starts from a fresh plugin manager; the previous manager, sys.path and the
imported plugin modules are restored afterwards.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import plugins
from ep_runtime.plugins import PluginWarning
from tests.helpers.models import F, make_model
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
    """, "ep_rt_test_confused_kernels": """
        from ep_runtime import hookimpl

        @hookimpl
        def ep_runtime_kernels(provider_name):
            return {"Relu": None}
    """}, {"confused": "ep_rt_test_confused", "confused_kernels": "ep_rt_test_confused_kernels"})
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


# --------------------------------------------------------------------------- a plugin misbehaving in any way


def install(site, module_source: str, dist: str = "ep-runtime-misbehaving") -> str:
    """Install a one-module plugin distribution; returns the plugin's registered name."""
    write_distribution(site, dist, {"ep_rt_test_misbehaving": module_source}, {"bad": "ep_rt_test_misbehaving"})
    return f"{dist}:bad"


def warnings_naming(record, plugin: str) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, PluginWarning) and repr(plugin) in str(w.message)]


def everything_still_works() -> None:
    """Listing providers and sessions on the CPU provider work; called twice to see the plugin stays skipped."""
    for _ in range(2):
        assert CPU in ep.get_available_providers()
        assert CPU in ep.get_all_providers()
        sess = ep.InferenceSession(model(), providers=["cpu"])
        run_on(sess)
        assert sess.get_providers() == [CPU]


PROVIDERS_HOOK = """
    import sys
    from ep_runtime import ExecutionProvider, hookimpl

    class Fine(ExecutionProvider):
        name = "FineExecutionProvider"

    @hookimpl
    def ep_runtime_providers():
        {body}
"""

BAD_PROVIDER_ANSWERS = {
    "a class instead of a list": (
        "return Fine", r"returned <class .*Fine'> from ep_runtime_providers instead of a list"),
    "an int": (
        "return 3", r"returned 3 from ep_runtime_providers instead of a list of ExecutionProvider classes"),
    "a generator that raises": (
        "yield Fine\n        raise RuntimeError('driver gone')",
        r"raised in ep_runtime_providers: RuntimeError: driver gone"),
    "a class that is no provider": (
        "return [Fine, dict]", r"returned <class 'dict'>, which is not an ExecutionProvider"),
    "a provider without a name": (
        "return [ExecutionProvider]", r"which is not an ExecutionProvider subclass with a name"),
    "aliases as one string": (
        "Fine.aliases = 'fine'\n        return [Fine]",
        r"provider FineExecutionProvider whose aliases 'fine' are not a tuple"),
    "sys.exit": ("sys.exit(3)", r"raised in ep_runtime_providers: SystemExit: 3"),
}


@pytest.mark.parametrize("answer", list(BAD_PROVIDER_ANSWERS))
def test_providers_hook_misbehaving_skips_the_plugin_with_one_warning(site, answer):
    body, message = BAD_PROVIDER_ANSWERS[answer]
    plugin = install(site, PROVIDERS_HOOK.replace("{body}", body))
    with pytest.warns(PluginWarning) as record:
        everything_still_works()
    (only,) = warnings_naming(record, plugin)
    assert re.search(message, only) and only.endswith("it is skipped")
    assert "FineExecutionProvider" not in ep.get_all_providers()


def test_kernels_hook_raising_system_exit_skips_the_plugin_with_one_warning(site):
    plugin = install(site, """
        import sys
        from ep_runtime import hookimpl

        @hookimpl
        def ep_runtime_kernels(provider_name):
            sys.exit("no license")
    """)
    with pytest.warns(PluginWarning) as record:
        everything_still_works()
    (only,) = warnings_naming(record, plugin)
    assert "raised in ep_runtime_kernels: SystemExit: no license" in only


def test_plugin_calling_sys_exit_at_import_is_skipped_with_a_warning(site):
    write_distribution(site, "ep-runtime-exiting", {"ep_rt_test_exiting": "import sys\nsys.exit(1)\n"},
                       {"exiting": "ep_rt_test_exiting"})
    with pytest.warns(PluginWarning, match=r"plugin 'exiting' from distribution 'ep-runtime-exiting'.*SystemExit"):
        everything_still_works()


def test_availability_check_raising_system_exit_counts_as_unavailable(site):
    install(site, """
        import sys
        from ep_runtime import ExecutionProvider, hookimpl

        class Exiting(ExecutionProvider):
            name = "ExitingExecutionProvider"

            @classmethod
            def unavailable_reason(cls):
                sys.exit(2)

        @hookimpl
        def ep_runtime_providers():
            return [Exiting]
    """)
    assert "ExitingExecutionProvider" not in ep.get_available_providers()
    with pytest.warns(UserWarning, match=r"ExitingExecutionProvider is not available: .*SystemExit"):
        ep.InferenceSession(model(), providers=["ExitingExecutionProvider", "cpu"])


# --------------------------------------------------------------------------- built-in names are not for the taking

IMPOSTOR = """
    from ep_runtime import KernelProvider, KernelRegistry, hookimpl

    class Impostor(KernelProvider):
        name = {name!r}
        aliases = {aliases!r}
        registry = KernelRegistry()
        {extra}

        def get_capability(self, graph, nodes):
            raise AssertionError("the impostor was asked")

    @hookimpl
    def ep_runtime_providers():
        return [Impostor]
"""


@pytest.mark.parametrize("name,aliases,taken", [
    (CPU, (), "'cpuexecutionprovider'"),
    ("FastCPUExecutionProvider", ("CPU",), "'cpu'"),
    ("cpuexecutionprovider", (), "'cpuexecutionprovider'"),
])
def test_plugin_cannot_take_a_builtin_providers_name_or_alias(site, name, aliases, taken):
    plugin = install(site, IMPOSTOR.format(name=name, aliases=aliases, extra=""), dist="ep-runtime-aaa-impostor")
    with pytest.warns(PluginWarning) as record:
        everything_still_works()
        assert ep.get_all_providers().count(CPU) == 1
    (only,) = warnings_naming(record, plugin)
    assert f"declares provider {name} whose name or alias {taken} belongs to provider {CPU}" in only
    assert "overrides_builtin = True" in only


def test_provider_setting_overrides_builtin_replaces_it_with_one_warning(site):
    plugin = install(site, IMPOSTOR.format(name=CPU, aliases=("cpu",), extra="overrides_builtin = True"),
                     dist="ep-runtime-cpu-replacement")
    with pytest.warns(PluginWarning) as record:
        for _ in range(2):
            assert ep.get_all_providers().count(CPU) == 1
        with pytest.raises(ep.NotImplementedByAnyProvider, match=f"{CPU}: error: .*the impostor was asked"):
            ep.InferenceSession(model(), providers=["cpu"])
    (only,) = warnings_naming(record, plugin)
    assert f"replaces built-in provider {CPU} of plugin 'ep-runtime:cpu'" in only


def test_two_plugins_with_one_provider_name_keep_the_first_and_skip_the_second(site):
    write_distribution(site, "ep-runtime-flaky", {"ep_rt_test_flaky": FLAKY}, {"flaky": "ep_rt_test_flaky"})
    write_distribution(site, "ep-runtime-flaky-twin", {"ep_rt_test_flaky_twin": FLAKY},
                       {"twin": "ep_rt_test_flaky_twin"})
    with pytest.warns(PluginWarning) as record:
        assert ep.get_all_providers().count("FlakyExecutionProvider") == 1
    skipped = [str(w.message) for w in record if "declares provider FlakyExecutionProvider" in str(w.message)]
    assert len(skipped) == 1

