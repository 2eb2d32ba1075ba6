"""Matrix products: MatMul and Gemm through `xp.matmul` (cuBLAS on CuPy, batched for leading dims)."""

from __future__ import annotations

from typing import Any

from ep_runtime.array_module import broadcast_shape, get_array_module

from .elementwise import arr
from .registry import kernel


@kernel("MatMul", since=1)
def MatMul(a: Any, b: Any) -> Any:
    """numpy matmul semantics: 1-D operands are promoted, leading dims broadcast."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"MatMul: operands must not be scalars, got shapes {a.shape} and {b.shape}")
    xp = get_array_module(a, b)
    try:
        return arr(xp, xp.matmul(a, b))
    except ValueError as exc:
        raise ValueError(f"MatMul: cannot multiply shapes {a.shape} and {b.shape} ({exc})") from None


@kernel("Gemm", since=7)
def Gemm(a: Any, b: Any, c: Any = None, *, alpha: float = 1.0, beta: float = 1.0, transA: int = 0,
         transB: int = 0) -> Any:
    """Y = alpha * A' @ B' + beta * C with unidirectional broadcasting of C (optional from 11)."""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Gemm: A and B must be 2-D, got shapes {a.shape} and {b.shape}")
    xp = get_array_module(a, b, c)
    at = a.T if transA else a
    bt = b.T if transB else b
    if at.shape[1] != bt.shape[0]:
        raise ValueError(f"Gemm: cannot multiply shapes {a.shape} and {b.shape} (transA={transA}, "
                         f"transB={transB}: inner dims {at.shape[1]} and {bt.shape[0]} differ)")
    y = xp.matmul(at, bt)
    if alpha != 1.0:
        y *= y.dtype.type(alpha)
    if c is not None and beta != 0.0:
        if broadcast_shape(c.shape, y.shape, op="Gemm") != y.shape:
            raise ValueError(f"Gemm: C of shape {c.shape} does not broadcast to the result shape {y.shape}")
        y += c if beta == 1.0 else c * c.dtype.type(beta)
    return arr(xp, y)
