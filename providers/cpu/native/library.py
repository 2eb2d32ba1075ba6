"""Loading the compiled kernels: the `_ep_native` extension, opened with ctypes.

pip builds `csrc/*.c` into the extension module `_ep_native` (see setup.py). The kernels are
plain C functions, called here through ctypes with their argument types declared; the module's
own functions are the few direct entry points of csrc/pyentry.c (`softmax_f32`: native/softmax.py;
`pool3d_f32`, `global_pool_f32`: native/pool.py; `sgemm_f32`: native/gemm.py), for kernels whose ctypes
call costs more than their work. When the extension is missing (the build failed or was
skipped) or `EP_RUNTIME_NATIVE=0` is set, `LIB` is None, `UNAVAILABLE_REASON` says why, and the
CPU provider runs its numpy kernels. Every kernel takes, last, the number of threads it may use
(`threads()`: the running session's intra_op_num_threads); csrc/parallel.c is the pool.
"""

from __future__ import annotations

import ctypes
import importlib
import os
from collections.abc import Callable
from math import prod
from typing import Any

import numpy as np

from ep_runtime.threads import intra_op_threads

#: the C functions' version of this binding; the library must report the same
ABI_VERSION = 5

#: activation codes of csrc/ep_native.h
ACT_NONE, ACT_RELU, ACT_LEAKY_RELU, ACT_CLIP, ACT_HARD_SIGMOID, ACT_HARD_SWISH = 0, 1, 2, 3, 4, 5
ACT_SIGMOID, ACT_TANH, ACT_SWISH, ACT_GELU, ACT_GELU_TANH = 6, 7, 8, 9, 10
#: pooling modes of csrc/ep_native.h
POOL_MAX, POOL_AVG, POOL_AVG_INCLUDE_PAD = 0, 1, 2

_P, _I64, _INT, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float
#: every kernel's last argument is the most threads it may use (see threads())
_SIGNATURES = {
    "ep_native_abi_version": ([], ctypes.c_int),
    "ep_pool_workers": ([], _I64),
    "ep_pool_jobs": ([], _I64),
    "ep_activation_f32": ([_P, _P, _I64, _INT, _F, _F, _I64], ctypes.c_int),
    "ep_conv2d_direct_f32": ([_P, _P, _P, _P, _P] + [_I64] * 16 + [_INT, _F, _F, _I64], ctypes.c_int),
    "ep_pool2d_f32": ([_P, _P] + [_I64] * 15 + [_INT, _I64], ctypes.c_int),
    "ep_global_pool_f32": ([_P, _P, _I64, _I64, _INT, _I64], ctypes.c_int),
    "ep_pool3d_f32": ([_P, _P, _I64, _P, _INT, _I64], ctypes.c_int),
    "ep_sgemm_packed_size": ([_I64, _I64, _I64], _I64),
    "ep_sgemm_pack_a_f32": ([_P, _I64, _I64, _I64, _P], ctypes.c_int),
    "ep_sgemm_force_kernel": ([_INT], ctypes.c_int),
    "ep_sgemm_nr": ([], _I64),
    "ep_sgemm_packed_b_size": ([_I64, _I64, _I64, _I64], _I64),
    "ep_sgemm_pack_b_f32": ([_P, _I64, _I64, _I64, _I64, _P], ctypes.c_int),
    "ep_conv2d_gemm_f32": ([_P, _P, _I64, _P, _P, _P, _P, _INT, _F, _F, _I64], ctypes.c_int),
    "ep_sgemm_pack_b_rows_f32": ([_P, _I64, _I64, _I64, _P], ctypes.c_int),
    "ep_sgemm_f32": ([_P, _P, _I64, _P, _P, _I64, _I64, _I64, _I64], ctypes.c_int),
    "ep_layer_norm_f32": ([_P, _P, _I64, _P, _P, _P, _P, _P, _P, _P, _I64, _I64, _F, _INT, _I64], ctypes.c_int),
    "ep_channel_affine_f32": ([_P, _P, _P, _P, _I64, _I64, _I64, _INT, _I64], ctypes.c_int),
    "ep_resize_f32": ([_P, _P, _P, _I64], ctypes.c_int),
    "ep_qgemm_u8s8": ([_P, _I64, _P, _I64, _I64, _I64, _I64, _P, _P, _P, _I64, _P, _I64, _P, _I64, _P, _P, _I64],
                      ctypes.c_int),
    "ep_qgemm_force_kernel": ([_INT], ctypes.c_int),
    "ep_qpack_panels": ([_P, _I64, _I64, _I64, _I64, _P, _P, _I64], ctypes.c_int),
    "ep_qrow_sums": ([_P, _I64, _I64, _I64, _INT, _P, _I64], ctypes.c_int),
    "ep_qpad_hwc": ([_P, _P] + [_I64] * 7 + [_INT, _INT, _I64], ctypes.c_int),
    "ep_qconv_panels": ([_P, _P, _P] + [_I64] * 14, ctypes.c_int),
    "ep_dynamic_quantize_u8": ([_P, _I64, _P, _P, _P, _I64], ctypes.c_int),
    "ep_qmatmul_f32": ([_P, _P, _F, ctypes.c_int32, _I64, _I64, _P, _P, _P, _I64, _I64, _P, _P, _P, _I64],
                       ctypes.c_int),
    "ep_lstm_f32": ([_P] * 9 + [_I64] * 3 + [_P] * 3 + [_F, _I64, _I64, _I64], ctypes.c_int),
    "ep_lstm_x_f32": ([_P, _I64, _I64] + [_P] * 9 + [_I64] * 3 + [_P] * 3 + [_F, _I64, _I64, _I64], ctypes.c_int),
    "ep_qlstm_packed_size": ([_I64, _I64], _I64),
    "ep_qlstm_pack": ([_P, _I64, _I64, _P], ctypes.c_int),
    "ep_qlstm_project_f32": ([_P, _I64, _I64, _F, ctypes.c_int32, _P, _P, _P, ctypes.c_int32, _I64, _P, _P, _I64],
                             ctypes.c_int),
    "ep_qlstm_f32": ([_P, _P, _P, _P, ctypes.c_int32] + [_P] * 6 + [_I64] + [_P] * 3 + [_I64] * 3 + [_P] * 3
                     + [_F, _I64, _I64, _I64], ctypes.c_int),
}


def load() -> tuple[ctypes.CDLL | None, str | None]:
    """(the library with its functions typed, None) or (None, why it is unavailable)."""
    if os.environ.get("EP_RUNTIME_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None, "disabled by EP_RUNTIME_NATIVE=0"
    try:
        module = importlib.import_module(f"{__package__}._ep_native")
    except ImportError as exc:
        return None, f"the extension module was not built ({exc}); reinstall with a C compiler"
    try:
        lib = ctypes.CDLL(module.__file__)
        for name, (args, result) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = result
    except (OSError, AttributeError) as exc:
        return None, f"the extension module {module.__file__} cannot be used: {exc}"
    version = lib.ep_native_abi_version()
    if version != ABI_VERSION:
        return None, f"the extension module {module.__file__} has ABI {version}, expected {ABI_VERSION}; reinstall"
    return lib, None


#: the loaded library, or None (then UNAVAILABLE_REASON says why)
LIB, UNAVAILABLE_REASON = load()


def entry_point(name: str) -> Callable[..., Any] | None:
    """The extension's own function `name` (csrc/pyentry.c: called without ctypes' conversions), or None
    without the library or in a build that lacks it (the caller then runs its numpy kernel)."""
    if LIB is None:
        return None
    return getattr(importlib.import_module(f"{__package__}._ep_native"), name, None)


#: align64_offset(array) -> the float32 values from its start to its first 64-byte boundary
_ALIGN64_OFFSET = entry_point("align64_offset")


def threads() -> int:
    """How many threads a kernel called now may use: the running session's intra-op thread count
    (ep_runtime.threads.intra_op_threads). The C kernels split work over a shared pool of that many
    threads at most, and only when the work is large enough to pay for waking them."""
    return intra_op_threads()


def empty_aligned(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised C-contiguous float32 array of `shape` starting on a 64-byte boundary (a cache
    line, an AVX-512 vector). numpy's large arrays start 16 bytes past one (glibc's mmap header), which
    splits every vector load of the next kernel across two lines (up to 40% on a small pooling)."""
    raw = np.empty(prod(shape) + 16, dtype=np.float32)
    # the entry point, not `.ctypes.data`: microseconds of Python when the interpreter's state is out of cache
    skip = _ALIGN64_OFFSET(raw) if _ALIGN64_OFFSET is not None else (-raw.ctypes.data % 64) // 4
    return np.ndarray(shape, np.float32, raw, skip * 4)


class PlanCache:
    """One node's prepared C calls by key (its input shape, ...): `get` builds a missing one with
    `make(*args)` (None: the C code does not take that case); at most `size` kept, all dropped when full."""

    __slots__ = ("_plans", "_size")

    def __init__(self, size: int) -> None:
        self._plans: dict[Any, Any] = {}
        self._size = size

    def get(self, key: Any, make: Callable[..., Any], *args: Any) -> Any:
        """The plan of `key`, made by `make(*args)` on first use."""
        plan = self._plans.get(key, self)
        if plan is self:
            if len(self._plans) >= self._size:
                self._plans.clear()
            plan = self._plans[key] = make(*args)
        return plan


def unavailable_reason() -> str | None:
    """None when the native kernels can run, else a sentence saying why not."""
    if LIB is not None:
        return None
    return UNAVAILABLE_REASON or "the native library is not loaded"
