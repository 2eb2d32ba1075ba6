"""Matrix products: MatMul and Gemm, straight to BLAS through numpy."""

from __future__ import annotations

import numpy as np

from .registry import kernel

_matmul = np.matmul


def _shape_error(op: str, a: np.ndarray, b: np.ndarray, what: str) -> ValueError:
    return ValueError(f"{op}: cannot multiply shapes {a.shape} and {b.shape} ({what})")


@kernel("MatMul", since=1)
def MatMul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """numpy matmul semantics: 1-D operands are promoted, leading dims broadcast."""
    try:
        r = _matmul(a, b)
    except ValueError as exc:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"MatMul: operands must not be scalars, got shapes {a.shape} and {b.shape}") from None
        raise _shape_error("MatMul", a, b, str(exc).split("(")[0].strip()) from None
    if type(r) is not np.ndarray:
        r = np.asarray(r)
    # numpy multiplies bfloat16 (ml_dtypes) matrices into float32; ONNX keeps the input type
    return r if r.dtype == a.dtype or a.dtype != b.dtype else r.astype(a.dtype)


def _gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None, alpha: float, beta: float,
          trans_a: int, trans_b: int) -> np.ndarray:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Gemm: A and B must be 2-D, got shapes {a.shape} and {b.shape}")
    at = a.T if trans_a else a
    bt = b.T if trans_b else b
    if at.shape[1] != bt.shape[0]:
        raise _shape_error("Gemm", a, b, f"transA={trans_a}, transB={trans_b}: inner dims "
                           f"{at.shape[1]} and {bt.shape[0]} differ")
    y = _matmul(at, bt)
    if alpha != 1.0:
        np.multiply(y, alpha, out=y, casting="unsafe")
    if c is not None and beta != 0.0:
        try:
            fits = np.broadcast_shapes(c.shape, y.shape) == y.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"Gemm: C of shape {c.shape} does not broadcast to the result shape {y.shape}")
        if beta == 1.0:
            np.add(y, c, out=y, casting="unsafe")
        else:
            np.add(y, c * np.asarray(beta, c.dtype), out=y, casting="unsafe")
    return y


@kernel("Gemm", since=1, until=6)
def Gemm_1(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, *, alpha: float = 1.0,
           beta: float = 1.0, broadcast: int = 0, transA: int = 0, transB: int = 0) -> np.ndarray:
    """Gemm before opset 7: C broadcasts only when `broadcast` is set (we broadcast either way)."""
    return _gemm(a, b, c, alpha, beta, transA, transB)


@kernel("Gemm", since=7)
def Gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, *, alpha: float = 1.0,
         beta: float = 1.0, transA: int = 0, transB: int = 0) -> np.ndarray:
    """Y = alpha * A' @ B' + beta * C with unidirectional broadcasting of C (optional from 11)."""
    return _gemm(a, b, c, alpha, beta, transA, transB)

