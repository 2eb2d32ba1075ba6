"""The CUDA provider's kernel registry. Most of its kernels are the CPU provider's array-module
kernels (written against `xp`), registered here with `share`; the CUDA modules add `@kernel`s of
their own only where the GPU has something the shared form lacks (a raw CUDA C launcher)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.provider import KernelDef, KernelRegistry, Refusal
from providers.cpu.registry import REGISTRY as CPU_REGISTRY

#: All kernels of the CUDA provider, keyed by (domain, op_type) and operator version range.
REGISTRY = KernelRegistry()

#: Decorator: `@kernel("Relu", since=6)` (see KernelRegistry.kernel).
kernel = REGISTRY.kernel


def _cpu_definitions(op: str, fn: Callable[..., Any], domain: str) -> list[KernelDef]:
    """The CPU registry's definitions of `op` whose function is `fn` (native overrides looked through)."""
    found = []
    for k in CPU_REGISTRY.versions(op, domain):
        while k is not None:
            if k.fn is fn:
                found.append(k)
                break
            k = k.fallback
    return found


def share(op: str, fn: Callable[..., Any], *, since: int | None = None, domain: str = "",
          dtypes: Any = None, supports: Callable[[Node, Graph], str | Refusal | None] | None = None) -> None:
    """Register the CPU provider's kernel function `fn` for `op` (a shared kernel, written against
    `xp`) with the version range and flags the CPU registered it with: from `since` on when given,
    restricted by CUDA's own `dtypes` / `supports`. A function the CPU does not register for `op`
    is a programming error (ValueError)."""
    defs = _cpu_definitions(op, fn, domain)
    if not defs:
        raise ValueError(f"CUDA: {getattr(fn, '__qualname__', fn)!r} is not a CPU kernel of {op}")
    for k in defs:
        start = k.since if since is None else max(k.since, since)
        if k.until is not None and k.until < start:
            continue
        REGISTRY.add(dataclasses.replace(
            k, since=start, impl="default", fallback=None,
            supports=supports if supports is not None else k.supports,
            dtypes=frozenset(np.dtype(d) for d in dtypes) if dtypes is not None else k.dtypes))

#: The float dtypes the float-only kernels take.
FLOATS = (np.float32, np.float16, np.float64)
