"""The plugin module named by this package's `ep_runtime` entry point.

ep-runtime imports it on first use and registers it with its pluggy plugin manager; the
functions marked `@hookimpl` below answer the two hooks of `ep_runtime.plugins.hookspecs`.
"""

from __future__ import annotations

from ep_runtime import ExecutionProvider, KernelRegistry, hookimpl

from .provider import ExampleExecutionProvider
from .vendor import VENDOR_KERNELS

#: The provider whose kernels this plugin overrides.
CPU = "CPUExecutionProvider"


@hookimpl
def ep_runtime_providers() -> list[type[ExecutionProvider]]:
    """The providers this package adds."""
    return [ExampleExecutionProvider]


@hookimpl
def ep_runtime_kernels(provider_name: str) -> KernelRegistry | None:
    """Kernels that replace some of the named provider's: the vendor LeakyRelu for the CPU."""
    if provider_name == CPU:
        return VENDOR_KERNELS
    return None
