"""The pluggy plugin module that contributes the CPU provider (entry point `cpu` in pyproject)."""

from __future__ import annotations

from ep_runtime.plugins import hookimpl

from . import CPUExecutionProvider


@hookimpl
def ep_runtime_providers() -> list[type]:
    """The reference CPU provider."""
    return [CPUExecutionProvider]
