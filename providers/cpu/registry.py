"""The CPU provider's kernel registry; every kernel module registers into it with `@kernel`."""

from __future__ import annotations

from ep_runtime.provider import KernelRegistry

#: All numpy kernels of the CPU provider, keyed by (domain, op_type) and operator version range.
REGISTRY = KernelRegistry()

#: Decorator: `@kernel("Relu", since=6)` registers a plain function (see KernelRegistry.kernel).
kernel = REGISTRY.kernel
