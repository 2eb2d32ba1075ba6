"""The providers known through plugins: lookup by name or alias, availability, kernel overrides."""

from __future__ import annotations

import warnings
from typing import Any

from .errors import ProviderError
from .plugins import PluginWarning, call_each
from .provider import ExecutionProvider, KernelProvider, KernelRegistry

CPU = "CPUExecutionProvider"


def provider_classes() -> list[type[ExecutionProvider]]:
    """Every provider class the loaded plugins declare, the first declaration of a name winning."""
    seen: dict[str, type[ExecutionProvider]] = {}
    for plugin, classes in call_each("ep_runtime_providers"):
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, ExecutionProvider) and cls.name):
                warnings.warn(f"ep_runtime plugin {plugin!r} returned {cls!r}, which is not an "
                              "ExecutionProvider subclass with a name; ignored", PluginWarning, stacklevel=2)
                continue
            seen.setdefault(cls.name, cls)
    return list(seen.values())


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
        except Exception:
            ok = False
        if ok:
            names.append(cls.name)
    return sorted(names, key=lambda n: n == CPU)


def kernel_overrides(provider_name: str) -> KernelRegistry | None:
    """Kernels plugins add to or replace in the named provider, merged in plugin order."""
    found = call_each("ep_runtime_kernels", provider_name=provider_name)
    if not found:
        return None
    merged = KernelRegistry()
    for plugin, reg in found:
        if not isinstance(reg, KernelRegistry):
            warnings.warn(f"ep_runtime plugin {plugin!r} returned {type(reg).__name__} from "
                          "ep_runtime_kernels instead of a KernelRegistry; ignored", PluginWarning, stacklevel=2)
            continue
        merged.update(reg)
    return merged


def create_provider(cls: type[ExecutionProvider], options: dict[str, Any]) -> ExecutionProvider:
    """Instantiate a provider with its options (and plugin kernel overrides for kernel providers)."""
    reason = None
    try:
        reason = cls.unavailable_reason()
        if reason is None and not cls.is_available():
            reason = "its is_available() returned False"
    except Exception as exc:
        reason = f"its availability check raised {exc!r}"
    if reason is not None:
        raise ProviderError(f"execution provider {cls.name} is not available: {reason}")
    try:
        if issubclass(cls, KernelProvider):
            return cls(extra_kernels=kernel_overrides(cls.name), **options)
        return cls(**options)
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(f"execution provider {cls.name} could not be created with options "
                            f"{options!r}: {type(exc).__name__}: {exc}") from exc
