"""Array-module providers: kernels written once against `xp` (numpy, cupy, any numpy-like module).

A device provider whose arrays come from a numpy-compatible module (CuPy for CUDA) writes its
kernels as `xp = get_array_module(x)` followed by `xp.` calls, so that the same kernel body
runs on the device and, with numpy standing in, on the host in CI. This module holds what such
providers share: finding the module of a value without importing it, axis and window helpers,
and `ArrayModuleProvider`, a KernelProvider that keeps values as arrays of one module, counts
its host <-> device copies and refuses dtypes the module cannot hold.

It imports no provider and no device library: `cupy` is only looked up in `sys.modules`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from .errors import ProviderError
from .graph import Graph, Node
from .host_inputs import host_input_positions, metadata_input_positions
from .op_shapes import ints, normalize_axes, normalize_axis, prod, window_slices
from .provider import KernelProvider, KernelRegistry, Refusal

#: array modules a provider may name in its `array_module` option
ARRAY_MODULES = ("numpy", "cupy")


def get_array_module(*values: Any) -> ModuleType:
    """The array module of the first device array among `values`: cupy for a cupy.ndarray,
    else numpy. Never imports cupy (if it is not imported, no value can be a cupy array)."""
    cp = sys.modules.get("cupy")
    if cp is not None:
        for v in values:
            if isinstance(v, cp.ndarray):
                return cp
    return np


def import_array_module(name: str) -> ModuleType:
    """The array module called `name` ("numpy" or "cupy"), imported; ProviderError otherwise."""
    if name not in ARRAY_MODULES:
        raise ProviderError(f"array_module must be one of {list(ARRAY_MODULES)}, got {name!r}")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ProviderError(f"array module {name!r} cannot be imported: {exc}") from exc


def is_numpy(xp: ModuleType) -> bool:
    return xp is np












def broadcast_shape(*shapes: Sequence[int], op: str = "") -> tuple[int, ...]:
    """The numpy-broadcast shape of `shapes`; ValueError naming the op and the shapes otherwise."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise ValueError(f"{op}: shapes {[list(s) for s in shapes]} cannot be broadcast together") from None


class ArrayModuleProvider(KernelProvider):
    """A KernelProvider whose device values are arrays of one array module (`self.xp`).

    Subclasses choose the module in their constructor (`xp=`). `to_device` / `to_host` copy
    (even when numpy stands in for the device, so aliasing bugs show up as on a real device)
    and count themselves in `to_device_calls` / `to_host_calls`: a test proves that copies
    happen only at the partitioner's boundaries. `refuse_node` refuses any node reading or
    writing a tensor whose dtype is not in `storable_dtypes`.
    """

    storable_dtypes: ClassVar[frozenset[np.dtype]] = frozenset(np.dtype(t) for t in (
        np.float32, np.float16, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.bool_))

    def __init__(self, *, xp: ModuleType, extra_kernels: KernelRegistry | None = None, **options: Any) -> None:
        super().__init__(extra_kernels=extra_kernels, **options)
        self.xp = xp
        self.to_device_calls = 0
        self.to_host_calls = 0

    def refuse_node(self, node: Node, graph: Graph) -> Refusal | None:
        skip = set(metadata_input_positions(node)) | set(host_input_positions(node))
        names = [(n, "input") for i, n in enumerate(node.inputs) if n and i not in skip]
        names += [(n, "output") for n in node.outputs if n]
        for name, role in names:
            info = graph.value(name)
            if info.kind not in ("tensor", "unknown"):
                return Refusal("dtype", f"{role} {name!r} is a {info.kind}, not a tensor")
            dt = info.dtype
            if dt is None and name in graph.initializers:
                dt = graph.initializers[name].dtype
            if dt is not None and dt not in self.storable_dtypes:
                return Refusal("dtype", f"{dt} not supported on {self.name}")
        return None

    def to_device(self, array: np.ndarray) -> Any:
        self.to_device_calls += 1
        return self.xp.array(np.asarray(array), copy=True)

    def to_host(self, value: Any) -> np.ndarray:
        self.to_host_calls += 1
        if isinstance(value, np.ndarray):
            return np.array(value, copy=True)
        if isinstance(value, np.generic):
            return np.asarray(value)
        return value.get()


__all__ = ["ARRAY_MODULES", "ArrayModuleProvider", "broadcast_shape", "get_array_module", "import_array_module",
           "ints", "is_numpy", "normalize_axes", "normalize_axis", "prod", "window_slices"]
