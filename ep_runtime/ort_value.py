"""OrtValue: a tensor held on the host or on a provider's device, with onnxruntime's methods.

`OrtValue.ortvalue_from_numpy(array, "cuda", 0)` copies the array to the device of the provider
whose alias is the device type (`cpu`, `cuda`, `opencl`, any installed provider's alias), made
once per (device type, device id) with the option `device_id` (no option for id 0).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import onnx

from .errors import InvalidArgument
from .graph import _np_to_elem, type_proto_str
from .provider import HOST as _HOST
from .provider import ExecutionProvider
from .registry import create_provider, find_provider_class

#: OrtValues whose data_ptr() was taken, by address (IOBinding.bind_input finds them there)
_by_address: weakref.WeakValueDictionary[int, OrtValue] = weakref.WeakValueDictionary()
_device_providers: dict[tuple[str, int], ExecutionProvider] = {}
_lock = threading.Lock()


def device_provider(device_type: str, device_id: int = 0) -> ExecutionProvider | None:
    """The provider holding values of `device_type` (None for the host), created once per device."""
    kind = str(device_type).lower()
    if kind == _HOST:
        return None
    key = (kind, int(device_id))
    with _lock:
        provider = _device_providers.get(key)
        if provider is None:
            cls = find_provider_class(kind)
            provider = create_provider(cls, {"device_id": int(device_id)} if device_id else {})
            _device_providers[key] = provider
    return provider


def _elem_type(dtype: np.dtype) -> int:
    try:
        return int(_np_to_elem(np.dtype(dtype)))
    except (KeyError, TypeError, ValueError):
        return int(onnx.TensorProto.UNDEFINED)


class OrtValue:
    """A tensor (or, from a run, a sequence or map) on the host or a provider's device."""

    def __init__(self, value: Any, provider: ExecutionProvider | None = None, device_id: int = 0) -> None:
        self._value = value
        self._provider = provider
        self._device_id = int(device_id)

    # ---- construction ----
    @staticmethod
    def ortvalue_from_numpy(numpy_obj: Any, device_type: str = "cpu", device_id: int = 0) -> OrtValue:
        """An OrtValue holding (a copy of, on a device) `numpy_obj`; on the host the array is shared."""
        array = np.asarray(numpy_obj)
        if array.dtype.kind == "U":
            array = array.astype(object)
        provider = device_provider(device_type, device_id)
        if provider is None:
            return OrtValue(array)
        return OrtValue(provider.to_device(np.ascontiguousarray(array)), provider, device_id)

    @staticmethod
    def ortvalue_from_numpy_with_onnx_type(numpy_obj: np.ndarray, onnx_element_type: int) -> OrtValue:
        """A host OrtValue of `numpy_obj` viewed as the ONNX element type (e.g. a uint16 array as bfloat16)."""
        dtype = onnx.helper.tensor_dtype_to_np_dtype(int(onnx_element_type))
        array = np.asarray(numpy_obj)
        if array.dtype.itemsize != np.dtype(dtype).itemsize:
            raise InvalidArgument(f"ortvalue_from_numpy_with_onnx_type: a {array.dtype} array cannot hold ONNX "
                                  f"element type {onnx_element_type} ({np.dtype(dtype)})")
        return OrtValue(np.ascontiguousarray(array).view(dtype))

    @staticmethod
    def ortvalue_from_shape_and_type(shape: Any, element_type: Any, device_type: str = "cpu",
                                     device_id: int = 0) -> OrtValue:
        """A zero-filled tensor of `shape` and `element_type` (a numpy type or an ONNX element type int)."""
        if isinstance(element_type, (int, np.integer)) and not isinstance(element_type, bool):
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(element_type)))
        else:
            dtype = np.dtype(element_type)
        return OrtValue.ortvalue_from_numpy(np.zeros(tuple(int(d) for d in shape), dtype), device_type, device_id)

    @staticmethod
    def from_dlpack(data: Any, is_bool_tensor: bool = False) -> OrtValue:
        """A host OrtValue sharing the memory of a DLPack-capable host array."""
        array = np.from_dlpack(data)
        return OrtValue(array.astype(bool) if is_bool_tensor else array)

    # ---- inspection ----
    def device_name(self) -> str:
        """`cpu`, or the device type the value lives on (`cuda`, `opencl`, ...)."""
        if self._provider is None:
            return _HOST
        return (self._provider.aliases[0] if self._provider.aliases else self._provider.name).lower()

    def is_tensor(self) -> bool:
        """Whether the value is a tensor (not a sequence or map)."""
        return hasattr(self._value, "shape") and hasattr(self._value, "dtype")

    def is_tensor_sequence(self) -> bool:
        """Whether the value is a sequence of tensors."""
        return isinstance(self._value, list)

    def is_sparse_tensor(self) -> bool:
        """Always False: ep-runtime has no sparse tensor values."""
        return False

    def has_value(self) -> bool:
        """False only for an empty optional."""
        return self._value is not None

    def shape(self) -> list[int]:
        """The tensor's shape."""
        self._need_tensor("shape")
        return [int(d) for d in self._value.shape]

    def data_type(self) -> str:
        """The ONNX type string, e.g. `tensor(float)`."""
        if self.is_tensor_sequence():
            inner = OrtValue(self._value[0]).data_type() if self._value else "tensor(float)"
            return f"seq({inner})"
        self._need_tensor("data_type")
        return type_proto_str(onnx.helper.make_tensor_type_proto(_elem_type(self._value.dtype), None))

    def element_type(self) -> int:
        """The ONNX element type (TensorProto.FLOAT = 1, ...), as onnxruntime returns it."""
        self._need_tensor("element_type")
        return _elem_type(self._value.dtype)

    def tensor_size_in_bytes(self) -> int:
        """Bytes of the tensor's data."""
        self._need_tensor("tensor_size_in_bytes")
        return int(np.prod(self._value.shape, dtype=np.int64)) * np.dtype(self._value.dtype).itemsize

    def data_ptr(self) -> int:
        """The address of the data (host arrays, and device arrays exposing one); IOBinding.bind_input
        accepts it for this OrtValue."""
        self._need_tensor("data_ptr")
        value = self._value
        if isinstance(value, np.ndarray):
            ptr = value.ctypes.data
        else:  # cupy arrays: .data.ptr; pyopencl arrays: .base_data.int_ptr
            ptr = getattr(getattr(value, "data", None), "ptr", None)
            if ptr is None:
                ptr = getattr(getattr(value, "base_data", None), "int_ptr", None)
        if ptr is None:
            raise InvalidArgument(f"data_ptr: a {type(value).__name__} on {self.device_name()} exposes no address")
        _by_address[int(ptr)] = self
        return int(ptr)

    # ---- data ----
    def numpy(self) -> Any:
        """The value as a host numpy array (copied from the device; shared on the host)."""
        if self._provider is None or not self.is_tensor():
            return self._value
        return self._provider.to_host(self._value)

    def update_inplace(self, np_arr: np.ndarray) -> None:
        """Overwrite the tensor's data with `np_arr` (same dtype and shape)."""
        self._need_tensor("update_inplace")
        array = np.asarray(np_arr)
        if array.dtype != self._value.dtype or tuple(array.shape) != tuple(self._value.shape):
            raise InvalidArgument(f"update_inplace: got dtype {array.dtype} shape {list(array.shape)}, the OrtValue "
                                  f"has dtype {self._value.dtype} shape {list(self._value.shape)}")
        if self._provider is None:
            self._value[...] = array
        else:
            self._value = self._provider.to_device(np.ascontiguousarray(array))

    @property
    def value(self) -> Any:
        """The held value as the provider keeps it (numpy array, device array, list, dict)."""
        return self._value

    @property
    def provider(self) -> ExecutionProvider | None:
        """The provider whose device holds the value; None on the host."""
        return self._provider

    def _need_tensor(self, what: str) -> None:
        if not self.is_tensor():
            raise InvalidArgument(f"OrtValue.{what}: the value is a {type(self._value).__name__}, not a tensor")

    def __repr__(self) -> str:
        if self.is_tensor():
            return f"OrtValue({self.data_type()}, shape={self.shape()}, device={self.device_name()!r})"
        return f"OrtValue({type(self._value).__name__})"


def value_at(address: int) -> OrtValue | None:
    """The live OrtValue whose data_ptr() returned `address`, if any."""
    return _by_address.get(address)


def as_ort_value(value: Any) -> OrtValue:
    """`value` as an OrtValue (host values are wrapped, OrtValues returned as they are)."""
    return value if isinstance(value, OrtValue) else OrtValue(value)


__all__ = ["OrtValue", "as_ort_value", "device_provider", "value_at"]
