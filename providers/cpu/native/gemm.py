"""Native MatMul and Gemm for a constant B and few rows of A (a transformer's or a CRNN's projections on a
short sequence, a classifier head on a few rows): csrc/sgemm.c's micro-kernel over B packed once per node.
OpenBLAS packs B on every call, which costs more than the product itself when A has few rows (single thread:
2.8x slower on 32 x 512 . 512 x 256, 5% on 40 x 120 . 120 x 6625); other shapes and dtypes run the numpy
kernel; a B computed at run time is packed per call. Gemm's bias (C of one value per column, beta 1) is
added in the kernel's epilogue, so a small Gemm is one C call (numpy's is a product, then an addition), made
through the extension's own entry point `sgemm_f32` (csrc/pyentry.c), not ctypes. A one-row product with a
constant B (a classifier head) runs numpy's product straight (small_product): faster than the packed GEMM,
which would read B's panels padded to the micro-kernel's width and compute a full panel of rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import prod
from ep_runtime.threads import BLAS_SINGLE_THREADED_MACS, intra_op_threads

from .. import matmul as reference
from . import library
from ._register import F32, native_kernel
from .conv import PackedWeights

#: sgemm_f32(a, bp, nr, bias_or_None, y, rows, n, k, threads) -> 0, or -1 when out of memory;
#: sgemm_nr() -> the panel width of the micro-kernel in use (tests may force another one)
SGEMM_F32, SGEMM_NR = library.entry_point("sgemm_f32"), library.entry_point("sgemm_nr")

#: rows of A (all leading axes together) the native product takes: one row is a matrix-vector product
#: (numpy's is faster), and from about 64 rows OpenBLAS's packing pays for itself
MATMUL_MIN_ROWS, MATMUL_MAX_ROWS = 2, 48
#: and B of at least this many values (below, packing A costs about what OpenBLAS's packing of B does:
#: measured 10% slower on a CRNN's 120 x 240 projections)
MATMUL_MIN_B = 1 << 16


def pack_b(b: np.ndarray, nr: int) -> np.ndarray:
    """B (k, n) in panels of nr columns for ep_sgemm_f32 (ep_sgemm_pack_b_rows_f32), 64-byte aligned."""
    k, n = b.shape
    size = -(-n // nr) * nr * k
    raw = np.empty(size + 16, dtype=np.float32)
    skip = (-raw.ctypes.data % 64) // 4
    packed = raw[skip:skip + size]
    bc = np.ascontiguousarray(b, dtype=np.float32)
    library.LIB.ep_sgemm_pack_b_rows_f32(bc.ctypes.data, k, n, nr, packed.ctypes.data)
    return packed


def matmul(a: np.ndarray, b: np.ndarray, packed: PackedWeights | None = None) -> np.ndarray | None:
    """a @ b by the packed GEMM when a is float32 with few rows and b a float32 matrix, else None (the
    caller runs numpy's). `packed` keeps b packed between runs of a node whose b is a constant."""
    if SGEMM_F32 is None or type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype is not F32 \
            or b.dtype is not F32 or a.ndim < 2 or b.ndim != 2:
        return None
    k, n = b.shape
    lead = a.shape[:-1]
    rows = prod(lead)
    if a.shape[-1] != k or not MATMUL_MIN_ROWS <= rows <= MATMUL_MAX_ROWS or k * n < MATMUL_MIN_B:
        return None
    nr = SGEMM_NR()
    bp = packed.get(b, nr) if packed is not None else pack_b(b, nr)
    return _sgemm("MatMul", a, bp, nr, None, lead + (n,), rows, n, k)


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None, trans_b: int, packed: PackedWeights) -> np.ndarray | None:
    """a @ b' + c by the packed GEMM (b' = b.T with trans_b) for a float32 A of MATMUL_MIN_ROWS to
    MATMUL_MAX_ROWS rows and a float32 B, C None or one float32 value per column; else None (the numpy
    kernel). Gemm's alpha 1, beta 1 (or C left out) and transA 0 are the caller's to check; `packed` keeps
    b' packed between runs of a node whose B is a constant."""
    if SGEMM_F32 is None or type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype is not F32 \
            or b.dtype is not F32 or a.ndim != 2 or b.ndim != 2 or not b.size:
        return None
    n, k = b.shape if trans_b else b.shape[::-1]
    rows = a.shape[0]
    if a.shape[1] != k or not MATMUL_MIN_ROWS <= rows <= MATMUL_MAX_ROWS:
        return None
    if c is not None and (type(c) is not np.ndarray or c.dtype is not F32 or c.shape not in ((n,), (1, n))):
        return None
    nr = SGEMM_NR()
    bp = packed.get(b, nr, 1 if trans_b else 0)
    return _sgemm("Gemm", a, bp, nr, c, (rows, n), rows, n, k)


def _sgemm(op: str, a: np.ndarray, bp: np.ndarray, nr: int, bias: np.ndarray | None, shape: tuple[int, ...],
           rows: int, n: int, k: int) -> np.ndarray:
    """y[shape] = a (rows x k) @ the packed B (k x n) [+ bias per column] by the native SGEMM."""
    y = np.empty(shape, F32)
    rc = SGEMM_F32(np.ascontiguousarray(a), bp, nr, None if bias is None else np.ascontiguousarray(bias), y, rows, n,
                   k, intra_op_threads())
    if rc:
        raise MemoryError(f"{op}: the native GEMM could not allocate its buffers")
    return y


def _pack_gemm_b(b: np.ndarray, nr: int, trans_b: int) -> np.ndarray:
    """Gemm's B' (B, or B.T with transB) packed as pack_b does."""
    return pack_b(b.T if trans_b else b, nr)


def small_product(a: np.ndarray, b: np.ndarray, c: np.ndarray | None, batched: bool) -> np.ndarray | None:
    """a @ b (+ c, one value per column) by numpy, straight, for a float32 A (2-D; more with `batched` and
    c None) and a float32 matrix B whose product is below threads.BLAS_SINGLE_THREADED_MACS (where the numpy
    kernel's small_gemm does nothing): the numpy kernel's operations, without its Python around them, for the
    products the packed GEMM does not take (one row: a classifier head). None for anything else (the numpy
    kernel)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype is not F32 or b.dtype is not F32 \
            or b.ndim != 2 or (a.ndim < 2 if batched else a.ndim != 2):
        return None
    k, n = b.shape
    if a.shape[-1] != k or a.size * n >= BLAS_SINGLE_THREADED_MACS:
        return None
    if c is None:
        return np.matmul(a, b)
    if type(c) is not np.ndarray or c.dtype is not F32 or c.shape not in ((n,), (1, n)) or a.ndim != 2:
        return None
    y = np.matmul(a, b)
    np.add(y, c, out=y)
    return y


@native_kernel("Gemm", 7, factory=True)
def gemm_node(*, alpha: float = 1.0, beta: float = 1.0, transA: int = 0, transB: int = 0,
              _node: Node | None = None, _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """The kernel of one Gemm node whose B is a constant: the packed GEMM (B packed on the first run) with the
    bias in its epilogue when alpha is 1, A is not transposed and C is left out or added once (beta 1), numpy
    straight (small_product) for the small products of that form the packed GEMM does not take; numpy's Gemm
    for everything else."""
    packed = PackedWeights.for_node(_node, _graph, _pack_gemm_b)
    native = packed.constant and alpha == 1.0 and not transA
    takes_c = beta in (0.0, 1.0)
    use_c = beta != 0.0

    def run(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
        # often a classifier head right after the network's last (large) kernels: few Python steps
        if native and (c is None or takes_c):
            c1 = c if use_c else None
            y = gemm(a, b, c1, transB, packed)
            if y is None:
                y = small_product(a, b.T if transB else b, c1, False)
            if y is not None:
                return y
        return reference.Gemm(a, b, c, alpha=alpha, beta=beta, transA=transA, transB=transB)

    return run


@native_kernel("MatMul", 1, factory=True)
def matmul_node(*, _node: Node | None = None, _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """The kernel of one MatMul node: the packed GEMM, B kept packed between runs when it is a constant;
    numpy straight (small_product) for the small products with a constant B the packed GEMM does not take."""
    packed = PackedWeights.for_node(_node, _graph, pack_b)
    constant = packed.constant

    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = matmul(a, b, packed)
        if y is None and constant:
            y = small_product(a, b, None, True)
        return reference.MatMul(a, b) if y is None else y

    return run
