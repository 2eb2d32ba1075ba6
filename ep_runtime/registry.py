"""The providers known through plugins: lookup by name or alias, availability, kernel overrides.

The built-in providers (those of ep-runtime's own distribution) keep their names and aliases: a
third-party provider class claiming one is refused, and its plugin skipped, unless the class sets
`overrides_builtin = True`, in which case it replaces the built-in with a PluginWarning.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from .errors import ProviderError
from .plugins import HookResultError, call_each, is_builtin_plugin, skip_plugin, warn_once
from .provider import ExecutionProvider, KernelProvider, KernelRegistry

CPU = "CPUExecutionProvider"

#: classes declared by built-in plugins (collected at every provider listing)
_builtin_classes: weakref.WeakSet[type] = weakref.WeakSet()
#: built-in CPU provider instances without plugin kernels: the reference, whose outputs are not checked
_reference_instances: weakref.WeakSet[ExecutionProvider] = weakref.WeakSet()


def checked_provider_classes(result: Any) -> list[type[ExecutionProvider]]:
    """An `ep_runtime_providers` answer as a list, or HookResultError: it must be an iterable of
    ExecutionProvider subclasses, each with a non-empty str `name` and a tuple or list of str `aliases`."""
    if isinstance(result, (type, str, bytes, dict)) or not isinstance(result, Iterable):
        raise HookResultError(f"returned {result!r} from ep_runtime_providers instead of a list of "
                              "ExecutionProvider classes")
    classes = list(result)
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, ExecutionProvider)
                and isinstance(cls.name, str) and cls.name):
            raise HookResultError(f"returned {cls!r}, which is not an ExecutionProvider subclass with a name")
        aliases = cls.aliases
        if not (isinstance(aliases, (tuple, list)) and all(isinstance(a, str) and a for a in aliases)):
            raise HookResultError(f"returned provider {cls.name} whose aliases {aliases!r} are not a tuple "
                                  "of non-empty strings")
    return classes


def checked_kernel_registry(result: Any) -> KernelRegistry:
    """An `ep_runtime_kernels` answer, or HookResultError when it is not a KernelRegistry."""
    if not isinstance(result, KernelRegistry):
        raise HookResultError(f"returned {type(result).__name__} from ep_runtime_kernels instead of a "
                              "KernelRegistry")
    return result


def _keys(cls: type[ExecutionProvider]) -> set[str]:
    return {cls.name.lower(), *(a.lower() for a in cls.aliases)}


def _admit(
    plugin: str, classes: list[type[ExecutionProvider]], chosen: list[tuple[str, type[ExecutionProvider]]]
) -> tuple[list[type[ExecutionProvider]], list[tuple[str, type[ExecutionProvider]]], str | None]:
    """Which of a plugin's classes are new, which chosen (plugin, class) pairs they replace, or why
    the plugin is refused (a name or alias taken, and no permitted override)."""
    builtin = is_builtin_plugin(plugin)
    accepted: list[type[ExecutionProvider]] = []
    replaced: list[tuple[str, type[ExecutionProvider]]] = []
    for cls in classes:
        if any(cls is c for _, c in chosen) or any(cls is c for c in accepted):
            continue  # the same class declared twice (e.g. a plugin registered under two names)
        owners = [(p, c) for p, c in chosen if _keys(c) & _keys(cls)] + [(plugin, c) for c in accepted
                                                                          if _keys(c) & _keys(cls)]
        if owners:
            overrides = getattr(cls, "overrides_builtin", False) is True
            if builtin or not overrides or not all(is_builtin_plugin(p) for p, _ in owners):
                owner_plugin, owner = owners[0]
                taken = ", ".join(map(repr, sorted(_keys(owner) & _keys(cls))))
                why = (f"declares provider {cls.name} whose name or alias {taken} belongs to provider "
                       f"{owner.name} of plugin {owner_plugin!r}")
                if is_builtin_plugin(owner_plugin) and not builtin:
                    why += " (built-in; a provider class replaces it only by setting overrides_builtin = True)"
                return [], [], why
            replaced += owners
        accepted.append(cls)
    return accepted, replaced, None


def provider_classes() -> list[type[ExecutionProvider]]:
    """Every provider class the loaded plugins declare, built-in ones first.

    A name or alias (in any case) belongs to the first class declaring it, built-in providers
    before third-party ones. A third-party plugin declaring a taken name is skipped with a
    PluginWarning, unless every class it collides with is built-in and its class sets
    `overrides_builtin = True`: then it replaces those (with a warning).
    """
    answers = call_each("ep_runtime_providers", check=checked_provider_classes)
    answers.sort(key=lambda pair: not is_builtin_plugin(pair[0]))  # stable: plugin order kept otherwise
    chosen: list[tuple[str, type[ExecutionProvider]]] = []  # (plugin, class)
    for plugin, classes in answers:
        accepted, replaced, problem = _admit(plugin, classes, chosen)
        if problem is not None:
            skip_plugin(plugin, problem)
            continue
        for p, c in replaced:
            warn_once(f"ep_runtime plugin {plugin!r} replaces built-in provider {c.name} of plugin {p!r} "
                      f"(its class sets overrides_builtin = True)", stacklevel=3)
        chosen = [(p, c) for p, c in chosen if all(c is not r for _, r in replaced)]
        chosen += [(plugin, c) for c in accepted]
    for plugin, cls in chosen:
        if is_builtin_plugin(plugin):
            _builtin_classes.add(cls)
    return [cls for _, cls in chosen]


def find_provider_class(name: str) -> type[ExecutionProvider]:
    """The provider class called `name` (full name, or alias in any case)."""
    classes = provider_classes()
    for cls in classes:
        if name == cls.name:
            return cls
    low = name.lower()
    for cls in classes:
        if low == cls.name.lower() or low in (a.lower() for a in cls.aliases):
            return cls
    known = ", ".join(f"{c.name} ({'/'.join(c.aliases)})" if c.aliases else c.name for c in classes)
    raise ProviderError(f"unknown execution provider {name!r}; installed providers: {known or 'none'}")


def available_providers() -> list[str]:
    """Names of installed providers whose device is present, CPU last (onnxruntime's order)."""
    names = []
    for cls in provider_classes():
        try:
            ok = cls.is_available()
        except KeyboardInterrupt:
            raise
        except BaseException:  # a plugin's broken check (even sys.exit) means unavailable
            ok = False
        if ok:
            names.append(cls.name)
    return sorted(names, key=lambda n: n == CPU)


def kernel_overrides(provider_name: str) -> KernelRegistry | None:
    """Kernels plugins add to or replace in the named provider, merged in plugin order."""
    found = call_each("ep_runtime_kernels", check=checked_kernel_registry, provider_name=provider_name)
    if not found:
        return None
    merged = KernelRegistry()
    for _, reg in found:
        merged.update(reg)
    return merged


def is_reference_provider(provider: ExecutionProvider) -> bool:
    """Whether `provider` is the built-in CPU provider with no plugin kernels (the reference)."""
    try:
        return provider in _reference_instances
    except TypeError:  # an unhashable provider is not ours
        return False


def reference_provider() -> ExecutionProvider:
    """A new built-in CPU provider without any plugin kernels: the reference other providers (and
    plugin kernel overrides of the CPU provider itself) are held to."""
    provider_classes()  # records the built-in classes
    builtin = [c for c in _builtin_classes if c.name == CPU]
    if not builtin:
        raise ProviderError("the built-in CPUExecutionProvider is not installed (its plugin did not load), so "
                            "there is no reference provider")
    provider = builtin[0]()
    _reference_instances.add(provider)
    return provider


def unavailable_reason(cls: type[ExecutionProvider]) -> str | None:
    """Why the provider cannot be used here (None when it is available); a broken check is a reason."""
    reason = None
    try:
        reason = cls.unavailable_reason()
        if reason is None and not cls.is_available():
            reason = "its is_available() returned False"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        reason = f"its availability check raised {exc!r}"
    return reason


def create_provider(cls: type[ExecutionProvider], options: dict[str, Any]) -> ExecutionProvider:
    """Instantiate a provider with its options (and plugin kernel overrides for kernel providers)."""
    reason = unavailable_reason(cls)
    if reason is not None:
        raise ProviderError(f"execution provider {cls.name} is not available: {reason}")
    try:
        if not issubclass(cls, KernelProvider):
            return cls(**options)
        extra = kernel_overrides(cls.name)
        provider = cls(extra_kernels=extra, **options)
        if extra is None and cls.name == CPU and cls in _builtin_classes:
            _reference_instances.add(provider)
        return provider
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(f"execution provider {cls.name} could not be created with options "
                            f"{options!r}: {type(exc).__name__}: {exc}") from exc


def distinct_instances(made: list[tuple[ExecutionProvider, dict[str, Any]]]) -> list[ExecutionProvider]:
    """The session's providers, each with a name of its own. A provider listed more than once (with
    different options) runs as several instances when each is on a device of its own: each is then named
    `<name>[<device>]`, e.g. `OpenCLExecutionProvider[opencl:0:1]`. Two instances on one device are a
    ProviderError naming the provider, both options and the device."""
    by_class: dict[type, list[tuple[ExecutionProvider, dict[str, Any]]]] = {}
    for provider, opts in made:
        by_class.setdefault(type(provider), []).append((provider, opts))
    for cls, group in by_class.items():
        if len(group) < 2:
            continue
        seen: dict[str, dict[str, Any]] = {}
        for provider, opts in group:
            if provider.device in seen:
                raise ProviderError(
                    f"execution provider {cls.name} is listed twice, with options {seen[provider.device]!r} and "
                    f"{opts!r}, and both instances are on device {provider.device!r}: list it once, or give each "
                    "entry options that select another device (two instances need two devices)")
            seen[provider.device] = opts
        for provider, _ in group:
            provider.name = f"{cls.name}[{provider.device}]"  # type: ignore[misc]
    return [provider for provider, _ in made]

