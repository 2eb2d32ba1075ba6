"""The C kernel gate (TFLite Micro's rule): a swapped-in C kernel must pass the kit's cases of every op
that runs it, against the reference CPU provider.

The gate itself is the core's (`ep_runtime.testing.gate`: the kit's cases and comparison, the source
given to this provider as its `kernels` option); this module knows which ops share a C kernel, so that
swapping `ep_identity` is held to the cases of Reshape, Flatten, Squeeze... as well. CLI:

    ep-runtime check-kernel Relu=my_relu.c [-o fused=true] [--rtol 1e-4] [--atol 1e-5]

exits 0 when every case passes, 1 otherwise, and prints the coverage table and the first mismatch.
"""

from __future__ import annotations

import os

from ep_runtime.errors import InvalidArgument
from ep_runtime.testing.gate import GateReport
from ep_runtime.testing.gate import check_kernel as gate_kernel

from .lowering import OP_SOURCES


def ops_sharing_kernel(op: str) -> list[str]:
    """Every op that runs the same C kernel as `op` (`op` first)."""
    stem = OP_SOURCES.get(op)
    if stem is None:
        raise InvalidArgument(f"check-kernel: {op!r} has no C kernel; known ops: {', '.join(sorted(OP_SOURCES))}")
    return [op] + sorted(o for o, s in OP_SOURCES.items() if s == stem and o != op)


def check_kernel(op: str, source: str | os.PathLike, rtol: float | None = None, atol: float | None = None,
                 fused: bool = False) -> GateReport:
    """Gate the C `source` replacing `op`'s kernel on the embedded C provider: the kit's cases of every
    op sharing the kernel, compared with the reference CPU provider (the kit's per-dtype tolerances
    unless `rtol`/`atol` are given)."""
    return gate_kernel(op, source, provider="embedded_c", options={"fused": fused}, ops=ops_sharing_kernel(op),
                       rtol=rtol, atol=atol)
