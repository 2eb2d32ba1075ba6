"""DeviceProvider: what every kernel provider whose values live off the host shares.

Its host <-> device copies are counted (`to_device_calls`, `to_host_calls`), so a test can prove that
values cross only where the partition plans a copy; a node reading or writing a tensor of a dtype the
device cannot hold is refused (kind `dtype`) before any kernel is asked. Subclasses say how a value
moves (`upload`, `download`), which dtypes the device holds (`storable_dtypes`, or `refuse_dtype` for a
rule that depends on the device), and implement `synchronize` when their work is queued.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .graph import Graph, Node
from .provider import KernelProvider, KernelRegistry, Refusal, device_tensors


class DeviceProvider(KernelProvider):
    """A KernelProvider on a device other than the host: counted transfers, refusals of unstorable dtypes."""

    #: the dtypes a value may have on the device; a node touching another dtype is refused
    storable_dtypes: ClassVar[frozenset[np.dtype]] = frozenset()

    def __init__(self, *, extra_kernels: KernelRegistry | None = None, **options: Any) -> None:
        super().__init__(extra_kernels=extra_kernels, **options)
        self.to_device_calls = 0
        self.to_host_calls = 0

    # ------------------------------------------------------------------ transfers

    def to_device(self, array: np.ndarray) -> Any:
        """Copy a host array to the device (counted in `to_device_calls`)."""
        self.to_device_calls += 1
        return self.upload(np.asarray(array))

    def to_host(self, value: Any) -> np.ndarray:
        """Copy a device value to a host array (counted in `to_host_calls`); a host value is returned as it is."""
        if self.is_host_value(value):
            return value
        self.to_host_calls += 1
        return self.download(value)

    def upload(self, array: np.ndarray) -> Any:
        """The device copy of a host array."""
        raise NotImplementedError

    def download(self, value: Any) -> np.ndarray:
        """The host copy of a device value."""
        raise NotImplementedError

    def is_host_value(self, value: Any) -> bool:
        """Whether `value` is already a host array (not a device value): to_host then has nothing to copy."""
        return isinstance(value, np.ndarray)

    # ------------------------------------------------------------------ capability

    def refuse_node(self, node: Node, graph: Graph) -> Refusal | None:
        """Refuse a node when a tensor it reads or writes on the device (host-only and shape-only inputs
        left out) is not a tensor, or of a dtype the device cannot hold (`refuse_dtype`)."""
        outputs = set(node.outputs)
        for name in device_tensors(node):
            role = "output" if name in outputs else "input"
            info = graph.value(name)
            if info.kind not in ("tensor", "unknown"):
                return Refusal("dtype", f"{role} {name!r} is a {info.kind}, not a tensor")
            dtype = info.dtype
            if dtype is None and name in graph.initializers:
                dtype = graph.initializers[name].dtype
            if dtype is None:
                continue  # unknown here: the kernel's own dtypes= check decides
            why = self.refuse_dtype(np.dtype(dtype), node)
            if why is not None:
                return Refusal("dtype", why)
        return None

    def refuse_dtype(self, dtype: np.dtype, node: Node) -> str | None:
        """Why a tensor of `dtype` cannot be on this device for `node`, or None."""
        if dtype not in self.storable_dtypes:
            return f"{dtype} not supported on {self.name}"
        return None


__all__ = ["DeviceProvider"]
