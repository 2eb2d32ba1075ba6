"""OpenCLExecutionProvider: kernels in OpenCL C launched through pyopencl, values as device arrays.

Values stay on the device as `pyopencl.array.Array` across a whole subgraph; the only copies
between host and device are the ones the partitioner plans (`to_device` / `to_host`, counted
in `to_device_calls` / `to_host_calls`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ep_runtime.errors import ProviderError
from ep_runtime.graph import Graph, Node
from ep_runtime.provider import KernelDef, KernelProvider, KernelRegistry, Refusal, device_tensors

from ._cl import IMPORT_ERROR, cl
from .copies import is_view, materialize
from .registry import REGISTRY
from .runtime import DEVICE_ENV, Device, Launcher, list_devices, parse_device_env, select_device

#: ops that take a non-contiguous view (a lazy Transpose) as it is; every other kernel gets its view
#: inputs materialized first (one strided copy), the way numpy's reshape copies a transposed view.
VIEW_OPS = frozenset({"Transpose", "Identity"})

#: dtypes a value may have anywhere on the device (float16 only with cl_khr_fp16).
STORABLE = frozenset(np.dtype(t) for t in (np.float32, np.float16, np.int64, np.int32, np.int8, np.uint8,
                                           np.bool_, np.int16, np.uint16, np.uint32, np.uint64))


class OpenCLExecutionProvider(KernelProvider):
    """Runs float32 (and, where the device has cl_khr_fp16, float16) nodes on an OpenCL device.

    Options: `platform_id` and `device_id` (indices as `clinfo -l` lists them; also from the
    environment variable EP_RUNTIME_OPENCL_DEVICE=`platform:device`), `enable_fp16` (default
    True: float16 where the device supports it), `matmul_kernel` ("auto": local-memory tiles on
    GPUs, register blocks on CPU devices; "tiled" or "register" to force one).
    """

    name = "OpenCLExecutionProvider"
    aliases = ("opencl",)
    device = "opencl"
    known_options: ClassVar[frozenset[str]] = frozenset(
        {"platform_id", "device_id", "enable_fp16", "matmul_kernel"})
    registry: ClassVar[KernelRegistry] = REGISTRY

    def __init__(self, *, extra_kernels: KernelRegistry | None = None, **options: Any) -> None:
        super().__init__(extra_kernels=extra_kernels, **options)
        for key in ("platform_id", "device_id"):
            if key in options and options[key] is not None:
                try:
                    options[key] = int(options[key])
                except (TypeError, ValueError):
                    raise ProviderError(f"{self.name}: option {key} must be an integer, got {options[key]!r}") from None
        p_i, d_i, cl_device = select_device(options.get("platform_id"), options.get("device_id"))
        self.cl = Device.get(cl_device)
        self.device = f"opencl:{p_i}:{d_i}"
        self.queue = cl.CommandQueue(self.cl.context)
        self.rt = Launcher(self.cl, self.queue)
        self.fp16 = self.cl.fp16 and bool(options.get("enable_fp16", True))
        mode = options.get("matmul_kernel", "auto")
        if mode not in ("auto", "tiled", "register"):
            raise ProviderError(f"{self.name}: matmul_kernel must be 'auto', 'tiled' or 'register', got {mode!r}")
        if mode != "auto":
            self.rt.gemm_mode = mode
        self.to_device_calls = 0
        self.to_host_calls = 0

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            if IMPORT_ERROR is not None:
                return IMPORT_ERROR
            if not list_devices():
                return "no OpenCL platform or device found (install a driver, e.g. pocl-binary-distribution)"
            return None
        except Exception as exc:  # never raise from an availability check
            return f"probing OpenCL failed: {type(exc).__name__}: {exc}"

    @property
    def device_name(self) -> str:
        return self.cl.label

    # ------------------------------------------------------------------ capability

    def refuse_node(self, node: Node, graph: Graph) -> Refusal | None:
        """Provider-wide dtype check: every tensor the node reads or writes must be storable, and
        floats must be float32 (or float16 with cl_khr_fp16)."""
        outputs = set(node.outputs)
        for name in device_tensors(node):
            role = "output" if name in outputs else "input"
            info = graph.value(name)
            if info.kind not in ("tensor", "unknown"):
                return Refusal("dtype", f"{role} {name!r} is a {info.kind}, not a tensor")
            dt = info.dtype
            if dt is None:
                if name in graph.initializers:
                    dt = graph.initializers[name].dtype
                else:
                    continue  # checked by the kernel's own dtypes= where it matters
            if dt == np.float16 and not self.fp16 and node.op_type != "Cast":  # Cast converts without fp16
                return Refusal("dtype", f"float16 not supported on this device ({self.cl.label} has no cl_khr_fp16)")
            if dt not in STORABLE:
                return Refusal("dtype", f"{dt} not supported on OpenCL")
        return None

    # ------------------------------------------------------------------ compile and run

    def kernel_call(self, kdef: KernelDef, node: Node, graph: Graph) -> Callable[..., Any]:
        fn = super().kernel_call(kdef, node, graph)
        if node.op_type in VIEW_OPS:
            return fn
        rt = self.rt

        def call(*args: Any, **kwargs: Any) -> Any:
            if any(is_view(a) for a in args):
                args = tuple(materialize(rt, a) for a in args)
            return fn(*args, **kwargs)

        return call

    def synchronize(self) -> None:
        """Wait for the queued kernels (the core calls this before timing a node when profiling)."""
        self.queue.finish()

    def to_device(self, array: np.ndarray) -> Any:
        if not isinstance(array, np.ndarray):
            array = np.asarray(array)
        self.to_device_calls += 1
        return self.rt.to_device(array)

    def to_host(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        self.to_host_calls += 1
        return materialize(self.rt, value).get(queue=self.queue)


__all__ = ["DEVICE_ENV", "OpenCLExecutionProvider", "parse_device_env"]
