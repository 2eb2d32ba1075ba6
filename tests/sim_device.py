"""A test provider living on a simulated device: its own array type, transfers counted.

A numpy array reaching one of its kernels unconverted is an error, so a missing device copy
cannot go unnoticed; host-only inputs (Reshape's shape) must arrive as numpy arrays.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ep_runtime import KernelProvider, KernelRegistry, hookimpl


class SimArray:
    """A value on the simulated device: wraps a numpy array but is not one."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype


def dev(*xs: object) -> list[np.ndarray]:
    out = []
    for x in xs:
        if not isinstance(x, SimArray):
            raise TypeError(f"sim device kernel got {type(x).__name__}, not a SimArray")
        out.append(x.data)
    return out


SIM_KERNELS = KernelRegistry()


@SIM_KERNELS.kernel("Add", since=7)
def add(a, b):
    x, y = dev(a, b)
    return SimArray(x + y)


@SIM_KERNELS.kernel("Mul", since=7)
def mul(a, b):
    x, y = dev(a, b)
    return SimArray(x * y)


@SIM_KERNELS.kernel("Relu", since=6)
def relu(a):
    (x,) = dev(a)
    return SimArray(np.maximum(x, 0))


@SIM_KERNELS.kernel("MatMul", since=1)
def matmul(a, b):
    x, y = dev(a, b)
    return SimArray(x @ y)


@SIM_KERNELS.kernel("Reshape", since=5, dtypes=[np.float32])
def reshape(a, shape, *, allowzero=0):
    if not isinstance(shape, np.ndarray):
        raise TypeError(f"Reshape's shape must be a host numpy array, got {type(shape).__name__}")
    (x,) = dev(a)
    dims = [x.shape[i] if d == 0 and not allowzero else int(d) for i, d in enumerate(shape)]
    return SimArray(x.reshape(dims))


class SimDeviceProvider(KernelProvider):
    """Claims Add, Mul, Relu, MatMul and float Reshape on a simulated device; counts copies."""

    name = "SimDeviceExecutionProvider"
    aliases = ("sim",)
    device = "sim"
    registry: ClassVar[KernelRegistry] = SIM_KERNELS

    def __init__(self, **options):
        super().__init__(**options)
        self.to_device_calls = 0
        self.to_host_calls = 0

    def to_device(self, array):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"to_device expects numpy, got {type(array).__name__}")
        self.to_device_calls += 1
        return SimArray(array.copy())

    def to_host(self, value):
        if not isinstance(value, SimArray):
            raise TypeError(f"to_host expects a SimArray, got {type(value).__name__}")
        self.to_host_calls += 1
        return value.data.copy()


class OtherSimProvider(SimDeviceProvider):
    """A second simulated-device provider with the same kernels (to test priority order)."""

    name = "OtherSimExecutionProvider"
    aliases = ("othersim",)
    device = "othersim"


@hookimpl
def ep_runtime_providers():
    return [SimDeviceProvider, OtherSimProvider]
