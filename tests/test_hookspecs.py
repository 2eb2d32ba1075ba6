"""Plugins implement only hooks that exist: `check_pending` guards against misspelled hook names."""

from __future__ import annotations

import sys

import pluggy
import pytest

from ep_runtime import plugins
from ep_runtime.plugins import PluginWarning, get_plugin_manager
from tests.plugin_packaging import EXAMPLE_DIST, EXAMPLE_PACKAGE, install_example, write_distribution


@pytest.fixture(scope="session")
def example_site(tmp_path_factory):
    """The folder the example distribution is installed into (once per session)."""
    return install_example(tmp_path_factory)


@pytest.fixture
def fresh_manager(monkeypatch):
    """Start from a fresh plugin manager; the previous one, sys.path and imported plugins come back after."""
    monkeypatch.setattr(plugins, "_manager", None)
    before = set(sys.modules)
    yield monkeypatch
    for name in set(sys.modules) - before:
        if name.startswith(("ep_rt_test_", EXAMPLE_PACKAGE)):
            del sys.modules[name]


def test_hookspecs_declare_the_provider_and_kernel_hooks():
    pm = get_plugin_manager()
    assert {"ep_runtime_providers", "ep_runtime_kernels"} <= set(vars(pm.hook))
    assert pm.project_name == "ep_runtime"


def test_installed_plugins_pass_check_pending():
    pm = get_plugin_manager()
    pm.check_pending()
    assert pm.get_plugin("ep-runtime:cpu") is not None


def test_example_plugin_passes_check_pending_and_implements_both_hooks(example_site, fresh_manager):
    fresh_manager.syspath_prepend(str(example_site))
    pm = get_plugin_manager()
    pm.check_pending()
    plugin = pm.get_plugin(f"{EXAMPLE_DIST}:example")
    assert plugin is not None and plugin.__name__ == f"{EXAMPLE_PACKAGE}.plugin"
    hooks = {h.name for h in pm.get_hookcallers(plugin)}
    assert hooks == {"ep_runtime_providers", "ep_runtime_kernels"}


def test_misspelled_hook_name_makes_check_pending_raise(tmp_path, fresh_manager):
    write_distribution(tmp_path, "ep-runtime-typo", {"ep_rt_test_typo": """
        from ep_runtime import hookimpl

        @hookimpl
        def ep_runtime_provider():  # missing the final "s": no such hook
            return []
    """}, {"typo": "ep_rt_test_typo"})
    fresh_manager.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager()
    assert pm.get_plugin("ep-runtime-typo:typo") is not None  # it loads: pluggy cannot tell at register time
    with pytest.raises(pluggy.PluginValidationError, match="ep_runtime_provider"):
        pm.check_pending()


def test_hook_with_a_wrong_argument_name_is_refused_at_load_with_a_warning(tmp_path, fresh_manager):
    write_distribution(tmp_path, "ep-runtime-badarg", {"ep_rt_test_badarg": """
        from ep_runtime import hookimpl

        @hookimpl
        def ep_runtime_kernels(provider):  # the spec's argument is provider_name
            return None
    """}, {"badarg": "ep_rt_test_badarg"})
    fresh_manager.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginWarning, match=r"'badarg'.*PluginValidationError"):
        pm = get_plugin_manager()
    assert pm.get_plugin("ep-runtime-badarg:badarg") is None
    pm.check_pending()
