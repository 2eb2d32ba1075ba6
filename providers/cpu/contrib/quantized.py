"""Quantized com.microsoft operators: the integer matmuls onnxruntime's fusions make of
quantize_dynamic's output (DynamicQuantizeMatMul, MatMulIntegerToFloat), QGemm, and the
element-wise QLinear operators of quantize_static's QOperator format (QLinearAdd, QLinearMul,
QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QLinearSoftmax).

Integer products are exact (float64, as in `..quantization`); scaling back to real values is
float32 as onnxruntime does it; rounding is half to even, then saturating to the 8-bit type.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ep_runtime.op_shapes import check_broadcasts_to, normalize_axis

from ..activation import sigmoid
from ..quantization import DynamicQuantizeLinear
from ..quantization import _int_matmul as integer_matmul  # (A - a_zp) @ (B - b_zp), exact in float64
from ..registry import kernel
from ._common import MS, check_8bit, dequantize, float_scale, requantize, scalar_param, zero_point

# --------------------------------------------------------------------------- integer matmuls to float


def column_param(value: np.ndarray | None, n: int, what: str, op: str, dtype=np.float32) -> np.ndarray:
    """A B-side scale or zero point: a scalar or one value per column of B (N values)."""
    if value is None:
        return np.zeros((), dtype)
    v = np.asarray(value)
    if v.size == 1:
        return v.reshape(()).astype(dtype)
    if v.ndim != 1 or v.shape[0] != n:
        raise ValueError(f"{op}: {what} must be a scalar or hold one value per column of B ({n}), got shape {v.shape}")
    return v.astype(dtype)


def _check_b_zero(b: np.ndarray, b_zero_point: np.ndarray | None, op: str) -> None:
    if b_zero_point is not None and b_zero_point.dtype != b.dtype:
        raise ValueError(f"{op}: b_zero_point has dtype {b_zero_point.dtype} but B is {b.dtype}")


def _to_float(acc: np.ndarray, multiplier: np.ndarray, bias: np.ndarray | None, n: int, op: str,
              dtype: np.dtype) -> np.ndarray:
    """float(acc) * multiplier (+ bias) in float32, returned as `dtype`."""
    y = acc.astype(np.float32)
    y *= multiplier
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != n:
            raise ValueError(f"{op}: bias must be 1-D with B's last dimension ({n}), got shape {bias.shape}")
        y += bias.astype(np.float32)
    return np.asarray(y.astype(dtype, copy=False))


def dynamic_quantize_uint8(x: np.ndarray, op: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x quantized to uint8 over [min(x, 0), max(x, 0)] (DynamicQuantizeLinear): (q, scale, zero_point)."""
    if x.dtype != np.float32:
        raise ValueError(f"{op}: the input to quantize must be float32, got {x.dtype}")
    return DynamicQuantizeLinear(x)


@kernel("DynamicQuantizeMatMul", 1, domain=MS)
def DynamicQuantizeMatMul(a: np.ndarray, b: np.ndarray, b_scale: np.ndarray, b_zero_point: np.ndarray | None = None,
                          bias: np.ndarray | None = None) -> np.ndarray:
    """A quantized to uint8 per tensor at run time, times the quantized B, scaled back to float:
    Y = (A_q - a_zp) @ (B - b_zp) * (a_scale * b_scale) + bias."""
    op = "DynamicQuantizeMatMul"
    check_8bit(b, "B", op)
    _check_b_zero(b, b_zero_point, op)
    n = b.shape[-1] if b.ndim else 0
    qa, a_scale, a_zero = dynamic_quantize_uint8(a, op)
    acc = integer_matmul(qa, b, a_zero.astype(np.float64), column_param(b_zero_point, n, "b_zero_point", op,
                                                                         np.float64), op)
    multiplier = a_scale * column_param(b_scale, n, "b_scale", op)
    return _to_float(acc, multiplier, bias, n, op, np.dtype(np.float32))


@kernel("MatMulIntegerToFloat", 1, domain=MS)
def MatMulIntegerToFloat(a: np.ndarray, b: np.ndarray, a_scale: np.ndarray, b_scale: np.ndarray,
                         a_zero_point: np.ndarray | None = None, b_zero_point: np.ndarray | None = None,
                         bias: np.ndarray | None = None) -> np.ndarray:
    """Y = (A - a_zp) @ (B - b_zp) * (a_scale * b_scale) + bias, in a_scale's float type; A's scale
    and zero point are per tensor, B's per tensor or per column."""
    op = "MatMulIntegerToFloat"
    check_8bit(a, "A", op)
    check_8bit(b, "B", op)
    if a_zero_point is not None and a_zero_point.dtype != a.dtype:
        raise ValueError(f"{op}: a_zero_point has dtype {a_zero_point.dtype} but A is {a.dtype}")
    _check_b_zero(b, b_zero_point, op)
    if a_scale.dtype not in (np.float32, np.float16) or b_scale.dtype != a_scale.dtype:
        raise ValueError(f"{op}: a_scale and b_scale must both be float32 or both float16, "
                         f"got {a_scale.dtype} and {b_scale.dtype}")
    n = b.shape[-1] if b.ndim else 0
    a_zero = scalar_param(a_zero_point, "a_zero_point", op, 0).astype(np.float64)
    acc = integer_matmul(a, b, a_zero, column_param(b_zero_point, n, "b_zero_point", op, np.float64), op)
    multiplier = float_scale(a_scale, "a_scale", op) * column_param(b_scale, n, "b_scale", op)
    return _to_float(acc, multiplier, bias, n, op, a_scale.dtype)


@kernel("QGemm", 1, domain=MS)
def QGemm(a: np.ndarray, a_scale: np.ndarray, a_zero_point: np.ndarray, b: np.ndarray, b_scale: np.ndarray,
          b_zero_point: np.ndarray | None = None, c: np.ndarray | None = None, y_scale: np.ndarray | None = None,
          y_zero_point: np.ndarray | None = None, *, alpha: float = 1.0, transA: int = 0,
          transB: int = 0) -> np.ndarray:
    """Quantized Gemm: acc = (A' - a_zp) @ (B' - b_zp) + C (int32), then acc * alpha * a_scale *
    b_scale as float32, or, with y_scale, requantized to y_zero_point's type (A's without it)."""
    op = "QGemm"
    check_8bit(a, "A", op)
    check_8bit(b, "B", op)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{op}: A and B must be 2-D, got shapes {a.shape} and {b.shape}")
    at = a.T if transA else a
    bt = b.T if transB else b
    if at.shape[1] != bt.shape[0]:
        raise ValueError(f"{op}: inner dimensions differ: A {a.shape} (transA={transA}), B {b.shape} (transB={transB})")
    _check_b_zero(b, b_zero_point, op)
    n = bt.shape[1]
    a_zero = zero_point(a_zero_point, a.dtype, "a_zero_point", op).astype(np.float64)
    acc = integer_matmul(at, bt, a_zero, column_param(b_zero_point, n, "b_zero_point", op, np.float64), op)
    if c is not None:
        if c.dtype != np.int32:
            raise ValueError(f"{op}: C must be int32, got {c.dtype}")
        check_broadcasts_to(c.shape, acc.shape, op)
        acc = acc + c
    multiplier = np.float32(alpha) * float_scale(a_scale, "a_scale", op) * column_param(b_scale, n, "b_scale", op)
    if y_scale is None:
        if y_zero_point is not None:
            raise ValueError(f"{op}: y_zero_point is given without y_scale")
        return _to_float(acc, multiplier, None, n, op, np.dtype(np.float32))
    multiplier = multiplier / float_scale(y_scale, "y_scale", op)
    out = a.dtype if y_zero_point is None else check_8bit(y_zero_point, "y_zero_point", op)
    return requantize(acc.astype(np.float32) * multiplier, scalar_param(y_zero_point, "y_zero_point", op, 0)
                      .astype(np.float32), out)


# --------------------------------------------------------------------------- element-wise QLinear


def _qlinear_binary_params(a, a_scale, a_zero_point, b, b_scale, b_zero_point, c_scale, c_zero_point, op: str):
    """The 8-bit dtype and the float32 (scale, zero point) of A, B and C, checked."""
    dtype = check_8bit(a, "A", op)
    if b.dtype != dtype:
        raise ValueError(f"{op}: A and B must have the same type, got {a.dtype} and {b.dtype}")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return dtype, [(float_scale(s, f"{n}_scale", op), zero_point(z, dtype, f"{n}_zero_point", op))
                   for n, s, z in (("A", a_scale, a_zero_point), ("B", b_scale, b_zero_point),
                                   ("C", c_scale, c_zero_point))]


@kernel("QLinearAdd", 1, domain=MS)
def QLinearAdd(a: np.ndarray, a_scale: np.ndarray, a_zero_point: np.ndarray | None, b: np.ndarray,
               b_scale: np.ndarray, b_zero_point: np.ndarray | None, c_scale: np.ndarray,
               c_zero_point: np.ndarray | None = None) -> np.ndarray:
    """C = (A_scale (A - A_zp) + B_scale (B - B_zp)) / C_scale + C_zp, numpy broadcasting; in
    float32 as MLAS forms it: the zero points' fixed part plus A * (A_scale / C_scale) plus
    B * (B_scale / C_scale), rounded half to even."""
    dtype, ((sa, za), (sb, zb), (sc, zc)) = _qlinear_binary_params(
        a, a_scale, a_zero_point, b, b_scale, b_zero_point, c_scale, c_zero_point, "QLinearAdd")
    ra, rb = sa / sc, sb / sc
    fixed = zc - (ra * za + rb * zb)
    return requantize((fixed + a.astype(np.float32) * ra) + b.astype(np.float32) * rb, np.float32(0), dtype)


@kernel("QLinearMul", 1, domain=MS)
def QLinearMul(a: np.ndarray, a_scale: np.ndarray, a_zero_point: np.ndarray | None, b: np.ndarray,
               b_scale: np.ndarray, b_zero_point: np.ndarray | None, c_scale: np.ndarray,
               c_zero_point: np.ndarray | None = None) -> np.ndarray:
    """C = (A - A_zp) (B - B_zp) A_scale B_scale / C_scale + C_zp, numpy broadcasting."""
    dtype, ((sa, za), (sb, zb), (sc, zc)) = _qlinear_binary_params(
        a, a_scale, a_zero_point, b, b_scale, b_zero_point, c_scale, c_zero_point, "QLinearMul")
    product = (a.astype(np.float32) - za) * (b.astype(np.float32) - zb)
    return requantize(product * (sa * sb / sc) + zc, np.float32(0), dtype)


def lookup_table(fn: Callable[[np.ndarray], np.ndarray], dtype: np.dtype, x_scale: np.ndarray, x_zero: np.ndarray,
                 y_scale: np.ndarray, y_zero: np.ndarray) -> np.ndarray:
    """The 256-entry table of quantize(fn(dequantize(x))) over every value of the 8-bit `dtype`,
    indexed by the value's byte (x.view(uint8))."""
    values = np.arange(256, dtype=np.uint8).view(dtype)
    return requantize(fn(dequantize(values, x_scale, x_zero)) / y_scale, y_zero, dtype)


def _qlinear_unary(x, x_scale, x_zero_point, y_scale, y_zero_point, fn, op: str) -> np.ndarray:
    dtype = check_8bit(x, "X", op)
    table = lookup_table(fn, dtype, float_scale(x_scale, "X_scale", op), zero_point(x_zero_point, dtype,
                         "X_zero_point", op), float_scale(y_scale, "Y_scale", op),
                         zero_point(y_zero_point, dtype, "Y_zero_point", op))
    return table[x.view(np.uint8)]


@kernel("QLinearSigmoid", 1, domain=MS)
def QLinearSigmoid(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray | None, y_scale: np.ndarray,
                   y_zero_point: np.ndarray | None = None) -> np.ndarray:
    """quantize(sigmoid(dequantize(x))), through a 256-entry lookup table."""
    return _qlinear_unary(x, x_scale, x_zero_point, y_scale, y_zero_point, sigmoid, "QLinearSigmoid")


@kernel("QLinearLeakyRelu", 1, domain=MS)
def QLinearLeakyRelu(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray | None, y_scale: np.ndarray,
                     y_zero_point: np.ndarray | None = None, *, alpha: float = 0.01) -> np.ndarray:
    """quantize(leaky_relu(dequantize(x), alpha)), through a 256-entry lookup table."""
    a = np.float32(alpha)
    return _qlinear_unary(x, x_scale, x_zero_point, y_scale, y_zero_point,
                          lambda v: np.where(v >= 0, v, v * a), "QLinearLeakyRelu")


@kernel("QLinearConcat", 1, domain=MS)
def QLinearConcat(y_scale: np.ndarray, y_zero_point: np.ndarray, *inputs: np.ndarray, axis: int | None = None
                  ) -> np.ndarray:
    """Concatenate (tensor, scale, zero point) triples along `axis`, each requantized to Y's scale
    and zero point (a tensor already on Y's parameters is copied as it is)."""
    op = "QLinearConcat"
    if axis is None:
        raise ValueError(f"{op}: the axis attribute is required")
    if not inputs or len(inputs) % 3:
        raise ValueError(f"{op}: inputs after Y_scale and Y_zero_point must be (tensor, scale, zero point) "
                         f"triples, got {len(inputs)}")
    dtype = check_8bit(np.asarray(y_zero_point), "Y_zero_point", op)
    ys, yz = float_scale(y_scale, "Y_scale", op), zero_point(y_zero_point, dtype, "Y_zero_point", op)
    parts = []
    for i in range(0, len(inputs), 3):
        x, xs_in, xz_in = inputs[i:i + 3]
        if x is None or xs_in is None or xz_in is None:
            raise ValueError(f"{op}: input triple {i // 3} is incomplete")
        if x.dtype != dtype:
            raise ValueError(f"{op}: input {i // 3} has dtype {x.dtype} but Y_zero_point is {dtype}")
        xs, xz = float_scale(xs_in, f"scale of input {i // 3}", op), zero_point(xz_in, dtype,
                                                                                 f"zero point of input {i // 3}", op)
        if xs == ys and xz == yz:
            parts.append(x)
        else:
            parts.append(lookup_table(lambda v: v, dtype, xs, xz, ys, yz)[x.view(np.uint8)])
    rank = parts[0].ndim
    ax = normalize_axis(axis, rank, op)
    for p in parts[1:]:
        if p.ndim != rank or p.shape[:ax] + p.shape[ax + 1:] != parts[0].shape[:ax] + parts[0].shape[ax + 1:]:
            raise ValueError(f"{op}: input shapes {[q.shape for q in parts]} differ outside axis {axis}")
    return np.concatenate(parts, axis=ax)


def _softmax_exp_table(x_scale: float, reduce_len: int) -> np.ndarray:
    """exp((k - 255 + shift) * x_scale) for k = 0..255 as float32, where `shift` keeps the sum of
    `reduce_len` such values below float32's max (onnxruntime's table for QLinearSoftmax)."""
    shift = max(0.0, float(np.log(np.float64(np.finfo(np.float32).max) / reduce_len)) - 5.0) / x_scale
    return np.exp((np.arange(256, dtype=np.float64) - 255 + shift) * x_scale).astype(np.float32)


@kernel("QLinearSoftmax", 1, domain=MS)
def QLinearSoftmax(x: np.ndarray, x_scale: np.ndarray, x_zero_point: np.ndarray | None, y_scale: np.ndarray,
                   y_zero_point: np.ndarray | None = None, *, axis: int = -1,
                   opset: int | None = None) -> np.ndarray:
    """Softmax of dequantize(x) requantized to floor(1 / y_scale) steps: opset < 13 normalizes over
    the flattened dims from `axis` on, opset >= 13 over `axis` alone (the schema's default axis is
    -1 for every opset).
    Softmax is shift-invariant, so X's zero point does not enter; exponentials come from a
    float32 table relative to the row maximum."""
    op = "QLinearSoftmax"
    if opset is None:
        raise ValueError(f"{op}: the opset attribute is required")
    dtype = check_8bit(x, "X", op)
    if x_zero_point is not None:
        zero_point(x_zero_point, dtype, "x_zero_point", op)
    xs = float_scale(x_scale, "X_scale", op)
    yz = zero_point(y_zero_point, dtype, "y_zero_point", op)
    steps = np.float32(np.floor(np.float32(1.0) / float_scale(y_scale, "y_scale", op)))
    if x.ndim == 0 or x.size == 0:
        return x.copy()
    ax = normalize_axis(axis, x.ndim, op)
    if opset < 13:
        rows = x.reshape(int(np.prod(x.shape[:ax], dtype=np.int64)), -1)
    else:
        rows = np.moveaxis(x, ax, -1)
    table = _softmax_exp_table(float(xs), rows.shape[-1])
    xi = rows.astype(np.int32)
    e = table[255 - (xi.max(axis=-1, keepdims=True) - xi)]
    total = e.sum(axis=-1, keepdims=True, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = requantize(e * steps / total, yz, dtype)
    return y.reshape(x.shape) if opset < 13 else np.ascontiguousarray(np.moveaxis(y, -1, ax))
