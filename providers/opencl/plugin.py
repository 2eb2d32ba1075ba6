"""The pluggy plugin module that contributes the OpenCL provider (entry point `opencl` in pyproject).

It imports without pyopencl: the provider is then listed but unavailable, with the reason.
"""

from __future__ import annotations

from ep_runtime.plugins import hookimpl

from . import OpenCLExecutionProvider


@hookimpl
def ep_runtime_providers() -> list[type]:
    """The OpenCL provider."""
    return [OpenCLExecutionProvider]
