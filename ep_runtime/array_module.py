"""Array-module providers: kernels written once against `xp` (numpy, cupy, any numpy-like module).

A device provider whose arrays come from a numpy-compatible module (CuPy for CUDA) writes its
kernels as `xp = get_array_module(x)` followed by `xp.` calls, so that the same kernel body
runs on the device and, with numpy standing in, on the host in CI; the CPU provider registers the
same functions over numpy. This module holds what such kernels share: finding the module of a
value without importing it (`get_array_module`), results as arrays of that module (`as_array`),
the module's unbuffered ufunc.at, a provider's raw device primitives, axis and window helpers,
and `ArrayModuleProvider`, a provider that keeps values as arrays of one module, counts its
host <-> device copies and refuses dtypes the module cannot hold.

It imports no provider and no device library: array modules are only looked up in `sys.modules`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from .device_provider import DeviceProvider
from .errors import ProviderError
from .op_shapes import ints, normalize_axes, normalize_axis, prod, window_slices
from .provider import KernelRegistry

#: array modules a provider may name in its `array_module` option
ARRAY_MODULES = ("numpy", "cupy")


#: array type -> the module it belongs to (numpy for numpy arrays and for anything that is no array
#: of another module in ARRAY_MODULES: scalars, None, Python numbers)
_MODULE_OF_TYPE: dict[type, ModuleType] = {np.ndarray: np}


def array_module_of_type(t: type) -> ModuleType:
    """The array module whose `ndarray` type `t` is (a subclass of), among ARRAY_MODULES; numpy for
    any other type. Modules are only looked up in `sys.modules`, never imported: if a module is not
    imported, no value can be one of its arrays."""
    xp = _MODULE_OF_TYPE.get(t)
    if xp is None:
        xp = np
        name = getattr(t, "__module__", "").partition(".")[0]
        module = sys.modules.get(name) if name in ARRAY_MODULES else None
        array_type = getattr(module, "ndarray", None)
        if isinstance(array_type, type) and issubclass(t, array_type):
            xp = module
        _MODULE_OF_TYPE[t] = xp
    return xp


def get_array_module(*values: Any) -> ModuleType:
    """`xp` for a kernel: the array module (numpy or cupy, any of ARRAY_MODULES) of the first value
    that is an array of a module other than numpy, else numpy."""
    for v in values:
        xp = _MODULE_OF_TYPE.get(type(v)) or array_module_of_type(type(v))
        if xp is not np:
            return xp
    return np


def array_module_of(provider: Any) -> ModuleType:
    """The array module a provider keeps its values in (`provider.xp`; numpy for host providers),
    for kernels that make an output from host inputs only (ConstantOfShape)."""
    return getattr(provider, "xp", np)


def as_array(value: Any, dtype: Any = None) -> Any:
    """`value` as an array of its module, in `dtype` if given (copied only when the dtype differs).
    numpy ufuncs and reductions return numpy scalars for 0-d results: those become 0-d arrays."""
    if type(value) is np.ndarray and (dtype is None or value.dtype == dtype):
        return value
    if array_module_of_type(type(value)) is np:
        return np.asarray(value, dtype=dtype)
    return value if dtype is None or value.dtype == dtype else value.astype(dtype)


def ufunc_at(xp: ModuleType, name: str) -> Callable[[Any, Any, Any], None] | None:
    """The unbuffered in-place form of ufunc `name` (add, multiply, maximum, minimum) on module `xp`:
    `at(out, index, values)` combines values of repeated indices. numpy's `ufunc.at`; on CuPy
    cupyx's scatter_add / scatter_max / scatter_min; None where the module has none."""
    if xp is np:
        return getattr(np, name).at
    if xp.__name__ == "cupy":
        cupyx = importlib.import_module("cupyx")
        return {"add": cupyx.scatter_add, "maximum": cupyx.scatter_max, "minimum": cupyx.scatter_min}.get(name)
    return getattr(getattr(xp, name, None), "at", None)


def device_primitive(provider: Any, name: str) -> Callable[..., Any] | None:
    """The provider's own device implementation of step `name` of a shared kernel (a raw CUDA C
    launcher, say), or None: then the kernel runs its xp form. A provider offers them through a
    `primitive(name)` method; the CPU provider has none."""
    get = getattr(provider, "primitive", None)
    return None if get is None else get(name)


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


class ArrayModuleProvider(DeviceProvider):
    """A DeviceProvider whose device values are arrays of one array module (`self.xp`).

    Subclasses choose the module in their constructor (`xp=`). `to_device` / `to_host` copy
    (even when numpy stands in for the device, so aliasing bugs show up as on a real device)
    and are counted (DeviceProvider): a test proves that copies happen only at the partitioner's
    boundaries. Nodes touching a dtype outside `storable_dtypes` are refused.
    """

    storable_dtypes: ClassVar[frozenset[np.dtype]] = frozenset(np.dtype(t) for t in (
        np.float32, np.float16, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.bool_))

    def __init__(self, *, xp: ModuleType, extra_kernels: KernelRegistry | None = None, **options: Any) -> None:
        super().__init__(extra_kernels=extra_kernels, **options)
        self.xp = xp

    def upload(self, array: np.ndarray) -> Any:
        return self.xp.array(array, copy=True)

    def download(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return np.array(value, copy=True)
        if isinstance(value, np.generic):
            return np.asarray(value)
        return value.get()

    def is_host_value(self, value: Any) -> bool:
        """With numpy standing in for the device, numpy arrays are device values (to_host copies them)."""
        return self.xp is not np and isinstance(value, np.ndarray)


__all__ = ["ARRAY_MODULES", "ArrayModuleProvider", "array_module_of", "array_module_of_type", "as_array",
           "broadcast_shape", "device_primitive", "get_array_module", "import_array_module", "ints", "is_numpy",
           "normalize_axes", "normalize_axis", "prod", "ufunc_at", "window_slices"]
