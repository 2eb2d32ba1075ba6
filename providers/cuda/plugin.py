"""The pluggy plugin module that contributes the CUDA provider (entry point `cuda` in pyproject).

It imports without CuPy: the provider is then listed but unavailable, with the reason.
"""

from __future__ import annotations

from ep_runtime.plugins import hookimpl

from . import CUDAExecutionProvider


@hookimpl
def ep_runtime_providers() -> list[type]:
    """The CUDA provider."""
    return [CUDAExecutionProvider]
