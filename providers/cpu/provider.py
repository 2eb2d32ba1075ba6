"""CPUExecutionProvider: the reference provider, numpy kernels on the host (`providers.cpu.REGISTRY`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ep_runtime.graph import SubGraph
from ep_runtime.provider import HOST, CompileOptions, KernelProvider, KernelRegistry

from .fusion import fuse_subgraph
from .registry import REGISTRY


class CPUExecutionProvider(KernelProvider):
    """The reference provider: runs every node it has a kernel for with numpy on the host.

    It is the fallback the partitioner appends after the user's providers; its kernels are the
    reference that device providers' kernels are tested against.
    """

    name = "CPUExecutionProvider"
    aliases = ("cpu",)
    device = HOST
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

    def compile(self, subgraph: SubGraph, options: CompileOptions | None = None) -> Callable[..., tuple]:
        """Compile the subgraph after CPU-specific fusions (Conv with its residual Add and Relu, affine
        chains), unless the session turned graph optimizations off."""
        options = options if options is not None else CompileOptions.carried_by(subgraph)
        return super().compile(fuse_subgraph(subgraph) if options.fuse else subgraph, options)

    def synchronize(self) -> None:
        """Nothing to wait for: every kernel has finished when it returns."""


__all__ = ["CPUExecutionProvider"]
