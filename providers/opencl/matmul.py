"""MatMul (batched, numpy broadcasting over batch dims) and Gemm, on the tiled kernel of matmul.cl."""

from __future__ import annotations

from typing import Any

import numpy as np

from .copies import expand, strided_copy
from .launch import broadcast_shape, broadcast_strides
from .registry import FLOATS, kernel
from .runtime import Launcher, ftype, prod

CL = "matmul.cl"
TS_M = TS_N = 64
LX = LY = 16
#: rows per work-item of gemm_cpu.cl's gemm_nn
RM = 8
#: float8 column vectors per work-item of gemm_nn
NV = 1


def launch_gemm(rt: Launcher, y: Any, m: int, n: int, k: int, a: Any, a_sm: int, a_sk: int, b: Any, b_sk: int,
                b_sn: int, batch: tuple[int, int] = (1, 1), a_b: tuple[int, int] = (0, 0),
                b_b: tuple[int, int] = (0, 0), alpha: float = 1.0, c: Any = None, c_sm: int = 0, c_sn: int = 0,
                beta: float = 0.0, *, a_off: int = 0, b_off: int = 0, y_off: int = 0, y_sm: int | None = None,
                y_b: tuple[int, int] | None = None, c_off: int = 0, c_b: tuple[int, int] = (0, 0)) -> Any:
    """Y = alpha * A @ B + beta * C over a batch of up to two levels, every operand strided.

    Element strides: A (a_sm, a_sk), B (b_sk, b_sn), C (c_sm, c_sn; 0 broadcasts); per batch
    level (b1, b2) strides a_b, b_b, y_b, c_b; element offsets a_off... . Y rows are y_sm apart
    (default N), batches contiguous by default. The tiled local-memory kernel (matmul.cl) runs
    on GPUs, the register-blocked ones (gemm_cpu.cl) on CPU devices (`rt.gemm_mode`).
    """
    if y.size == 0 or m == 0 or n == 0:
        return y
    y_sm = n if y_sm is None else y_sm
    y_b = (batch[1] * m * n, m * n) if y_b is None else y_b
    if k == 0:
        a = b = y  # an empty sum: the loops are skipped, only the C term remains
    i32, f32 = np.int32, np.float32
    plain = (a_off, b_off, y_off, c_off) == (0, 0, 0, 0) and y_sm == n and y_b == (batch[1] * m * n, m * n) \
        and c_b == (0, 0)
    if rt.gemm_mode == "tiled" and plain:
        knl = rt.kernel(CL, "gemm", T=ftype(y.dtype))
        gsize = (-(-n // TS_N) * LX, -(-m // TS_M) * LY, batch[0] * batch[1])
        rt.launch(knl, gsize, (LX, LY, 1), i32(m), i32(n), i32(k),
                  a.data, i32(a_sm), i32(a_sk), i32(a_b[0]), i32(a_b[1]),
                  b.data, i32(b_sk), i32(b_sn), i32(b_b[0]), i32(b_b[1]),
                  i32(batch[1]), f32(alpha), (c if c is not None else y).data, i32(c_sm), i32(c_sn), f32(beta),
                  i32(c is not None), y.data)
        return y
    nt = a_sk == 1 and b_sk == 1 and k > 0
    if not nt and b_sn != 1 and k > 0:
        # B strided along N: materialize it contiguous (K x N per batch) first
        nb = batch[0] * batch[1]
        bc = rt.empty((nb, k, n), b.dtype)
        strided_copy(rt, b, bc, (batch[0], batch[1], k, n), (b_b[0], b_b[1], b_sk, b_sn), b_off,
                     (batch[1] * k * n, k * n, n, 1), 0)
        b, b_sk, b_sn, b_b, b_off = bc, n, 1, (batch[1] * k * n, k * n), 0
    if nt:
        knl = rt.kernel("gemm_cpu.cl", "gemm_nt", T=ftype(y.dtype))
        gsize = (-(-n // 4), -(-m // 2), batch[0] * batch[1])
    else:
        knl = rt.kernel("gemm_cpu.cl", "gemm_nn", T=ftype(y.dtype), RM=RM, NV=NV)
        gsize = (-(-n // (8 * NV)), -(-m // RM), batch[0] * batch[1])
    cc = c if c is not None else y
    rt.launch(knl, gsize, None, i32(m), i32(n), i32(k),
              a.data, i32(a_off), i32(a_sm), i32(a_sk), i32(a_b[0]), i32(a_b[1]),
              b.data, i32(b_off), i32(b_sk), i32(b_sn), i32(b_b[0]), i32(b_b[1]),
              y.data, i32(y_off), i32(y_sm), i32(y_b[0]), i32(y_b[1]),
              i32(batch[1]), f32(alpha),
              cc.data, i32(c_off), i32(c_sm), i32(c_sn), i32(c_b[0]), i32(c_b[1]), f32(beta), i32(c is not None))
    return y


def matmul(rt: Launcher, a: Any, b: Any) -> Any:
    """numpy.matmul semantics on device arrays."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("MatMul inputs must have rank >= 1")
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    m, k = a_shape[-2:]
    k2, n = b_shape[-2:]
    if k != k2:
        raise ValueError(f"MatMul: shapes {a.shape} and {b.shape} do not align ({k} != {k2})")
    a_batch, b_batch = a_shape[:-2], b_shape[:-2]
    batch = broadcast_shape(a_batch, b_batch)
    out_shape = batch + (m, n)
    final = out_shape
    if a.ndim == 1:
        final = final[:-2] + final[-1:]
    if b.ndim == 1:
        final = final[:-1]
    y = rt.empty(out_shape, a.dtype)
    if prod(b_batch) == 1 and len(batch) == len(a_batch):
        # B is one matrix: A's batch folds into its rows
        launch_gemm(rt, y, prod(a_batch) * m, n, k, a, k, 1, b, n, 1)
        return y.reshape(final)
    dims, (sa, sb) = broadcast_strides(batch, a_batch, b_batch)
    sa = [s * m * k for s in sa]
    sb = [s * k * n for s in sb]
    if len(dims) <= 2:
        dims2 = ([1] * (2 - len(dims))) + dims
        sa2 = ([0] * (2 - len(sa))) + sa
        sb2 = ([0] * (2 - len(sb))) + sb
        launch_gemm(rt, y, m, n, k, a, k, 1, b, n, 1, (dims2[0], dims2[1]), (sa2[0], sa2[1]), (sb2[0], sb2[1]))
        return y.reshape(final)
    # more than two non-mergeable batch levels (rare): materialize the broadcast, then one level
    a_full = expand(rt, a.reshape(a_shape), batch + (m, k))
    b_full = expand(rt, b.reshape(b_shape), batch + (k, n))
    nb = prod(batch)
    launch_gemm(rt, y, m, n, k, a_full, k, 1, b_full, n, 1, (1, nb), (0, m * k), (0, k * n))
    return y.reshape(final)


@kernel("MatMul", since=1, dtypes=FLOATS, factory=True)
def MatMul(*, _provider):
    rt = _provider.rt
    return lambda a, b: matmul(rt, a, b)


def _gemm(rt: Launcher, a, b, c, alpha: float, beta: float, trans_a: int, trans_b: int):
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Gemm: A and B must be 2-D, got {a.shape} and {b.shape}")
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != k2:
        raise ValueError(f"Gemm: inner dims differ ({k} != {k2})")
    a_sm, a_sk = (1, m) if trans_a else (k, 1)
    b_sk, b_sn = (1, k) if trans_b else (n, 1)
    c_sm = c_sn = 0
    if c is not None:
        cs = (1,) * (2 - c.ndim) + tuple(c.shape)
        if cs[0] not in (1, m) or cs[1] not in (1, n) or c.ndim > 2:
            raise ValueError(f"Gemm: C of shape {c.shape} does not broadcast to ({m}, {n})")
        c_sn = 1 if cs[1] != 1 else 0
        c_sm = cs[1] if cs[0] != 1 else 0
    y = rt.empty((m, n), a.dtype)
    return launch_gemm(rt, y, m, n, k, a, a_sm, a_sk, b, b_sk, b_sn, alpha=alpha, c=c, c_sm=c_sm, c_sn=c_sn,
                       beta=beta)


@kernel("Gemm", since=7, dtypes=FLOATS, factory=True)
def Gemm(*, alpha: float = 1.0, beta: float = 1.0, transA: int = 0, transB: int = 0, _provider):
    rt = _provider.rt

    def run(a, b, c=None):
        return _gemm(rt, a, b, c, alpha, beta, transA, transB)

    return run
