"""OpenCLExecutionProvider: kernels in OpenCL C launched through pyopencl, values as device arrays.

Values stay on the device as `pyopencl.array.Array` across a whole subgraph; the only copies
between host and device are the ones the partitioner plans (`to_device` / `to_host`, counted
in `to_device_calls` / `to_host_calls` by the DeviceProvider base).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ep_runtime.device_provider import DeviceProvider
from ep_runtime.errors import ProviderError
from ep_runtime.graph import Graph, Node
from ep_runtime.provider import KernelDef, KernelRegistry

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


class OpenCLExecutionProvider(DeviceProvider):
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
    storable_dtypes: ClassVar[frozenset[np.dtype]] = STORABLE

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

    def refuse_dtype(self, dtype: np.dtype, node: Node) -> str | None:
        """Floats must be float32, or float16 where the device has cl_khr_fp16 (Cast converts without it);
        other dtypes must be storable."""
        if dtype == np.float16 and not self.fp16 and node.op_type != "Cast":
            return f"float16 not supported on this device ({self.cl.label} has no cl_khr_fp16)"
        return super().refuse_dtype(dtype, node)

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

    def upload(self, array: np.ndarray) -> Any:
        return self.rt.to_device(array)

    def download(self, value: Any) -> np.ndarray:
        return materialize(self.rt, value).get(queue=self.queue)


__all__ = ["DEVICE_ENV", "OpenCLExecutionProvider", "parse_device_env"]
