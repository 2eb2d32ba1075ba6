"""Plugin discovery: pluggy hook specifications and the plugin manager over entry points.

Every provider, built-in or third-party, is a plugin module named by an entry point in the
group `ep_runtime`. Setting EP_RUNTIME_DISABLE_PLUGIN_AUTOLOAD=1 loads only the plugins of
the ep-runtime distribution itself. A plugin that fails to import, or misbehaves in a hook
(raises anything but KeyboardInterrupt, or answers what the hook does not allow), is skipped
with one PluginWarning naming it, and everything else keeps working.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .provider import ExecutionProvider, KernelRegistry

PROJECT = "ep_runtime"
ENTRY_POINT_GROUP = "ep_runtime"
AUTOLOAD_ENV = "EP_RUNTIME_DISABLE_PLUGIN_AUTOLOAD"
OWN_DISTRIBUTION = "ep-runtime"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class PluginWarning(UserWarning):
    """A plugin failed to load or answer and was skipped."""


class HookResultError(Exception):
    """A hook returned something its specification does not allow; the message says what."""


class hookspecs:
    """The hooks a plugin may implement (import `hookimpl` from ep_runtime to mark them)."""

    @staticmethod
    @hookspec
    def ep_runtime_providers() -> list[type[ExecutionProvider]]:  # type: ignore[empty-body]
        """Return the ExecutionProvider classes this plugin adds."""

    @staticmethod
    @hookspec
    def ep_runtime_kernels(provider_name: str) -> KernelRegistry | None:  # type: ignore[empty-body]
        """Return kernels that add to or replace kernels of the provider named `provider_name`
        (a KernelProvider), or None when this plugin has none for it."""

    @staticmethod
    @hookspec
    def ep_runtime_add_commands(subparsers: Any) -> None:
        """Add subcommands to the `ep-runtime` command line: `subparsers` is the argparse
        subparsers object; a command sets `fn=callable(args) -> exit code` with set_defaults."""


_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None
#: per plugin manager, the warnings already given (each is given once per manager)
_warned: weakref.WeakKeyDictionary[pluggy.PluginManager, set[str]] = weakref.WeakKeyDictionary()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use from the `ep_runtime` entry points."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = _build_manager()
        return _manager


def reset_plugin_manager() -> None:
    """Forget the loaded plugins so the next use scans entry points again (for tests)."""
    global _manager
    with _lock:
        _manager = None


def _build_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    only_own = os.environ.get(AUTOLOAD_ENV, "").strip().lower() in ("1", "true", "yes")
    seen: set[str] = set()
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist is not None else "?"
        if only_own and _canonical(dist) != OWN_DISTRIBUTION:
            continue
        key = f"{dist}:{ep.name}"
        if key in seen:
            continue
        seen.add(key)
        try:
            plugin = ep.load()
            pm.register(plugin, name=key)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (even one calling sys.exit) must not take the runtime down
            warnings.warn(
                f"ep_runtime plugin {ep.name!r} from distribution {dist!r} ({ep.value}) failed to load "
                f"and is skipped: {type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=2,
            )
    return pm


def _entry_points() -> list[Any]:
    return list(md.entry_points(group=ENTRY_POINT_GROUP))


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def is_builtin_plugin(plugin_name: str) -> bool:
    """Whether the plugin was registered from an entry point of ep-runtime's own distribution."""
    dist, sep, _ = plugin_name.partition(":")
    return bool(sep) and _canonical(dist) == OWN_DISTRIBUTION


def warn_once(message: str, *, stacklevel: int = 2) -> None:
    """Give a PluginWarning once per plugin manager (it would repeat on every provider listing)."""
    pm = get_plugin_manager()
    with _lock:
        given = _warned.setdefault(pm, set())
        if message in given:
            return
        given.add(message)
    warnings.warn(message, PluginWarning, stacklevel=stacklevel + 1)


def skip_plugin(plugin_name: str, why: str) -> None:
    """Unregister a misbehaving plugin (until the plugin manager is rebuilt) with a PluginWarning;
    being unregistered, it is warned about once. `why` completes "ep_runtime plugin 'name' ..."."""
    pm = get_plugin_manager()
    with _lock:
        pm.unregister(name=plugin_name)
    warnings.warn(f"ep_runtime plugin {plugin_name!r} {why}; it is skipped", PluginWarning, stacklevel=3)


def call_each(hook_name: str, check: Callable[[Any], Any] | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a hook on every plugin separately; a plugin that misbehaves is skipped (see skip_plugin).

    Misbehaving is raising anything but KeyboardInterrupt (SystemExit included), or returning a
    value that `check` rejects: `check(result)` returns the result to use (e.g. a list made from
    a generator) or raises HookResultError saying what is wrong. Returns (plugin name, result)
    pairs for the plugins that answered something else than None.
    """
    pm = get_plugin_manager()
    results = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        try:
            res = impl.function(*[kwargs[arg] for arg in impl.argnames])
            if res is not None and check is not None:
                res = check(res)
        except KeyboardInterrupt:
            raise
        except HookResultError as exc:
            skip_plugin(impl.plugin_name, str(exc))
            continue
        except BaseException as exc:  # a broken plugin must not take the runtime down
            skip_plugin(impl.plugin_name, f"raised in {hook_name}: {type(exc).__name__}: {exc}")
            continue
        if res is not None:
            results.append((impl.plugin_name, res))
    return results
