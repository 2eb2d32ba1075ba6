"""How the native kernels enter the CPU provider's registry: as `impl="native"` overrides.

Each native kernel is registered over the numpy kernel of the same op and version start, which
stays its fallback (see KernelRegistry.add): the registry runs the native kernel only for
float32 input 0 while the library is loaded, and the numpy kernel otherwise (when the library
did not load at import, nothing is registered). A native kernel also falls back to the numpy
one at run time for what its C code does not cover (an unsupported rank, negative pads, an
empty tensor, an absurd extent), so every node it accepts gets the reference's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.provider import Refusal

from ..registry import REGISTRY
from . import library

F32 = np.dtype(np.float32)


def _library_loaded(check: Callable[[Node, Graph], str | Refusal | None] | None
                    ) -> Callable[[Node, Graph], str | Refusal | None]:
    """A `supports` check refusing every node while the library is not loaded, then `check`."""

    def supports(node: Node, graph: Graph) -> str | Refusal | None:
        why = library.unavailable_reason()
        if why is not None:
            return Refusal("op", f"native kernels unavailable: {why}")
        return check(node, graph) if check is not None else None

    return supports


def native_kernel(op_type: str, since: int, *, until: int | None = None, domain: str = "",
                  multi_output: bool = False,
                  supports: Callable[[Node, Graph], str | Refusal | None] | None = None,
                  factory: bool = False, dtypes: Sequence[Any] = (F32,),
                  inplace: Callable[..., Any] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a kernel as the native override of (domain, op_type, since), when the library
    loaded (so the registry lists native kernels only where they can run); it runs for input 0 of
    `dtypes` (float32 unless given: the quantized kernels take integers). `factory` as in
    KernelRegistry.kernel: called once per node, it returns the function that runs the node; `inplace` as
    in KernelDef."""
    if library.LIB is None:
        return lambda fn: fn
    return REGISTRY.kernel(op_type, since, until=until, domain=domain, multi_output=multi_output,
                           dtypes=list(dtypes), supports=_library_loaded(supports), impl="native",
                           factory=factory, inplace=inplace)


def is_f32_array(x: Any) -> bool:
    """Whether `x` is a float32 numpy array the C kernels can read (after ascontiguousarray)."""
    return type(x) is np.ndarray and x.dtype == F32


def ptr(a: np.ndarray | None) -> int | None:
    """The address of a C-contiguous array's data (None for None)."""
    return None if a is None else a.ctypes.data


#: the C kernels take windows whose padded extent, per axis, stays below this (int64 arithmetic
#: without overflow); larger geometries (absurd strides or pads in a model) go to numpy
MAX_EXTENT = 1 << 31


def extents_fit(out: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> bool:
    """Whether every padded extent (o - 1) * s + (k - 1) * d + 1 a window op reads is below MAX_EXTENT."""
    return all((o - 1) * s + (k - 1) * d + 1 < MAX_EXTENT for o, k, s, d in zip(out, kernel, strides, dilations))
