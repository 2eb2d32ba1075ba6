"""The host memory arena (SessionOptions.enable_cpu_mem_arena, on by default, as in onnxruntime): during a
run, numpy allocates through csrc/host_arena.c's handler, which keeps the blocks of large freed arrays
(4 MiB and more; at most 16 blocks and 1 GiB) and gives them to later allocations of about the same size.

glibc maps every block above 32 MiB fresh from the kernel and unmaps it on free, so without the arena a
model with such an intermediate page-faults it in on every run (tashkeel's 32 MiB attention sum: 2 ms of a
3 ms addition). The handler is numpy's per-context handler, installed for the run only: the caller's own
arrays and other threads keep theirs. Arrays made in a run return their blocks to the arena whenever they
are freed, even after the run. `trim()` sends the cached blocks back to the system. Without the compiled
module (no compiler at install) runs use numpy's allocator.
"""

from __future__ import annotations

from typing import Any

try:
    from . import _host_arena as _native
except ImportError:  # built without a C compiler
    _native = None

#: whether the arena can be used in this installation
AVAILABLE = _native is not None


def enter() -> Any:
    """Make the arena numpy's memory handler in the current context; returns what `leave` needs."""
    return _native.enter() if _native is not None else None


def leave(previous: Any) -> None:
    """Give the current context back the handler `enter` replaced."""
    if _native is not None:
        _native.leave(previous)


def trim() -> None:
    """Send every cached block back to the system (arrays in use keep theirs)."""
    if _native is not None:
        _native.trim()


def stats() -> tuple[int, int, int, int]:
    """(cached blocks, cached bytes, allocations served from the cache, large allocations it could not serve)."""
    return _native.stats() if _native is not None else (0, 0, 0, 0)
