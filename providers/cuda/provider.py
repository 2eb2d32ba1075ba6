"""CUDAExecutionProvider: values are `cupy.ndarray`s on one GPU across a whole subgraph; the only
host <-> device copies are the ones the partitioner plans (`to_device` / `to_host`, counted).

Every kernel is written against the array module `xp`. With the option `array_module="numpy"`
(or the environment variable EP_RUNTIME_CUDA_ARRAY_MODULE=numpy) numpy stands in for CuPy:
for testing only, so that partitioning, shapes, dtype rules, transfer counting and every kernel's
Python logic run in CI without a GPU (the raw CUDA C kernels then take their xp form).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ep_runtime.array_module import ArrayModuleProvider, import_array_module
from ep_runtime.errors import ProviderError
from ep_runtime.graph import SubGraph
from ep_runtime.provider import CompileOptions, KernelRegistry

from . import raw
from ._cupy import IMPORT_ERROR, cp
from .registry import REGISTRY

#: "numpy" makes numpy stand in for CuPy (testing only): the provider is then available without a GPU.
ARRAY_MODULE_ENV = "EP_RUNTIME_CUDA_ARRAY_MODULE"
#: onnxruntime CUDA options accepted for compatibility and ignored (CuPy's pool and cuBLAS decide)
IGNORED_ORT_OPTIONS = frozenset({"arena_extend_strategy", "cudnn_conv_algo_search", "do_copy_in_default_stream",
                                 "cudnn_conv_use_max_workspace"})


def _stand_in_requested() -> bool:
    return os.environ.get(ARRAY_MODULE_ENV, "").strip().lower() == "numpy"


def _int_option(name: str, value: Any, provider: str) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ProviderError(f"{provider}: option {name} must be an integer, got {value!r}") from None
    if out < 0:
        raise ProviderError(f"{provider}: option {name} must be >= 0, got {out}")
    return out


class CUDAExecutionProvider(ArrayModuleProvider):
    """Runs nodes on an NVIDIA GPU through CuPy.

    Options: `device_id` (default 0), `gpu_mem_limit` (bytes; the limit of CuPy's memory pool
    on that device, as onnxruntime's option of the same name), `raw_kernels` (default True:
    launch the raw CUDA C kernels where there are some; False runs their xp form, for
    bisecting), `array_module` ("cupy", or "numpy" to stand in for CuPy in tests). The
    onnxruntime options arena_extend_strategy, cudnn_conv_algo_search, do_copy_in_default_stream
    and cudnn_conv_use_max_workspace are accepted and ignored.

    Each provider instance (one per session) launches all its work on its own CUDA stream, and
    a run of one of its subgraphs holds the instance's lock, so sessions may be run from several
    threads at once.
    """

    name = "CUDAExecutionProvider"
    aliases = ("cuda",)
    device = "cuda:0"
    known_options: ClassVar[frozenset[str]] = frozenset(
        {"device_id", "gpu_mem_limit", "array_module", "raw_kernels"}) | IGNORED_ORT_OPTIONS
    registry: ClassVar[KernelRegistry] = REGISTRY

    def __init__(self, *, extra_kernels: KernelRegistry | None = None, **options: Any) -> None:
        module = options.get("array_module") or ("numpy" if _stand_in_requested() else "cupy")
        xp = import_array_module(str(module))
        super().__init__(xp=xp, extra_kernels=extra_kernels, **options)
        self.stand_in = xp is np
        self.device_id = _int_option("device_id", options.get("device_id", 0), self.name)
        limit = options.get("gpu_mem_limit")
        self.gpu_mem_limit = None if limit is None else _int_option("gpu_mem_limit", limit, self.name)
        self.raw_kernels = bool(options.get("raw_kernels", True))
        self.device = f"cuda:{self.device_id}"
        self._lock = threading.RLock()
        if self.stand_in:
            self.cuda_device = None
            self.stream = None
            return
        count = cp.cuda.runtime.getDeviceCount()
        if self.device_id >= count:
            raise ProviderError(f"{self.name}: device_id {self.device_id} does not exist; "
                                f"{count} CUDA device(s) found")
        self.cuda_device = cp.cuda.Device(self.device_id)
        with self.cuda_device:
            self.stream = cp.cuda.Stream(non_blocking=True)
            if self.gpu_mem_limit is not None:
                cp.get_default_memory_pool().set_limit(size=self.gpu_mem_limit)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            if _stand_in_requested():
                return None
            if IMPORT_ERROR is not None:
                return IMPORT_ERROR
            try:
                count = cp.cuda.runtime.getDeviceCount()
            except Exception as exc:
                return (f"no GPU: CuPy is installed but finds no usable CUDA device "
                        f"({type(exc).__name__}: {exc})")
            if count == 0:
                return "no GPU: CuPy is installed but the CUDA runtime reports 0 devices"
            return None
        except Exception as exc:  # never raise from an availability check
            return f"probing CUDA failed: {type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ compile and run

    def device_context(self) -> contextlib.AbstractContextManager:
        """The context every launch of this provider runs in: its GPU and its stream."""
        if self.stand_in:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(self.cuda_device)
        stack.enter_context(self.stream)
        return stack

    def compile(self, subgraph: SubGraph, options: CompileOptions | None = None) -> Callable[..., tuple]:
        """The kernels of the subgraph, launched on this provider's GPU and stream; a run holds the lock."""
        with self.device_context():
            fn = super().compile(subgraph, options)  # constants are copied to the device here
        lock, context = self._lock, self.device_context

        def run(*args: Any) -> tuple:
            with lock, context():
                return fn(*args)

        return run

    def primitive(self, name: str) -> Callable[..., Any] | None:
        """The raw CUDA C launcher a shared kernel asks for by `name` (raw.PRIMITIVES), on CuPy with
        raw_kernels on; None otherwise, and the kernel runs its xp form."""
        return raw.PRIMITIVES.get(name) if raw.use_raw(self.xp, self) else None

    def synchronize(self) -> None:
        """Wait for the work queued on this provider's stream (the profiler calls it before taking a time)."""
        if self.stream is not None:
            self.stream.synchronize()

    def upload(self, array: np.ndarray) -> Any:
        if self.stand_in:
            return super().upload(array)
        with self._lock, self.device_context():
            return cp.asarray(np.ascontiguousarray(array))

    def download(self, value: Any) -> np.ndarray:
        if self.stand_in or not isinstance(value, cp.ndarray):
            return super().download(value)
        with self._lock, self.device_context():
            out = value.get(stream=self.stream)
            self.stream.synchronize()
        return out


__all__ = ["ARRAY_MODULE_ENV", "CUDAExecutionProvider"]
