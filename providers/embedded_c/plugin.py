"""The pluggy plugin module of the embedded C provider (entry point `embedded_c` in pyproject).

Importing it needs no C compiler: the library is built at first use.
"""

from __future__ import annotations

from typing import Any

from ep_runtime.plugins import hookimpl

from . import export
from .provider import EmbeddedCExecutionProvider


@hookimpl
def ep_runtime_providers() -> list[type]:
    """The embedded C provider."""
    return [EmbeddedCExecutionProvider]


@hookimpl
def ep_runtime_add_commands(subparsers: Any) -> None:
    """`ep-runtime export-c model.onnx -o outdir/` (`ep-runtime check-kernel OP=FILE.c`, the C kernel gate, is
    the core's: ep_runtime.testing.gate, with providers.embedded_c.gate for the ops sharing a kernel)."""
    export.add_command(subparsers)
