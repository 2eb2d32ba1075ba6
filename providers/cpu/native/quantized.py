"""Native integer kernels: MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv, DynamicQuantizeLinear,
and com.microsoft's MatMulIntegerToFloat and DynamicQuantizeMatMul, on the integer GEMM of csrc/qgemm.c.

The GEMM multiplies unsigned bytes by signed bytes (VNNI's operand types). Any 8-bit operand is
brought to the type its side needs by flipping the top bit (x ^ 0x80 is x + 128 for int8, x - 128 for
uint8), and its zero point is shifted by the same 128, so that (a - za)(b - zb) is unchanged: A's rows
(a convolution's weights) are the unsigned side, B's columns (a convolution's input patches) the signed
side, packed in panels. Constant weights (initializers) are packed once per node and kept while the
node's input is the same array. Integer outputs are the numpy kernels' bits for any K (sums modulo
2^32, csrc/qgemm.c); float outputs scale the exact int32 sums in float32 as the numpy kernels do, and
QLinear outputs requantize them with the numpy kernels' own code, so both are the same bits too (those
run natively only for K <= FLOAT_MAX_K, where the exact sum fits int32). The GEMM operators are
registered only where the CPU has AVX2 or AVX-512 VNNI (FAST_GEMM); the portable kernel serves the tests.
Whatever the C code does not cover (other types, zero points that are not per tensor / per row / per
column, 3-D convolutions, negative pads, empty tensors, products below SMALL_MACS) runs on numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import check_conv_shapes, conv_channels, spatial_pads

from .. import quantization as reference
from ..contrib import quantized as contrib
from ..contrib._common import MS
from . import library
from ._register import F32, extents_fit, native_kernel, ptr

U8, I8 = np.dtype(np.uint8), np.dtype(np.int8)
BYTES = (U8, I8)
#: float-output GEMMs run natively up to this K: |sum of K products| <= 255 * 255 * K stays below
#: 2^31, so the int32 sum is exact (beyond it the numpy kernel's float64 sum does not wrap)
FLOAT_MAX_K = 33025
#: products of fewer multiply-adds than this run on numpy, whose fixed cost per call is lower
SMALL_MACS = 1 << 17
#: kernel levels of ep_qgemm_force_kernel
KERNEL_PORTABLE, KERNEL_AVX2, KERNEL_VNNI = 1, 2, 3
#: whether the CPU runs a vector kernel (AVX2 or AVX-512 VNNI); without one (the portable kernel is slower
#: than numpy's float64 BLAS on the same integers) the GEMM operators are left to numpy and only
#: DynamicQuantizeLinear is native
FAST_GEMM = library.LIB is not None and library.LIB.ep_qgemm_force_kernel(0) >= KERNEL_AVX2


def gemm_kernel(op_type: str, since: int, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """native_kernel for the operators on the integer GEMM: registered only where FAST_GEMM holds."""
    return native_kernel(op_type, since, **kwargs) if FAST_GEMM else (lambda fn: fn)


#: ConvInteger's padded copy of an image may be this many times the image (plus 16 MiB) at most;
#: larger pads or dilations go to numpy
PAD_GROWTH = 4


def padded_k(k: int) -> int:
    """K rounded up to the GEMM's groups of 4 bytes (the bytes past K are zero)."""
    return (k + 3) // 4 * 4


@dataclass(frozen=True)
class UnsignedRows:
    """The unsigned side of the integer GEMM: m rows of K uint8 values, each padded with zeros to
    padded_k(K) bytes (C-contiguous), each row's sum (int32, modulo 2^32) and zero point in this form
    (int32: one value for every row, or one a row)."""

    rows: np.ndarray
    sums: np.ndarray
    zero: np.ndarray
    k: int
    #: the arrays' addresses (rows, sums, zero): a ctypes address costs a microsecond or more
    addr: tuple[int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "addr", (self.rows.ctypes.data, self.sums.ctypes.data, self.zero.ctypes.data))


@dataclass(frozen=True)
class SignedPanels:
    """The signed side of the integer GEMM: n columns of K int8 values in ep_qpack_panels' layout
    (panels of 16 columns, K padded to kp), each column's sum (int32, modulo 2^32) and zero point."""

    panels: np.ndarray
    sums: np.ndarray
    zero: np.ndarray
    n: int
    k: int
    #: the arrays' addresses (panels, sums, zero)
    addr: tuple[int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "addr", (self.panels.ctypes.data, self.sums.ctypes.data, self.zero.ctypes.data))


def _flipped(x: np.ndarray, want: np.dtype) -> tuple[np.ndarray, int]:
    """`x` (uint8 or int8) as `want` by flipping the top bit when the types differ, and the shift
    between the two: x = flipped + shift."""
    if x.dtype == want:
        return np.ascontiguousarray(x), 0
    flipped = np.bitwise_xor(x.view(U8), np.uint8(0x80)).view(want)
    return flipped, (128 if x.dtype == U8 else -128)


def _zeros(zero: np.ndarray | int, shift: int) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(zero, np.int64).reshape(-1) - shift, np.int32)


def unsigned_rows(x: np.ndarray, zero: np.ndarray | int) -> UnsignedRows:
    """The 2-D byte matrix `x` (m rows of K) as the GEMM's unsigned rows, with its zero point (a scalar
    or one per row)."""
    rows, shift = _flipped(x, U8)
    m, k = rows.shape
    kp = padded_k(k)
    if kp != k:
        padded = np.zeros((m, kp), U8)
        padded[:, :k] = rows
        rows = padded
    sums = np.empty(m, np.int32)
    library.LIB.ep_qrow_sums(rows.ctypes.data, m, kp, kp, 0, sums.ctypes.data, library.threads())
    return UnsignedRows(rows, sums, _zeros(zero, shift), k)


def signed_panels(x: np.ndarray, zero: np.ndarray | int) -> SignedPanels:
    """The 2-D byte matrix `x` (n rows of K: the columns of the product's right operand) packed as the
    GEMM's signed panels, with its zero point (a scalar or one per column)."""
    rows, shift = _flipped(x, I8)
    n, k = rows.shape
    kp = padded_k(k)
    panels = np.empty(-(-n // 16) * kp * 16, I8)
    sums = np.empty(n, np.int32)
    library.LIB.ep_qpack_panels(rows.ctypes.data, n, k, k, kp, panels.ctypes.data, sums.ctypes.data,
                                library.threads())
    return SignedPanels(panels, sums, _zeros(zero, shift), n, k)


def qgemm(u: UnsignedRows, s: SignedPanels, out: np.ndarray, mult: np.ndarray | None = None,
          bias: np.ndarray | None = None) -> np.ndarray:
    """out[i, j] = sum_k (u[i, k] - zu_i)(s[k, j] - zs_j): int32 (modulo 2^32), or with `mult` (float32,
    one per column) float32 float(sum) * mult_j (+ bias_j). `out` is a C-contiguous 2-D view."""
    m, kp = u.rows.shape
    if s.k != u.k or padded_k(s.k) != kp or out.shape != (m, s.n) or not out.flags.c_contiguous:
        raise ValueError(f"integer GEMM: operands of {m} x {u.k} and {s.k} x {s.n} do not make output {out.shape}")
    (u_rows, u_sums, u_zero), (s_panels, s_sums, s_zero) = u.addr, s.addr
    rc = library.LIB.ep_qgemm_u8s8(u_rows, kp, s_panels, m, s.n, u.k, kp, u_sums, s_sums, u_zero, int(u.zero.size > 1),
                                   s_zero, int(s.zero.size > 1), out.ctypes.data, s.n, ptr(mult), ptr(bias),
                                   library.threads())
    if rc != 0:
        raise RuntimeError(f"integer GEMM: the native kernel failed ({rc})")
    return out


class WeightCache:
    """The packed form of a node's constant weight, kept while the node is given the same arrays
    (compared by identity; a session passes an initializer as the same array on every run)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._entry: tuple[tuple[Any, ...], Any] | None = None

    def get(self, arrays: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """What `build()` made for these very arrays, else `build()` (kept when enabled)."""
        entry = self._entry
        if entry is not None and len(entry[0]) == len(arrays) and all(a is b for a, b in zip(entry[0], arrays)):
            return entry[1]
        value = build()
        if self.enabled:
            self._entry = (arrays, value)
        return value


def _large(a: Any, b: Any) -> bool:
    """Whether A @ B takes at least SMALL_MACS multiply-adds (counting B's last dimension once)."""
    return type(a) is np.ndarray and type(b) is np.ndarray and a.size * (b.shape[-1] if b.ndim > 1 else 1) >= SMALL_MACS


def _constant_inputs(node: Node | None, graph: Graph | None, positions: Sequence[int]) -> bool:
    """Whether the node's inputs at `positions` that are present are all constants (`Graph.is_constant`)."""
    if node is None or graph is None:
        return False
    names = list(node.inputs)
    return all(p >= len(names) or not names[p] or graph.is_constant(names[p]) for p in positions)


def _zero_ok(zero: np.ndarray | None) -> bool:
    return zero is None or (type(zero) is np.ndarray and zero.dtype in BYTES)


def _is_bytes(*xs: Any) -> bool:
    return all(type(x) is np.ndarray and x.dtype in BYTES for x in xs)


# --------------------------------------------------------------------------- MatMulInteger


def _weight_columns(b: np.ndarray, b_zero: np.ndarray | None, op: str) -> SignedPanels | None:
    """B (K, N) as the signed panels of the GEMM, or None when B's zero point is neither a scalar nor
    one per column."""
    zb = reference._col_param(b_zero, b, op, "b_zero_point")
    if zb.ndim > 1:
        return None
    return signed_panels(np.ascontiguousarray(b.T), zb.astype(np.int64))


def _row_zeros(a_zero: np.ndarray | None, a: np.ndarray, lead: tuple[int, ...], op: str) -> np.ndarray | None:
    """A's zero point for every row of the (lead..., M) rows of A, flattened (None when it does not
    broadcast to them)."""
    if a_zero is None or a_zero.size == 1:
        return np.array([0 if a_zero is None else int(a_zero.reshape(-1)[0])], np.int64)
    za = reference._row_param(a_zero, a, op, "a_zero_point")
    try:
        return np.broadcast_to(za, lead + (1,))[..., 0].reshape(-1).astype(np.int64)
    except ValueError:
        return None


def matmul_integer(a: np.ndarray, b: np.ndarray, a_zero: np.ndarray | None, b_zero: np.ndarray | None,
                   weights: WeightCache | None = None) -> np.ndarray | None:
    """(A - a_zero) @ (B - b_zero) in int32 natively, or None where the numpy kernel must run."""
    op = "MatMulInteger"
    if not (_is_bytes(a, b) and _zero_ok(a_zero) and _zero_ok(b_zero)) or a.ndim == 0 or b.ndim == 0:
        return None
    if b.ndim == 1 and b_zero is not None and b_zero.size != 1:
        return None  # the numpy kernel reads it per element of B
    a2 = a[None] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    k, n = b2.shape[-2:]
    if a2.shape[-1] != k or a.size == 0 or b.size == 0:
        return None
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        return None
    m = a2.shape[-2]
    if b2.ndim == 2:
        cache = weights if weights is not None else WeightCache(False)
        cols = cache.get((b, b_zero), lambda: _weight_columns(b2, b_zero, op))
        if cols is None:
            return None
        lead = a2.shape[:-1]
        za = _row_zeros(a_zero, a, lead, op)
        if za is None:
            return None
        rows = unsigned_rows(a2.reshape(-1, k), za)
        y = qgemm(rows, cols, np.empty((rows.rows.shape[0], n), np.int32)).reshape(lead + (n,))
    else:
        if reference._col_param(b_zero, b, op, "b_zero_point").ndim > 1:
            return None
        za = _row_zeros(a_zero, a, batch + (m,), op)
        if za is None:
            return None
        if za.size > 1:
            za = za.reshape(batch + (m,))
        ab = np.broadcast_to(a2, batch + (m, k))
        bb = np.broadcast_to(b2, batch + (k, n))
        y = np.empty(batch + (m, n), np.int32)
        for idx in np.ndindex(*batch):
            cols = _weight_columns(bb[idx], b_zero, op)
            qgemm(unsigned_rows(ab[idx], za if za.size == 1 else za[idx]), cols, y[idx])
    if a.ndim == 1:
        y = y.reshape(y.shape[:-2] + y.shape[-1:])
    if b.ndim == 1:
        y = y.reshape(y.shape[:-1])
    return y


@gemm_kernel("MatMulInteger", 10, factory=True, dtypes=BYTES)
def MatMulInteger(*, _node: Node | None = None, _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """MatMulInteger on the native GEMM; a constant B is packed on the first run only."""
    weights = WeightCache(_constant_inputs(_node, _graph, (1, 3)))

    def run(a: np.ndarray, b: np.ndarray, a_zero_point: np.ndarray | None = None,
            b_zero_point: np.ndarray | None = None) -> np.ndarray:
        y = matmul_integer(a, b, a_zero_point, b_zero_point, weights) if _large(a, b) else None
        return reference.MatMulInteger(a, b, a_zero_point, b_zero_point) if y is None else y

    return run


# --------------------------------------------------------------------------- ConvInteger


def _conv_weights(w: np.ndarray, w_zero: np.ndarray | None, group: int) -> list[UnsignedRows] | None:
    """A convolution's weights (M, C/group, kh, kw) as the unsigned GEMM rows of each group (M/group,
    kh * kw * C/group), taps outermost as ep_qconv_panels lays out the input patches; None when the zero
    point is neither a scalar nor one per output channel."""
    zw = np.asarray(0 if w_zero is None else w_zero).astype(np.int64)
    m = w.shape[0]
    if zw.size != 1 and zw.shape != (m,):
        return None
    w4 = w.reshape(w.shape[:2] + (1,) * (4 - w.ndim) + w.shape[2:])
    rows = unsigned_rows(np.ascontiguousarray(w4.transpose(0, 2, 3, 1)).reshape(m, -1), zw.reshape(-1))
    mg = m // group
    return [UnsignedRows(rows.rows[g * mg:(g + 1) * mg], rows.sums[g * mg:(g + 1) * mg],
                         rows.zero if rows.zero.size == 1 else rows.zero[g * mg:(g + 1) * mg], rows.k)
            for g in range(group)]


def conv_integer(x: np.ndarray, w: np.ndarray, x_zero: np.ndarray | None, w_zero: np.ndarray | None,
                 attrs: dict[str, Any], weights: WeightCache | None = None) -> np.ndarray | None:
    """(X - x_zero) conv (W - w_zero) in int32 natively (1-D and 2-D), or None for the numpy kernel."""
    op = "ConvInteger"
    if not (_is_bytes(x, w) and _zero_ok(x_zero) and _zero_ok(w_zero)) or x.ndim not in (3, 4) or x.size == 0 \
            or w.size == 0 or (x_zero is not None and (x_zero.size != 1 or x_zero.dtype != x.dtype)):
        return None
    group = int(attrs.get("group") or 1)
    try:
        nd = check_conv_shapes(x.shape, w.shape, group, attrs.get("kernel_shape"), op)
        m, cg = conv_channels(x.shape, w.shape, None, group)
        ks = list(w.shape[2:])
        st = list(attrs.get("strides") or [1] * nd)
        dil = list(attrs.get("dilations") or [1] * nd)
        begin, end, out = spatial_pads(x.shape[2:], ks, st, dil, attrs.get("pads"), attrs.get("auto_pad") or "NOTSET",
                                       op)
    except ValueError:
        return None  # the numpy kernel raises its error
    if min(begin) < 0 or min(st) < 1 or min(dil) < 1 or min(out) < 1 or not extents_fit(out, ks, st, dil):
        return None
    cache = weights if weights is not None else WeightCache(False)
    packed = cache.get((w, w_zero, group), lambda: _conv_weights(w, w_zero, group))
    if packed is None:
        return None
    n, c = x.shape[:2]
    # a 1-D convolution is a 2-D one of height 1
    (h, wd), (kh, kw), (sh, sw), (dh, dw), (pt, pl), (ho, wo) = [
        (1, v[0]) if nd == 1 else tuple(v) for v in (x.shape[2:], ks, st, dil, begin, out)]
    if nd == 1:
        pt = 0
    eh, ew = (ho - 1) * sh + (kh - 1) * dh + 1, (wo - 1) * sw + (kw - 1) * dw + 1
    if eh * ew * c > PAD_GROWTH * c * h * wd + (1 << 24):
        return None
    lib, threads = library.LIB, library.threads()
    xs = np.ascontiguousarray(x)
    flip = 0x80 if x.dtype == U8 else 0
    zx_raw = 0 if x_zero is None else int(x_zero.reshape(-1)[0].view(U8))
    zx = 0 if x_zero is None else int(x_zero.reshape(-1)[0])
    plane, kdim, mg = ho * wo, kh * kw * cg, m // group
    kp = padded_k(kdim)
    hwc = np.empty(eh * ew * c, U8)
    y = np.empty((n, m, plane), np.int32)
    s_zero = _zeros(zx, 128 if flip else 0)
    for i in range(n):
        lib.ep_qpad_hwc(xs[i].ctypes.data, hwc.ctypes.data, c, h, wd, pt, pl, eh, ew, flip, zx_raw ^ flip, threads)
        for g in range(group):
            panels = np.empty(-(-plane // 16) * kp * 16, I8)
            sums = np.empty(plane, np.int32)
            rc = lib.ep_qconv_panels(hwc.ctypes.data, panels.ctypes.data, sums.ctypes.data, c, ew, g * cg, cg, kh, kw,
                                     sh, sw, dh, dw, ho, wo, kp, threads)
            if rc != 0:
                raise MemoryError(f"{op}: the native kernel could not allocate its patch buffer")
            qgemm(packed[g], SignedPanels(panels, sums, s_zero, plane, kdim), y[i, g * mg:(g + 1) * mg])
    return y.reshape((n, m) + tuple(out))


@gemm_kernel("ConvInteger", 10, factory=True, dtypes=BYTES)
def ConvInteger(*, auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
                kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                strides: list[int] | None = None, _node: Node | None = None,
                _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """ConvInteger as byte patches times the weights on the native GEMM; constant weights are
    packed on the first run only."""
    attrs: dict[str, Any] = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                                 pads=pads, strides=strides)
    weights = WeightCache(_constant_inputs(_node, _graph, (1, 3)))

    def run(x: np.ndarray, w: np.ndarray, x_zero_point: np.ndarray | None = None,
            w_zero_point: np.ndarray | None = None) -> np.ndarray:
        y = conv_integer(x, w, x_zero_point, w_zero_point, attrs, weights)
        return reference.ConvInteger(x, w, x_zero_point, w_zero_point, **attrs) if y is None else y

    return run


# --------------------------------------------------------------------------- DynamicQuantizeLinear


def dynamic_quantize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """DynamicQuantizeLinear's (y, scale, zero point) in two native passes, or None (an empty
    tensor, a NaN or an infinity: the numpy kernel's semantics)."""
    if type(x) is not np.ndarray or x.dtype != F32 or x.size == 0:
        return None
    xs = np.ascontiguousarray(x)
    y = np.empty(x.shape, U8)
    scale = np.empty((), np.float32)
    zero = np.empty((), U8)
    rc = library.LIB.ep_dynamic_quantize_u8(xs.ctypes.data, xs.size, y.ctypes.data, scale.ctypes.data,
                                            zero.ctypes.data, library.threads())
    if rc < 0:
        raise MemoryError("DynamicQuantizeLinear: the native kernel could not allocate")
    return None if rc else (y, scale, zero)


@native_kernel("DynamicQuantizeLinear", 11, multi_output=True)
def DynamicQuantizeLinear(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 quantization over [min(x, 0), max(x, 0)]: one pass for the range, one to quantize."""
    out = dynamic_quantize(x)
    return reference.DynamicQuantizeLinear(x) if out is None else out


# --------------------------------------------------------------------------- integer matmuls to float


def _float_matmul(a: np.ndarray, b: np.ndarray, a_scale: np.ndarray, b_scale: np.ndarray,
                  a_zero: np.ndarray | None, b_zero: np.ndarray | None, bias: np.ndarray | None,
                  weights: WeightCache, op: str) -> np.ndarray | None:
    """(A - a_zero) @ (B - b_zero) * (a_scale * b_scale) + bias in float32 for a 2-D B and per-tensor
    A parameters, or None for the numpy kernel."""
    if not (_is_bytes(a, b) and _zero_ok(a_zero) and _zero_ok(b_zero)) or a.ndim < 1 or b.ndim != 2:
        return None
    k, n = b.shape
    if a.shape[-1] != k or a.size == 0 or b.size == 0 or k > FLOAT_MAX_K:
        return None
    if (a_zero is not None and (a_zero.dtype != a.dtype or a_zero.size != 1)) or \
            (b_zero is not None and b_zero.dtype != b.dtype):
        return None
    for v in (a_scale, b_scale):
        if type(v) is not np.ndarray or v.dtype != F32:
            return None
    if a_scale.size != 1 or (b_scale.size != 1 and b_scale.shape != (n,)):
        return None
    if bias is not None and (type(bias) is not np.ndarray or bias.shape != (n,) or bias.dtype.kind != "f"):
        return None
    cols = weights.get((b, b_zero), lambda: _weight_columns(b, b_zero, op))
    if cols is None:
        return None
    mult = np.ascontiguousarray(np.broadcast_to(a_scale.reshape(()) * b_scale.reshape(-1), (n,)), np.float32)
    lead = a.shape[:-1]
    za = 0 if a_zero is None else int(a_zero.reshape(-1)[0])
    rows = unsigned_rows(a.reshape(-1, k), za)
    y = np.empty((rows.rows.shape[0], n), np.float32)
    qgemm(rows, cols, y, mult, None if bias is None else np.ascontiguousarray(bias, np.float32))
    return y.reshape(lead + (n,))


@gemm_kernel("MatMulIntegerToFloat", 1, domain=MS, factory=True, dtypes=BYTES)
def MatMulIntegerToFloat(*, _node: Node | None = None, _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """MatMulIntegerToFloat with the scale and bias applied in the native GEMM's epilogue (through a
    _FloatGemmPlan when B, b_scale, its zero point and the bias are initializers)."""
    weights = WeightCache(_constant_inputs(_node, _graph, (1, 5)))
    plans = _PlanCache("MatMulIntegerToFloat", weights) if _node is not None and _constant_inputs(
        _node, _graph, (1, 3, 5, 6)) else None

    def run(a: np.ndarray, b: np.ndarray, a_scale: np.ndarray, b_scale: np.ndarray,
            a_zero_point: np.ndarray | None = None, b_zero_point: np.ndarray | None = None,
            bias: np.ndarray | None = None) -> np.ndarray:
        if plans is not None:
            plan = plans.get(b, b_scale, b_zero_point, bias)
            y = None if plan is None else plan.integer(a, a_scale, a_zero_point)
            if y is not None:
                return y
        y = None
        if _large(a, b):
            y = _float_matmul(a, b, a_scale, b_scale, a_zero_point, b_zero_point, bias, weights,
                              "MatMulIntegerToFloat")
        if y is None:
            return contrib.MatMulIntegerToFloat(a, b, a_scale, b_scale, a_zero_point, b_zero_point, bias)
        return y

    return run


class _FloatGemmPlan:
    """The constant right side of a node's float-output integer GEMM (MatMulIntegerToFloat,
    DynamicQuantizeMatMul): B packed, B's scale per column, zero point and bias, for a uint8 A (quantized
    or given) whose last dimension K is a multiple of 4, so that A's rows need no padding. A run is one C
    call (csrc/qmatmul.c) doing what the general path's calls do (DynamicQuantizeMatMul's quantization of A,
    A's row sums, the multipliers a_scale * b_scale in float32, the GEMM with the scale and bias epilogue):
    the same arithmetic, so the same bits, without the general path's per-run checks, arrays and calls (each
    costs microseconds when a small product runs between large nodes). It serves products of any size: its
    fixed cost is below the numpy kernel's, which smaller products took before."""

    def __init__(self, b: np.ndarray, b_scale: np.ndarray, bias: np.ndarray | None, cols: SignedPanels) -> None:
        self.k, self.n = b.shape
        self.cols = cols
        self.b_scale = np.ascontiguousarray(np.broadcast_to(b_scale.reshape(-1), (self.n,)), np.float32)
        self.b_scale_at = self.b_scale.ctypes.data
        self.bias = None if bias is None else np.ascontiguousarray(bias, np.float32)
        self.bias_at = ptr(self.bias)
        self.zero_step = int(cols.zero.size > 1)

    @staticmethod
    def build(b: Any, b_scale: Any, b_zero: Any, bias: Any, weights: WeightCache, op: str) -> _FloatGemmPlan | None:
        """The plan of these weights, or None where the general path (or numpy) must run."""
        if not (_is_bytes(b) and b.ndim == 2 and _zero_ok(b_zero)) or (b_zero is not None and b_zero.dtype != b.dtype):
            return None
        k, n = b.shape
        if k == 0 or n == 0 or k % 4 or k > FLOAT_MAX_K:
            return None
        if type(b_scale) is not np.ndarray or b_scale.dtype != F32 or (b_scale.size != 1 and b_scale.shape != (n,)):
            return None
        if bias is not None and (type(bias) is not np.ndarray or bias.shape != (n,) or bias.dtype.kind != "f"):
            return None
        cols = weights.get((b, b_zero), lambda: _weight_columns(b, b_zero, op))
        return None if cols is None else _FloatGemmPlan(b, b_scale, bias, cols)

    def _product(self, xf: np.ndarray | None, xq: np.ndarray | None, x_scale: float, x_zero: int,
                 lead: tuple[int, ...]) -> np.ndarray | None:
        """ep_qmatmul_f32 of float32 A (xf, quantized in C) or uint8 A (xq with x_scale and x_zero)."""
        a = np.ascontiguousarray(xf if xf is not None else xq)
        y = np.empty(lead + (self.n,), np.float32)
        s_panels, s_sums, s_zero = self.cols.addr
        at = a.ctypes.data
        rc = library.LIB.ep_qmatmul_f32(at if xf is not None else None, at if xf is None else None, x_scale, x_zero,
                                        a.size // self.k, self.k, s_panels, s_sums, s_zero, self.zero_step, self.n,
                                        self.b_scale_at, self.bias_at, y.ctypes.data, library.threads())
        if rc == 1 and xf is not None:
            return None
        if rc == -1:
            raise MemoryError("integer GEMM: the native kernel could not allocate")
        if rc != 0:
            raise RuntimeError(f"integer GEMM: the native kernel failed ({rc})")
        return y

    def dynamic(self, a: np.ndarray) -> np.ndarray | None:
        """DynamicQuantizeMatMul of A (float32, last dimension K, not empty), or None when A holds a NaN or
        an infinity (the numpy kernel's semantics)."""
        return self._product(a, None, 0.0, 0, a.shape[:-1])

    def integer(self, a: Any, a_scale: Any, a_zero: Any) -> np.ndarray | None:
        """MatMulIntegerToFloat of a uint8 A (last dimension K, not empty) with a float32 a_scale and a uint8
        a_zero of one value each, or None for other inputs (the general path)."""
        if type(a) is not np.ndarray or a.dtype != U8 or a.ndim < 1 or a.shape[-1] != self.k or not a.size:
            return None
        if type(a_scale) is not np.ndarray or a_scale.dtype != F32 or a_scale.size != 1:
            return None
        if a_zero is not None and (type(a_zero) is not np.ndarray or a_zero.dtype != U8 or a_zero.size != 1):
            return None
        zero = 0 if a_zero is None else int(a_zero.reshape(-1)[0])
        return self._product(None, a, float(a_scale.reshape(-1)[0]), zero, a.shape[:-1])


class _PlanCache:
    """A node's _FloatGemmPlan, kept while the node is given the same weight arrays (compared by identity)."""

    def __init__(self, op: str, weights: WeightCache) -> None:
        self.op = op
        self.weights = weights
        self._entry: tuple[tuple[Any, ...], _FloatGemmPlan | None] = ((), None)

    def get(self, b: Any, b_scale: Any, b_zero: Any, bias: Any) -> _FloatGemmPlan | None:
        """The plan of these arrays, or None when they have none."""
        arrays, plan = self._entry
        if len(arrays) == 4 and arrays[0] is b and arrays[1] is b_scale and arrays[2] is b_zero and arrays[3] is bias:
            return plan
        plan = _FloatGemmPlan.build(b, b_scale, b_zero, bias, self.weights, self.op)
        self._entry = ((b, b_scale, b_zero, bias), plan)
        return plan


@gemm_kernel("DynamicQuantizeMatMul", 1, domain=MS, factory=True)
def DynamicQuantizeMatMul(*, _node: Node | None = None, _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """DynamicQuantizeMatMul: A quantized natively, then the native GEMM with the scale and bias epilogue
    (through a _FloatGemmPlan when B, its scale, zero point and bias are initializers)."""
    weights = WeightCache(_constant_inputs(_node, _graph, (1, 3)))
    plans = _PlanCache("DynamicQuantizeMatMul", weights) if _node is not None and _constant_inputs(
        _node, _graph, (1, 2, 3, 4)) else None

    def run(a: np.ndarray, b: np.ndarray, b_scale: np.ndarray, b_zero_point: np.ndarray | None = None,
            bias: np.ndarray | None = None) -> np.ndarray:
        if plans is not None and type(a) is np.ndarray and a.dtype == F32 and a.size and a.ndim >= 1:
            plan = plans.get(b, b_scale, b_zero_point, bias)
            if plan is not None and a.shape[-1] == plan.k:
                y = plan.dynamic(a)
                if y is not None:
                    return y
        y = None
        if _is_bytes(b) and b.ndim == 2 and a.ndim >= 1 and a.shape[-1] == b.shape[0] and _large(a, b):
            quantized = dynamic_quantize(a)
            if quantized is not None:
                qa, a_scale, a_zero = quantized
                y = _float_matmul(qa, b, a_scale, b_scale, a_zero, b_zero_point, bias, weights,
                                  "DynamicQuantizeMatMul")
        return contrib.DynamicQuantizeMatMul(a, b, b_scale, b_zero_point, bias) if y is None else y

    return run


# --------------------------------------------------------------------------- QLinearMatMul, QLinearConv


@gemm_kernel("QLinearMatMul", 10, factory=True, dtypes=BYTES)
def QLinearMatMul(*, _node: Node | None = None, _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """QLinearMatMul: the integer product on the native GEMM (exact: K <= FLOAT_MAX_K), requantized by
    the numpy kernel's own code, so the output has its bits."""
    weights = WeightCache(_constant_inputs(_node, _graph, (3, 5)))

    def run(a: np.ndarray, a_scale: np.ndarray, a_zero_point: np.ndarray, b: np.ndarray, b_scale: np.ndarray,
            b_zero_point: np.ndarray, y_scale: np.ndarray, y_zero_point: np.ndarray) -> np.ndarray:
        acc = None
        if _large(a, b) and b.ndim >= 1 and b.shape[0 if b.ndim == 1 else -2] <= FLOAT_MAX_K:
            acc = matmul_integer(a, b, a_zero_point, b_zero_point, weights)
        return reference._qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point,
                                         acc=None if acc is None else acc.astype(np.float64))

    return run


@gemm_kernel("QLinearConv", 10, factory=True, dtypes=BYTES)
def QLinearConv(*, auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
                kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                strides: list[int] | None = None, _node: Node | None = None,
                _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """QLinearConv: the integer convolution on the native GEMM (exact: K <= FLOAT_MAX_K) plus the int32
    bias, requantized by the numpy kernel's own code, so the output has its bits."""
    attrs: dict[str, Any] = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                                 pads=pads, strides=strides)
    weights = WeightCache(_constant_inputs(_node, _graph, (3, 5)))

    def run(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray, w: np.ndarray, w_scale: np.ndarray,
            w_zero_point: np.ndarray, y_scale: np.ndarray, y_zero_point: np.ndarray,
            b: np.ndarray | None = None) -> np.ndarray:
        acc = None
        if type(w) is np.ndarray and w.ndim >= 3 and int(np.prod(w.shape[1:])) <= FLOAT_MAX_K and (
                b is None or (type(b) is np.ndarray and b.dtype == np.int32 and b.shape == (w.shape[0],))):
            y = conv_integer(x, w, x_zero_point, w_zero_point, attrs, weights)
            if y is not None:
                acc = y.astype(np.float64)
                if b is not None:
                    acc += b.astype(np.float64).reshape((-1,) + (1,) * (y.ndim - 2))
        if acc is None:
            return reference.QLinearConv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, b,
                                         **attrs)
        return reference.qlinear_conv_requantize(acc, x, w, x_scale, w_scale, y_scale, y_zero_point)

    return run
