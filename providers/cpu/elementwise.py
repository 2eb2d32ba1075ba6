"""Elementwise kernels: unary and binary math, comparisons, logical ops, activations, Clip, Where.

Kernels that take `xp = get_array_module(...)` are the shared ones: the CPU registers them over
numpy and the CUDA provider registers the same functions over CuPy (providers/cuda/elementwise.py).
The ops that are one ufunc are tables (`BINARY_UFUNCS`, `UNARY_UFUNCS`): on the CPU each is the bare
numpy ufunc (`binary_ufunc`, its fast path), on CUDA `xp_ufunc(name)`. Strings (comparisons) and the
opset < 7 binary forms (`broadcast`/`axis`) stay CPU-only. Versions that differ only by opset 1's
`consumed_inputs` (which the registry ignores) are one function registered per version range
(`kernel_ranges`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module

from ._base import (
    UFUNC_OUT_ELLIPSIS,
    as_array,
    binary_ufunc,
    kernel_ranges,
    register_binary,
    unary_ufunc,
)
from .registry import kernel

#: Binary ops that are one ufunc with numpy broadcasting: op -> (ufunc name, first version of that form).
BINARY_UFUNCS: dict[str, tuple[str, int]] = {
    "Add": ("add", 7), "Sub": ("subtract", 7), "Mul": ("multiply", 7),
    "Equal": ("equal", 7), "Less": ("less", 7), "Greater": ("greater", 7),
    "LessOrEqual": ("less_equal", 12), "GreaterOrEqual": ("greater_equal", 12),
    "And": ("logical_and", 7), "Or": ("logical_or", 7), "Xor": ("logical_xor", 7),
    "BitwiseAnd": ("bitwise_and", 18), "BitwiseOr": ("bitwise_or", 18), "BitwiseXor": ("bitwise_xor", 18),
}
#: Unary ops that are one ufunc: op -> (ufunc name, first version without `consumed_inputs`; the
#: CPU registers version 1 too, whose `consumed_inputs` the registry ignores).
UNARY_UFUNCS: dict[str, tuple[str, int]] = {
    "Abs": ("absolute", 6), "Neg": ("negative", 6), "Exp": ("exp", 6), "Log": ("log", 6), "Sqrt": ("sqrt", 6),
    "Floor": ("floor", 6), "Ceil": ("ceil", 6), "Reciprocal": ("reciprocal", 6), "Tanh": ("tanh", 6),
    "Sin": ("sin", 7), "Cos": ("cos", 7), "Tan": ("tan", 7), "Asin": ("arcsin", 7), "Acos": ("arccos", 7),
    "Atan": ("arctan", 7),
    "Sinh": ("sinh", 9), "Cosh": ("cosh", 9), "Asinh": ("arcsinh", 9), "Acosh": ("arccosh", 9),
    "Atanh": ("arctanh", 9), "Sign": ("sign", 9), "IsNaN": ("isnan", 9),
    "Round": ("rint", 11),  # round half to even, as the spec says
    "Not": ("logical_not", 1),
}
#: Ops whose versions before 7 (the `broadcast`/`axis` attributes) are one schema version (no version 6
#: dropping `consumed_inputs`).
_NO_VERSION_6 = frozenset({"Equal", "Less", "Greater", "And", "Or", "Xor"})

# --------------------------------------------------------------------------- binary arithmetic


def check_integer_divisor(a, b, op: str) -> None:
    """Integer division or remainder by zero is an error (onnxruntime's is too), not a silent 0."""
    if b.dtype.kind in "iu" and a.size and not b.all():
        raise ZeroDivisionError(f"{op}: integer division by zero")


_true_divide = binary_ufunc(np.true_divide)


def Div(a: Any, b: Any) -> Any:
    """a / b; integers truncate toward zero (C semantics, as onnxruntime does), a zero integer divisor
    is an error. Float division on numpy is the bare ufunc (the CPU's fast path)."""
    if a.dtype.kind not in "iu":
        if type(a) is np.ndarray:
            return _true_divide(a, b)
        return as_array(get_array_module(a, b).true_divide(a, b))
    xp = get_array_module(a, b)
    check_integer_divisor(a, b, "Div")
    with np.errstate(divide="ignore"):
        q = xp.floor_divide(a, b)
        if a.dtype.kind == "i":
            fix = (xp.remainder(a, b) != 0) & ((a < 0) != (b < 0))
            q = q + fix.astype(q.dtype)
    return as_array(q)


register_binary("Div", Div)


def Pow(x: Any, y: Any) -> Any:
    """x ** y in x's dtype (from opset 12 the exponent may have another numeric type)."""
    xp = np if type(x) is np.ndarray else get_array_module(x, y)
    if x.dtype.kind == "f":
        r = xp.power(x, y if y.dtype == x.dtype else y.astype(x.dtype))
    elif y.dtype.kind == "f" or (y < 0).any():
        # integer base with a float or negative exponent: compute in float64, truncate like C
        r = xp.trunc(xp.power(x.astype(np.float64), y.astype(np.float64)))
    else:
        r = xp.power(x, y.astype(x.dtype, copy=False))
    return as_array(r, x.dtype)


register_binary("Pow", Pow, legacy_starts=(1,))


def _mod(a: Any, b: Any, *, fmod: int = 0) -> Any:
    """fmod=0: the remainder takes the divisor's sign (Python's %); fmod=1: the dividend's (C fmod).
    Float remainders by zero are NaN (IEEE); integer ones are an error."""
    xp = np if type(a) is np.ndarray else get_array_module(a, b)
    check_integer_divisor(a, b, "Mod")
    with np.errstate(divide="ignore", invalid="ignore"):
        return as_array(xp.fmod(a, b) if fmod else xp.mod(a, b))


@kernel("Mod", since=10)
def Mod(a: Any, b: Any, *, fmod: int = 0) -> Any:
    return _mod(a, b, fmod=fmod)


@kernel("BitShift", since=11)
def BitShift(x: np.ndarray, y: np.ndarray, *, direction: str = "") -> np.ndarray:
    if direction == "LEFT":
        return as_array(np.left_shift(x, y))
    if direction == "RIGHT":
        return as_array(np.right_shift(x, y))
    raise ValueError(f"BitShift: direction must be LEFT or RIGHT, not {direction!r}")


# --------------------------------------------------------------------------- variadic


def _variadic(ufunc: str, name: str):
    numpy_ufunc = getattr(np, ufunc)

    def run(*xs: Any) -> Any:
        if not xs:
            raise ValueError(f"{name}: needs at least one input")
        if len(xs) == 1:
            return xs[0]
        uf = numpy_ufunc if type(xs[0]) is np.ndarray else getattr(get_array_module(*xs), ufunc)
        r = uf(xs[0], xs[1])
        for x in xs[2:]:
            r = uf(r, x)
        return as_array(r)

    run.__name__ = run.__qualname__ = name
    return kernel_ranges(name, (1, 6))(run)


Sum = _variadic("add", "Sum")
Max = _variadic("maximum", "Max")
Min = _variadic("minimum", "Min")


@kernel_ranges("Mean", (1, 6))
def Mean(*xs: Any) -> Any:
    s = Sum(*xs)
    r = s / len(xs)
    return as_array(r, xs[0].dtype)

# --------------------------------------------------------------------------- comparisons, logic


def _compare(uf: np.ufunc):
    plain = binary_ufunc(uf)

    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype == object or b.dtype == object:  # strings
            return np.asarray(uf(a, b), dtype=bool)
        return plain(a, b)

    run.__name__ = run.__qualname__ = uf.__name__
    return run


for _op, (_name, _since) in BINARY_UFUNCS.items():
    _uf = getattr(np, _name)
    _fn = _compare(_uf) if _uf in (np.equal, np.less, np.greater, np.less_equal, np.greater_equal) else \
        binary_ufunc(_uf)
    if _since != 7:
        kernel(_op, since=_since)(_fn)
    else:
        register_binary(_op, _fn, legacy_starts=(1,) if _op in _NO_VERSION_6 else (1, 6))
kernel("BitwiseNot", since=18)(unary_ufunc(np.invert))


@kernel("Where", since=9)
def Where(condition: Any, x: Any, y: Any) -> Any:
    xp = np if type(x) is np.ndarray else get_array_module(condition, x, y)
    return as_array(xp.where(condition, x, y))


# --------------------------------------------------------------------------- unary math

#: Unary ufunc ops whose result has input 0's dtype: they may overwrite a float input no one else holds
#: (KernelDef.inplace), which saves the fresh output's page faults on large tensors
INPLACE_UNARY = frozenset(UNARY_UFUNCS) - {"IsNaN", "Not", "Sign", "Round"}


def ufunc_inplace(uf: np.ufunc) -> Any:
    """The in-place variant of a unary ufunc kernel: uf(x, out=x)."""

    def run(x: np.ndarray) -> np.ndarray:
        return uf(x, out=x)

    run.__name__ = run.__qualname__ = f"{uf.__name__}_inplace"
    return run


for _op, (_name, _since) in UNARY_UFUNCS.items():
    _uf = getattr(np, _name)
    kernel_ranges(_op, (1, 6) if _since == 6 else (_since,),
                  inplace=ufunc_inplace(_uf) if _op in INPLACE_UNARY else None)(unary_ufunc(_uf))


@kernel("IsInf", since=10)
def IsInf(x: np.ndarray, *, detect_negative: int = 1, detect_positive: int = 1) -> np.ndarray:
    if detect_negative and detect_positive:
        return as_array(np.isinf(x))
    if detect_negative:
        return as_array(np.isneginf(x))
    if detect_positive:
        return as_array(np.isposinf(x))
    return np.zeros(x.shape, dtype=bool)


def erf(x: Any) -> Any:
    """erf by Abramowitz & Stegun 7.1.26 in float64 (|error| < 1.5e-7), in x's dtype."""
    xp = get_array_module(x)
    z = xp.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    r = 1.0 - poly * xp.exp(-z * z)
    return as_array(xp.copysign(r, x), x.dtype)


kernel("Erf", since=9)(erf)

# --------------------------------------------------------------------------- activations

_maximum = np.maximum


def relu_inplace(x: np.ndarray) -> np.ndarray:
    """Relu overwriting its input (KernelDef.inplace)."""
    return _maximum(x, 0, out=x)


@kernel_ranges("Relu", (1, 6), inplace=relu_inplace)
def Relu(x: Any) -> Any:
    """max(x, 0); on numpy the bare ufunc (the CPU's fast path)."""
    if type(x) is not np.ndarray:
        return as_array(get_array_module(x).maximum(x, 0), x.dtype)
    if UFUNC_OUT_ELLIPSIS:
        return _maximum(x, 0, out=...)
    return as_array(_maximum(x, 0))


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)), computed without overflow for large |x|, in x's dtype."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return as_array(xp.where(x >= 0, 1 / (1 + e), e / (1 + e)), x.dtype)


Sigmoid = kernel_ranges("Sigmoid", (1, 6))(sigmoid)


@kernel_ranges("Elu", (1, 6))
def Elu(x: Any, *, alpha: float = 1.0) -> Any:
    xp = get_array_module(x)
    return as_array(xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))), x.dtype)


@kernel_ranges("LeakyRelu", (1, 6))
def LeakyRelu(x: Any, *, alpha: float = 0.01) -> Any:
    return as_array(get_array_module(x).where(x >= 0, x, x * alpha), x.dtype)

#: Selu's default alpha and gamma (the spec's float32 values)
SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


@kernel_ranges("Selu", (1, 6))
def Selu(x: Any, *, alpha: float = SELU_ALPHA, gamma: float = SELU_GAMMA) -> Any:
    xp = get_array_module(x)
    return as_array(xp.where(x > 0, x * gamma, (gamma * alpha) * xp.expm1(xp.minimum(x, 0))), x.dtype)


@kernel_ranges("HardSigmoid", (1, 6))
def HardSigmoid(x: Any, *, alpha: float = 0.2, beta: float = 0.5) -> Any:
    return as_array(get_array_module(x).clip(x * alpha + beta, 0, 1), x.dtype)


@kernel("HardSwish", since=14)
def HardSwish(x: Any) -> Any:
    return as_array(x * get_array_module(x).clip(x * (1 / 6) + 0.5, 0, 1), x.dtype)


@kernel("Softplus", since=1)
def Softplus(x: Any) -> Any:
    return as_array(get_array_module(x).logaddexp(x, 0), x.dtype)


@kernel("Softsign", since=1)
def Softsign(x: Any) -> Any:
    return as_array(x / (1 + get_array_module(x).abs(x)), x.dtype)


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
def Gelu(x: Any, *, approximate: str = "none") -> Any:
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x * x * x)
        return as_array(0.5 * x * (1 + get_array_module(x).tanh(inner)), x.dtype)
    if approximate != "none":
        raise ValueError(f"Gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return as_array(0.5 * x * (1 + erf(x * x.dtype.type(1 / np.sqrt(2)))), x.dtype)


def PRelu(x: Any, slope: Any) -> Any:
    return as_array(get_array_module(x, slope).where(x < 0, x * slope, x), x.dtype)


@kernel_ranges("PRelu", (1, 6), until=6)
def PRelu_6(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Before opset 7 a 1-D slope of C values applies per channel (axis 1)."""
    if slope.ndim == 1 and x.ndim > 2 and slope.size == x.shape[1] and slope.size > 1:
        slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))
    return PRelu(x, slope)


kernel("PRelu", since=7)(PRelu)

# --------------------------------------------------------------------------- Clip


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    xp = np if type(x) is np.ndarray else get_array_module(x)
    r = x
    if lo is not None:
        r = xp.maximum(r, lo)
    if hi is not None:
        r = xp.minimum(r, hi)  # min > max gives max everywhere, as the spec says
    return as_array(r, x.dtype) if r is not x else x


@kernel_ranges("Clip", (1, 6), until=10)
def Clip_6(x: Any, *, min: float | None = None, max: float | None = None) -> Any:
    return _clip(x, min, max)


@kernel("Clip", since=11)
def Clip(x: Any, min: Any = None, max: Any = None) -> Any:
    return _clip(x, min, max)

