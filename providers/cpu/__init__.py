"""The reference CPU execution provider: numpy kernels for the ONNX operator set.

Kernels are plain functions grouped by family, one module a family (`elementwise`, `matmul`,
`conv`, `pool`, `normalization`, `reduce`, `softmax`, `tensor`, `sequence`, `string`); each
registers itself into `REGISTRY` with the `@kernel(op_type, since=..., until=...)` decorator,
once per range of operator versions with the same semantics. Values are numpy arrays on the
host, sequences are Python lists of arrays.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from ep_runtime.graph import SubGraph
from ep_runtime.provider import KernelProvider, KernelRegistry

from .registry import REGISTRY

# Importing a kernel module registers its kernels: import every module of this package.
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("plugin", "registry") and not _module.name.startswith("__"):
        importlib.import_module(f"{__name__}.{_module.name}")


class CPUExecutionProvider(KernelProvider):
    """The reference provider: runs every node it has a kernel for with numpy on the host.

    It is the fallback the partitioner appends after the user's providers; its kernels are the
    reference that device providers' kernels are tested against.
    """

    name = "CPUExecutionProvider"
    aliases = ("cpu",)
    device = "cpu"
    registry = REGISTRY
    #: onnxruntime's CPU provider options, accepted so that onnxruntime code runs unchanged; none has an
    #: effect (numpy allocates, there is no memory arena to configure). Other names are a ProviderError.
    known_options = frozenset({
        "arena_extend_strategy", "use_arena", "initial_chunk_size_bytes", "initial_growth_chunk_size_bytes",
        "max_dead_bytes_per_chunk", "max_mem", "max_power_of_two_extend_bytes",
    })

    def __init__(self, *, extra_kernels: KernelRegistry | None = None, **options: Any) -> None:
        """Accepts onnxruntime's CPU provider options (without effect); an unknown one is a ProviderError."""
        super().__init__(extra_kernels=extra_kernels, **options)

    def compile(self, subgraph: SubGraph) -> Callable[..., tuple]:
        """Compile the subgraph after CPU-specific fusions (Conv with its residual Add and Relu, affine
        chains), unless the session turned graph optimizations off."""
        from .fusion import fuse_subgraph

        if subgraph.optimization_level <= 0:
            return super().compile(subgraph)
        return super().compile(fuse_subgraph(subgraph))


__all__ = ["CPUExecutionProvider", "REGISTRY"]
