"""Plugins registered for the span of a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ep_runtime.plugins import get_plugin_manager


@contextmanager
def registered_plugin(plugin: object, name: str) -> Iterator[object]:
    """Register `plugin` with ep-runtime's plugin manager under `name` for the block, then unregister it."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        yield plugin
    finally:
        pm.unregister(name=name)
