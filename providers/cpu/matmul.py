"""Matrix products: MatMul and Gemm, straight to BLAS through numpy. Written against the inputs' array
module (`xp`): the CUDA provider registers the same kernels over CuPy (cuBLAS)."""

from __future__ import annotations

import numpy as np

from ep_runtime.array_module import as_array, get_array_module
from ep_runtime.op_shapes import check_broadcasts_to
from ep_runtime.threads import small_gemm

from .registry import kernel

_matmul = np.matmul


def _macs(a: np.ndarray, b: np.ndarray) -> int:
    """The multiply-adds of a @ b (a's batch dims counted; enough to tell a small product)."""
    k = a.shape[-1] if a.ndim else 1
    return (a.size // k if k else 0) * k * (b.shape[-1] if b.ndim >= 2 else 1)


def _shape_error(op: str, a: np.ndarray, b: np.ndarray, what: str) -> ValueError:
    return ValueError(f"{op}: cannot multiply shapes {a.shape} and {b.shape} ({what})")


@kernel("MatMul", since=1)
def MatMul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """numpy matmul semantics: 1-D operands are promoted, leading dims broadcast."""
    try:
        with small_gemm(_macs(a, b)):
            r = _matmul(a, b) if type(a) is np.ndarray else get_array_module(a, b).matmul(a, b)
    except ValueError as exc:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"MatMul: operands must not be scalars, got shapes {a.shape} and {b.shape}") from None
        raise _shape_error("MatMul", a, b, str(exc).split("(")[0].strip()) from None
    r = as_array(r)
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
    xp = np if type(a) is np.ndarray else get_array_module(a, b, c)
    with small_gemm(_macs(at, bt)):
        y = xp.matmul(at, bt)
    if alpha != 1.0:
        xp.multiply(y, alpha, out=y, casting="unsafe")
    if c is not None and beta != 0.0:
        check_broadcasts_to(c.shape, y.shape, "Gemm")
        if beta == 1.0:
            xp.add(y, c, out=y, casting="unsafe")
        else:
            xp.add(y, c * c.dtype.type(beta), out=y, casting="unsafe")
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

