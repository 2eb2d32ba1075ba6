"""Elementwise kernels: unary and binary math, comparisons, logical ops, activations, Clip, Where."""

from __future__ import annotations

import numpy as np

from ._base import (
    UFUNC_OUT_ELLIPSIS,
    as_array,
    binary_ufunc,
    register_binary,
    register_unary,
    unary_ufunc,
)
from .registry import kernel

# --------------------------------------------------------------------------- binary arithmetic

register_binary("Add", binary_ufunc(np.add))
register_binary("Sub", binary_ufunc(np.subtract))
register_binary("Mul", binary_ufunc(np.multiply))

_true_divide = binary_ufunc(np.true_divide)


def check_integer_divisor(a: np.ndarray, b: np.ndarray, op: str) -> None:
    """Integer division or remainder by zero is an error (onnxruntime's is too), not a silent 0."""
    if b.dtype.kind in "iu" and a.size and not b.all():
        raise ZeroDivisionError(f"{op}: integer division by zero")


def _int_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero (C semantics, as onnxruntime does)."""
    check_integer_divisor(a, b, "Div")
    with np.errstate(divide="ignore"):
        q = np.floor_divide(a, b)
        if a.dtype.kind == "i":
            fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
            q = q + fix.astype(q.dtype)
    return as_array(q)


def Div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        return _int_divide(a, b)
    return _true_divide(a, b)


register_binary("Div", Div)


def Pow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x ** y in x's dtype (from opset 12 the exponent may have another numeric type)."""
    if x.dtype.kind == "f":
        r = np.power(x, y if y.dtype == x.dtype else y.astype(x.dtype))
    elif y.dtype.kind == "f" or (y < 0).any():
        # integer base with a float or negative exponent: compute in float64, truncate like C
        r = np.trunc(np.power(x.astype(np.float64), y.astype(np.float64)))
    else:
        r = np.power(x, y.astype(x.dtype, copy=False))
    return as_array(r, x.dtype)


register_binary("Pow", Pow, legacy_consumed_until=None)


def _mod(a: np.ndarray, b: np.ndarray, *, fmod: int = 0) -> np.ndarray:
    """fmod=0: the remainder takes the divisor's sign (Python's %); fmod=1: the dividend's (C fmod).
    Float remainders by zero are NaN (IEEE); integer ones are an error."""
    check_integer_divisor(a, b, "Mod")
    with np.errstate(divide="ignore", invalid="ignore"):
        return as_array(np.fmod(a, b) if fmod else np.mod(a, b))


@kernel("Mod", since=10)
def Mod(a: np.ndarray, b: np.ndarray, *, fmod: int = 0) -> np.ndarray:
    return _mod(a, b, fmod=fmod)


@kernel("BitShift", since=11)
def BitShift(x: np.ndarray, y: np.ndarray, *, direction: str = "") -> np.ndarray:
    if direction == "LEFT":
        return as_array(np.left_shift(x, y))
    if direction == "RIGHT":
        return as_array(np.right_shift(x, y))
    raise ValueError(f"BitShift: direction must be LEFT or RIGHT, not {direction!r}")


# --------------------------------------------------------------------------- variadic


def _variadic(uf: np.ufunc, name: str):
    def run(*xs: np.ndarray) -> np.ndarray:
        if not xs:
            raise ValueError(f"{name}: needs at least one input")
        if len(xs) == 1:
            return xs[0]
        r = uf(xs[0], xs[1])
        for x in xs[2:]:
            r = uf(r, x)
        return as_array(r)

    def legacy(*xs: np.ndarray, consumed_inputs: list[int] | None = None) -> np.ndarray:
        return run(*xs)

    run.__name__ = run.__qualname__ = name
    kernel(name, 1, until=5)(legacy)
    kernel(name, 6)(run)
    return run


Sum = _variadic(np.add, "Sum")
Max = _variadic(np.maximum, "Max")
Min = _variadic(np.minimum, "Min")


def Mean(*xs: np.ndarray) -> np.ndarray:
    s = Sum(*xs)
    r = s / len(xs)
    return as_array(r, xs[0].dtype)


@kernel("Mean", since=1, until=5)
def Mean_1(*xs: np.ndarray, consumed_inputs: list[int] | None = None) -> np.ndarray:
    return Mean(*xs)


kernel("Mean", since=6)(Mean)

# --------------------------------------------------------------------------- comparisons, logic


def _compare(uf: np.ufunc):
    plain = binary_ufunc(uf)

    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype == object or b.dtype == object:  # strings
            return np.asarray(uf(a, b), dtype=bool)
        return plain(a, b)

    run.__name__ = run.__qualname__ = uf.__name__
    return run


register_binary("Equal", _compare(np.equal), legacy_consumed_until=None)
register_binary("Less", _compare(np.less), legacy_consumed_until=None)
register_binary("Greater", _compare(np.greater), legacy_consumed_until=None)
kernel("LessOrEqual", since=12)(_compare(np.less_equal))
kernel("GreaterOrEqual", since=12)(_compare(np.greater_equal))
register_binary("And", binary_ufunc(np.logical_and), legacy_consumed_until=None)
register_binary("Or", binary_ufunc(np.logical_or), legacy_consumed_until=None)
register_binary("Xor", binary_ufunc(np.logical_xor), legacy_consumed_until=None)
kernel("BitwiseAnd", since=18)(binary_ufunc(np.bitwise_and))
kernel("BitwiseOr", since=18)(binary_ufunc(np.bitwise_or))
kernel("BitwiseXor", since=18)(binary_ufunc(np.bitwise_xor))
kernel("BitwiseNot", since=18)(unary_ufunc(np.invert))
kernel("Not", since=1)(unary_ufunc(np.logical_not))


@kernel("Where", since=9)
def Where(condition: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return as_array(np.where(condition, x, y))


# --------------------------------------------------------------------------- unary math

for _op, _uf in {
    "Abs": np.absolute, "Neg": np.negative, "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt,
    "Floor": np.floor, "Ceil": np.ceil, "Reciprocal": np.reciprocal, "Tanh": np.tanh,
}.items():
    register_unary(_op, unary_ufunc(_uf), legacy_until=5)

for _op, _uf in {
    "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos, "Atan": np.arctan,
}.items():
    register_unary(_op, unary_ufunc(_uf), since=7)

for _op, _uf in {
    "Sinh": np.sinh, "Cosh": np.cosh, "Asinh": np.arcsinh, "Acosh": np.arccosh, "Atanh": np.arctanh,
    "Sign": np.sign, "IsNaN": np.isnan,
}.items():
    register_unary(_op, unary_ufunc(_uf), since=9)

register_unary("Round", unary_ufunc(np.rint), since=11)  # round half to even, as the spec says


@kernel("IsInf", since=10)
def IsInf(x: np.ndarray, *, detect_negative: int = 1, detect_positive: int = 1) -> np.ndarray:
    if detect_negative and detect_positive:
        return as_array(np.isinf(x))
    if detect_negative:
        return as_array(np.isneginf(x))
    if detect_positive:
        return as_array(np.isposinf(x))
    return np.zeros(x.shape, dtype=bool)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 in float64 (|error| < 1.5e-7), in x's dtype."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    r = 1.0 - poly * np.exp(-z * z)
    return np.copysign(r, x).astype(x.dtype, copy=False)


register_unary("Erf", _erf, since=9)

# --------------------------------------------------------------------------- activations

_maximum = np.maximum


def Relu(x: np.ndarray) -> np.ndarray:
    if UFUNC_OUT_ELLIPSIS:
        return _maximum(x, 0, out=...)
    return as_array(_maximum(x, 0))


register_unary("Relu", Relu, legacy_until=5)


def Sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return as_array(np.where(x >= 0, 1 / (1 + e), e / (1 + e)), x.dtype)


register_unary("Sigmoid", Sigmoid, legacy_until=5)


def Elu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    return as_array(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), x.dtype)


@kernel("Elu", since=1, until=5)
def Elu_1(x: np.ndarray, *, alpha: float = 1.0, consumed_inputs: list[int] | None = None) -> np.ndarray:
    return Elu(x, alpha=alpha)


kernel("Elu", since=6)(Elu)


def LeakyRelu(x: np.ndarray, *, alpha: float = 0.01) -> np.ndarray:
    return as_array(np.where(x >= 0, x, x * alpha), x.dtype)


@kernel("LeakyRelu", since=1, until=5)
def LeakyRelu_1(x: np.ndarray, *, alpha: float = 0.01, consumed_inputs: list[int] | None = None) -> np.ndarray:
    return LeakyRelu(x, alpha=alpha)


kernel("LeakyRelu", since=6)(LeakyRelu)

_SELU_ALPHA = 1.67326319217681884765625
_SELU_GAMMA = 1.05070102214813232421875


def Selu(x: np.ndarray, *, alpha: float = _SELU_ALPHA, gamma: float = _SELU_GAMMA) -> np.ndarray:
    return as_array(np.where(x > 0, x * gamma, (gamma * alpha) * np.expm1(np.minimum(x, 0))), x.dtype)


@kernel("Selu", since=1, until=5)
def Selu_1(x: np.ndarray, *, alpha: float = _SELU_ALPHA, gamma: float = _SELU_GAMMA,
           consumed_inputs: list[int] | None = None) -> np.ndarray:
    return Selu(x, alpha=alpha, gamma=gamma)


kernel("Selu", since=6)(Selu)


def HardSigmoid(x: np.ndarray, *, alpha: float = 0.2, beta: float = 0.5) -> np.ndarray:
    return as_array(np.clip(x * alpha + beta, 0, 1), x.dtype)


@kernel("HardSigmoid", since=1, until=5)
def HardSigmoid_1(x: np.ndarray, *, alpha: float = 0.2, beta: float = 0.5,
                  consumed_inputs: list[int] | None = None) -> np.ndarray:
    return HardSigmoid(x, alpha=alpha, beta=beta)


kernel("HardSigmoid", since=6)(HardSigmoid)


@kernel("HardSwish", since=14)
def HardSwish(x: np.ndarray) -> np.ndarray:
    return as_array(x * np.clip(x * (1 / 6) + 0.5, 0, 1), x.dtype)


@kernel("Softplus", since=1)
def Softplus(x: np.ndarray) -> np.ndarray:
    return as_array(np.logaddexp(x, 0), x.dtype)


@kernel("Softsign", since=1)
def Softsign(x: np.ndarray) -> np.ndarray:
    return as_array(x / (1 + np.abs(x)), x.dtype)


@kernel("ThresholdedRelu", since=10)
def ThresholdedRelu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    return as_array(np.where(x > alpha, x, 0).astype(x.dtype, copy=False))


@kernel("Celu", since=12)
def Celu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    return as_array(np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(np.minimum(x, 0) / alpha)), x.dtype)


@kernel("Mish", since=18)
def Mish(x: np.ndarray) -> np.ndarray:
    return as_array(x * np.tanh(np.logaddexp(x, 0)), x.dtype)


@kernel("Shrink", since=9)
def Shrink(x: np.ndarray, *, bias: float = 0.0, lambd: float = 0.5) -> np.ndarray:
    r = np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))
    return as_array(r, x.dtype)


@kernel("Gelu", since=20)
def Gelu(x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x * x * x)
        return as_array(0.5 * x * (1 + np.tanh(inner)), x.dtype)
    if approximate != "none":
        raise ValueError(f"Gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return as_array(0.5 * x * (1 + _erf(x * np.asarray(1 / np.sqrt(2), x.dtype))), x.dtype)


def PRelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    return as_array(np.where(x < 0, x * slope, x), x.dtype)


def _prelu_legacy(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    # before opset 7 a 1-D slope of C values applies per channel (axis 1)
    if slope.ndim == 1 and x.ndim > 2 and slope.size == x.shape[1] and slope.size > 1:
        slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))
    return PRelu(x, slope)


@kernel("PRelu", since=1, until=5)
def PRelu_1(x: np.ndarray, slope: np.ndarray, *, consumed_inputs: list[int] | None = None) -> np.ndarray:
    return _prelu_legacy(x, slope)


kernel("PRelu", since=6, until=6)(_prelu_legacy)
kernel("PRelu", since=7)(PRelu)

# --------------------------------------------------------------------------- Clip


def _clip(x: np.ndarray, lo, hi) -> np.ndarray:
    r = x
    if lo is not None:
        r = np.maximum(r, lo)
    if hi is not None:
        r = np.minimum(r, hi)  # min > max gives max everywhere, as the spec says
    return as_array(r, x.dtype) if r is not x else x


@kernel("Clip", since=1, until=5)
def Clip_1(x: np.ndarray, *, min: float | None = None, max: float | None = None,
           consumed_inputs: list[int] | None = None) -> np.ndarray:
    return _clip(x, min, max)


@kernel("Clip", since=6, until=10)
def Clip_6(x: np.ndarray, *, min: float | None = None, max: float | None = None) -> np.ndarray:
    return _clip(x, min, max)


@kernel("Clip", since=11)
def Clip(x: np.ndarray, min: np.ndarray | None = None, max: np.ndarray | None = None) -> np.ndarray:
    return _clip(x, min, max)

