"""OpenCL plumbing shared by the kernels: device selection, one context per device, the program
cache, typed kernel lookup, launches under a lock, device allocation.

Programs are built once per (context, source, build options) and kernels memoized per
(context, file, kernel name, defines), like pyopencl's elementwise factories: a session builds
each program the first time a node needs it, later sessions on the same device reuse it.
"""

from __future__ import annotations

import math
import os
import pathlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.errors import ProviderError

from ._cl import IMPORT_ERROR, cl, cla, cltools

#: Environment variable choosing the device: `platform:device` indices (e.g. `0:1`), or `device`.
DEVICE_ENV = "EP_RUNTIME_OPENCL_DEVICE"

HERE = pathlib.Path(__file__).resolve().parent

#: OpenCL C type of each numpy dtype a kernel may be built for.
CL_TYPES = {
    np.dtype(np.float32): "float", np.dtype(np.float16): "half", np.dtype(np.float64): "double",
    np.dtype(np.int64): "long", np.dtype(np.int32): "int", np.dtype(np.int16): "short",
    np.dtype(np.int8): "char", np.dtype(np.uint8): "uchar", np.dtype(np.uint16): "ushort",
    np.dtype(np.uint32): "uint", np.dtype(np.uint64): "ulong", np.dtype(np.bool_): "uchar",
}

#: Unsigned OpenCL type of each element size: data movement only cares about the size.
BITS_TYPES = {1: "uchar", 2: "ushort", 4: "uint", 8: "ulong"}


def list_devices() -> list[tuple[int, int, Any]]:
    """(platform index, device index, cl.Device) for every OpenCL device; [] when none."""
    if cl is None:
        return []
    try:
        platforms = cl.get_platforms()
    except Exception:  # the ICD loader raises when no platform is installed
        return []
    found = []
    for p_i, plat in enumerate(platforms):
        try:
            devices = plat.get_devices()
        except Exception:
            continue
        found.extend((p_i, d_i, dev) for d_i, dev in enumerate(devices))
    return found


def parse_device_env(text: str) -> tuple[int | None, int]:
    """`'1:0'` -> (1, 0); `'2'` -> (None, 2). ValueError on anything else."""
    parts = text.strip().split(":")
    try:
        if len(parts) == 1:
            return None, int(parts[0])
        if len(parts) == 2:
            return int(parts[0]), int(parts[1])
    except ValueError:
        pass
    raise ValueError(f"{DEVICE_ENV}={text!r} is not 'platform:device' or 'device' (integer indices)")


def select_device(platform_id: int | None, device_id: int | None) -> Any:
    """(platform index, device index, cl.Device) asked for by options, else by the environment
    variable, else the first device found."""
    if cl is None:
        raise ProviderError(f"OpenCLExecutionProvider: {IMPORT_ERROR}")
    devices = list_devices()
    if not devices:
        raise ProviderError("OpenCLExecutionProvider: no OpenCL platform or device found; install a driver "
                            "(e.g. `pip install pocl-binary-distribution` for a CPU device)")
    source = "provider options"
    if platform_id is None and device_id is None and os.environ.get(DEVICE_ENV):
        source = f"environment variable {DEVICE_ENV}"
        try:
            platform_id, device_id = parse_device_env(os.environ[DEVICE_ENV])
        except ValueError as exc:
            raise ProviderError(f"OpenCLExecutionProvider: {exc}") from None
    if platform_id is None:
        candidates = devices
    else:
        candidates = [d for d in devices if d[0] == int(platform_id)]
        if not candidates:
            raise ProviderError(f"OpenCLExecutionProvider: platform_id {platform_id} (from {source}) does not "
                                f"exist; present: {describe_devices(devices)}")
    if device_id is None:
        return candidates[0]
    if not 0 <= int(device_id) < len(candidates):
        raise ProviderError(f"OpenCLExecutionProvider: device_id {device_id} (from {source}) does not exist "
                            f"on platform {candidates[0][0]}; present: {describe_devices(devices)}")
    return candidates[int(device_id)]


def describe_devices(devices: Sequence[tuple[int, int, Any]] | None = None) -> str:
    devices = list_devices() if devices is None else devices
    return "; ".join(f"{p}:{d} {dev.name.strip()} ({dev.platform.name.strip()})" for p, d, dev in devices) or "none"


class Device:
    """One OpenCL device and its context, shared by every provider instance that selects it.

    Holds the program cache and the lock that serializes kernel launches: a `cl.Kernel` is
    shared by all queues of the context, and setting its arguments and enqueueing must not
    interleave between threads.
    """

    _instances: dict[int, Device] = {}
    _instances_lock = threading.Lock()

    def __init__(self, device: Any) -> None:
        self.device = device
        self.context = cl.Context([device])
        self.lock = threading.RLock()
        self.fp16 = "cl_khr_fp16" in device.extensions
        self.fp64 = "cl_khr_fp64" in device.extensions or "cl_amd_fp64" in device.extensions
        self.label = f"{device.name.strip()} ({device.platform.name.strip()})"
        self._sources: dict[str, str] = {}
        self._programs: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._kernels: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def get(cls, device: Any) -> Device:
        key = device.int_ptr
        with cls._instances_lock:
            if key not in cls._instances:
                cls._instances[key] = cls(device)
            return cls._instances[key]

    def source(self, filename: str) -> str:
        if filename not in self._sources:
            self._sources[filename] = (HERE / filename).read_text()
        return self._sources[filename]

    def program(self, filename: str, defines: tuple[tuple[str, Any], ...]) -> Any:
        """The built program of a `.cl` file beside this module for these -D defines (cached)."""
        options = tuple(f"-D{k}={v}" for k, v in defines) + ("-I", str(HERE))
        if any(v == "half" for _, v in defines):
            options += ("-DUSE_HALF=1",)
        if any(v == "double" for _, v in defines):
            options += ("-DUSE_DOUBLE=1",)
        key = (filename, options)
        prg = self._programs.get(key)
        if prg is None:
            with self.lock:
                prg = self._programs.get(key)
                if prg is None:
                    try:
                        prg = cl.Program(self.context, self.source(filename)).build(options=list(options))
                    except cl.RuntimeError as exc:
                        raise ProviderError(f"OpenCLExecutionProvider: building {filename} with {options} "
                                            f"failed on {self.label}: {exc}") from exc
                    self._programs[key] = prg
        return prg

    def kernel(self, filename: str, name: str, **defines: Any) -> Any:
        """The kernel `name` of `filename` built with `defines` (memoized per context)."""
        key = (filename, name, tuple(sorted(defines.items())))
        knl = self._kernels.get(key)
        if knl is None:
            knl = getattr(self.program(filename, key[2]), name)
            self._kernels[key] = knl
        return knl


def round_up(n: int, m: int) -> int:
    return -(-n // m) * m


class Launcher:
    """What kernels use to allocate and launch on one provider's queue."""

    def __init__(self, dev: Device, queue: Any) -> None:
        self.dev = dev
        self.queue = queue
        self.allocator = cltools.MemoryPool(cltools.ImmediateAllocator(queue))
        #: "tiled" (local-memory tiles, for GPUs) or "register" (register blocks, for CPU devices)
        self.gemm_mode = "register" if dev.device.type & cl.device_type.CPU else "tiled"

    def empty(self, shape: Sequence[int], dtype: Any) -> Any:
        return cla.empty(self.queue, tuple(int(s) for s in shape), np.dtype(dtype), allocator=self.allocator)

    def to_device(self, array: np.ndarray) -> Any:
        if not array.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
            array = array.copy()
        return cla.to_device(self.queue, array, allocator=self.allocator)

    def kernel(self, filename: str, name: str, **defines: Any) -> Any:
        return self.dev.kernel(filename, name, **defines)

    def launch(self, knl: Any, gsize: Sequence[int], lsize: Sequence[int] | None, *args: Any) -> None:
        """Enqueue `knl` over `gsize` (rounded up to multiples of `lsize`); nothing for empty sizes."""
        if any(int(g) <= 0 for g in gsize):
            return
        if lsize is not None:
            gsize = tuple(round_up(int(g), int(lz)) for g, lz in zip(gsize, lsize))
        with self.dev.lock:
            knl(self.queue, tuple(int(g) for g in gsize), lsize, *args)

    def launch1d(self, knl: Any, n: int, *args: Any, local: int = 64) -> None:
        self.launch(knl, (n,), (local,) if n >= local else None, *args)


def ftype(dtype: Any) -> str:
    """The OpenCL storage type of a float dtype."""
    return CL_TYPES[np.dtype(dtype)]


def contiguous_strides(shape: Sequence[int]) -> list[int]:
    """Element strides of a C-contiguous array of `shape`."""
    strides, acc = [], 1
    for d in reversed(list(shape)):
        strides.append(acc)
        acc *= int(d)
    return strides[::-1]


def prod(values: Sequence[int]) -> int:
    return math.prod(int(v) for v in values)
