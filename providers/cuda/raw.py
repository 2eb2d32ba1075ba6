"""Raw CUDA C kernels: the `.cu` sources beside this module, compiled once per (file, GPU) by
CuPy's RawModule (NVRTC) and launched on the current stream (the provider's, inside a run).

Every kernel is `extern "C"`, float32 (float16 values are widened by the caller), and walks its
elements with a grid-stride loop, so any grid size covers any tensor.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ._cupy import cp

HERE = pathlib.Path(__file__).resolve().parent
#: the CUDA C sources of the provider (tests compile each one with nvcc); they include grid.cuh, the
#: grid-stride loop and output-pixel helpers they share
CU_SOURCES = ("conv.cu", "pool.cu", "softmax.cu", "layernorm.cu", "resize.cu", "gather.cu")
BLOCK = 256
#: 32-bit indices are enough below this many elements; the kernels take 64-bit sizes anyway
MAX_GRID = 1 << 20


def source(filename: str) -> str:
    """The CUDA C text of one of CU_SOURCES."""
    return (HERE / filename).read_text()


@functools.cache
def _module(filename: str, device_id: int) -> Any:
    return cp.RawModule(code=source(filename), options=("-std=c++14", f"-I{HERE}"))


def function(filename: str, name: str) -> Any:
    """The compiled kernel `name` of `filename` on the current device."""
    return _module(filename, cp.cuda.runtime.getDevice()).get_function(name)


#: Raw launchers that shared kernels ask for by name (ep_runtime.array_module.device_primitive):
#: name -> launcher returning the result, or None when it does not take the case (the xp form runs).
PRIMITIVES: dict[str, Callable[..., Any]] = {}


def use_raw(xp: Any, provider: Any = None) -> bool:
    """Whether a kernel should launch its raw CUDA C form: on CuPy arrays, unless the provider
    was created with raw_kernels=False (then the xp form runs on the GPU too)."""
    return xp is not np and cp is not None and (provider is None or getattr(provider, "raw_kernels", True))


def launch(filename: str, name: str, n: int, *args: Any, block: int = BLOCK) -> None:
    """Launch `name` over `n` work items (grid-stride), on the current stream."""
    if n <= 0:
        return
    grid = min((n + block - 1) // block, MAX_GRID)
    function(filename, name)((grid,), (block,), args)


def launch_rows(filename: str, name: str, rows: int, *args: Any, block: int = BLOCK) -> None:
    """Launch `name` with one block per row (row kernels reduce in shared memory)."""
    if rows <= 0:
        return
    function(filename, name)((min(rows, MAX_GRID),), (block,), args, shared_mem=2 * block * 4)


def i64(v: int) -> np.int64:
    return np.int64(v)


def f32(v: float) -> np.float32:
    return np.float32(v)
