"""Elementwise kernels: CuPy's (or numpy's) ufuncs do the broadcasting and the work.

Unary, binary (opset >= 7 numpy broadcasting), comparisons and logic, activations, Clip, Where,
variadic Sum/Mean/Max/Min, Cast, Identity and Dropout (inference). No raw CUDA C here: CuPy's
elementwise kernels are what a hand-written one would be.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module

from .registry import FLOATS, kernel


def arr(xp: Any, r: Any, dtype: Any = None) -> Any:
    """`r` as an array of the module (numpy ufuncs on 0-d arrays return scalars), in `dtype`."""
    r = xp.asarray(r)
    return r if dtype is None or r.dtype == dtype else r.astype(dtype)


def unary(fn: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
    """A one-input kernel `fn(xp, x)` returning x's dtype."""

    def run(x: Any) -> Any:
        xp = get_array_module(x)
        return arr(xp, fn(xp, x), x.dtype)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "unary")
    return run


def binary(name: str) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        xp = get_array_module(a, b)
        return arr(xp, getattr(xp, name)(a, b))

    run.__name__ = run.__qualname__ = name
    return run


def register_unary(op: str, fn: Callable[[Any, Any], Any], since: int = 6, dtypes: Any = None) -> None:
    kernel(op, since, dtypes=dtypes)(unary(fn))


# --------------------------------------------------------------------------- binary arithmetic

for _op, _name in {"Add": "add", "Sub": "subtract", "Mul": "multiply"}.items():
    kernel(_op, 7)(binary(_name))


def check_integer_divisor(a: Any, b: Any, op: str) -> None:
    """Integer division or remainder by zero is an error (as in onnxruntime), not a silent 0."""
    if b.dtype.kind in "iu" and a.size and not bool(b.all()):
        raise ZeroDivisionError(f"{op}: integer division by zero")


@kernel("Div", 7)
def Div(a: Any, b: Any) -> Any:
    xp = get_array_module(a, b)
    if a.dtype.kind in "iu":  # C semantics: truncate toward zero
        check_integer_divisor(a, b, "Div")
        q = xp.floor_divide(a, b)
        if a.dtype.kind == "i":
            fix = (xp.remainder(a, b) != 0) & ((a < 0) != (b < 0))
            q = q + fix.astype(q.dtype)
        return arr(xp, q)
    return arr(xp, xp.true_divide(a, b))


@kernel("Pow", 7)
def Pow(x: Any, y: Any) -> Any:
    """x ** y in x's dtype (from opset 12 the exponent may have another numeric type)."""
    xp = get_array_module(x, y)
    if x.dtype.kind == "f":
        return arr(xp, xp.power(x, y if y.dtype == x.dtype else y.astype(x.dtype)), x.dtype)
    if y.dtype.kind == "f" or bool((y < 0).any()):
        return arr(xp, xp.trunc(xp.power(x.astype(np.float64), y.astype(np.float64))), x.dtype)
    return arr(xp, xp.power(x, y.astype(x.dtype)), x.dtype)


@kernel("Mod", 10)
def Mod(a: Any, b: Any, *, fmod: int = 0) -> Any:
    xp = get_array_module(a, b)
    check_integer_divisor(a, b, "Mod")
    return arr(xp, xp.fmod(a, b) if fmod else xp.mod(a, b))


# --------------------------------------------------------------------------- comparisons, logic

for _op, _name in {"Equal": "equal", "Less": "less", "Greater": "greater", "And": "logical_and",
                   "Or": "logical_or", "Xor": "logical_xor"}.items():
    kernel(_op, 7)(binary(_name))
kernel("LessOrEqual", 12)(binary("less_equal"))
kernel("GreaterOrEqual", 12)(binary("greater_equal"))
kernel("BitwiseAnd", 18)(binary("bitwise_and"))
kernel("BitwiseOr", 18)(binary("bitwise_or"))
kernel("BitwiseXor", 18)(binary("bitwise_xor"))


@kernel("Not", 1)
def Not(x: Any) -> Any:
    xp = get_array_module(x)
    return arr(xp, xp.logical_not(x))


@kernel("Where", 9)
def Where(condition: Any, x: Any, y: Any) -> Any:
    xp = get_array_module(condition, x, y)
    return arr(xp, xp.where(condition, x, y))


# --------------------------------------------------------------------------- variadic


def _variadic(name: str) -> Callable[..., Any]:
    def run(*xs: Any) -> Any:
        if not xs:
            raise ValueError(f"{name}: needs at least one input")
        xp = get_array_module(*xs)
        r = xs[0]
        for x in xs[1:]:
            r = getattr(xp, name)(r, x)
        return arr(xp, r) if len(xs) > 1 else xp.array(r, copy=True)

    return run


Sum = _variadic("add")
kernel("Sum", 8)(Sum)
kernel("Max", 8)(_variadic("maximum"))
kernel("Min", 8)(_variadic("minimum"))


@kernel("Mean", 8)
def Mean(*xs: Any) -> Any:
    xp = get_array_module(*xs)
    return arr(xp, Sum(*xs) / len(xs), xs[0].dtype)


# --------------------------------------------------------------------------- unary math

for _op, _name in {"Abs": "absolute", "Neg": "negative", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
                   "Floor": "floor", "Ceil": "ceil", "Reciprocal": "reciprocal", "Tanh": "tanh"}.items():
    register_unary(_op, lambda xp, x, _n=_name: getattr(xp, _n)(x), since=6)
for _op, _name in {"Sin": "sin", "Cos": "cos", "Tan": "tan", "Asin": "arcsin", "Acos": "arccos",
                   "Atan": "arctan"}.items():
    register_unary(_op, lambda xp, x, _n=_name: getattr(xp, _n)(x), since=7)
for _op, _name in {"Sinh": "sinh", "Cosh": "cosh", "Asinh": "arcsinh", "Acosh": "arccosh",
                   "Atanh": "arctanh", "Sign": "sign"}.items():
    register_unary(_op, lambda xp, x, _n=_name: getattr(xp, _n)(x), since=9)
register_unary("Round", lambda xp, x: xp.rint(x), since=11)


@kernel("IsNaN", 9)
def IsNaN(x: Any) -> Any:
    xp = get_array_module(x)
    return arr(xp, xp.isnan(x))


def erf(xp: Any, x: Any) -> Any:
    """erf: CuPy's special function on the GPU; on numpy Abramowitz & Stegun 7.1.26 in float64
    (|error| < 1.5e-7), as the CPU provider computes it."""
    if xp is not np:
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(x.astype(np.float32) if x.dtype == np.float16 else x)
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.copysign(1.0 - poly * np.exp(-z * z), x)


register_unary("Erf", erf, since=9)

# --------------------------------------------------------------------------- activations

register_unary("Relu", lambda xp, x: xp.maximum(x, 0), since=6)


def _sigmoid(xp: Any, x: Any) -> Any:
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


register_unary("Sigmoid", _sigmoid, since=6)


def _scalar(x: Any, v: float) -> Any:
    """A Python float as a scalar of x's dtype (keeps float16 math in float16, as the CPU does)."""
    return x.dtype.type(v) if x.dtype.kind == "f" else v


@kernel("LeakyRelu", 6)
def LeakyRelu(x: Any, *, alpha: float = 0.01) -> Any:
    xp = get_array_module(x)
    return arr(xp, xp.where(x >= 0, x, x * alpha), x.dtype)


@kernel("Elu", 6)
def Elu(x: Any, *, alpha: float = 1.0) -> Any:
    xp = get_array_module(x)
    return arr(xp, xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))), x.dtype)


@kernel("Selu", 6)
def Selu(x: Any, *, alpha: float = 1.67326319217681884765625, gamma: float = 1.05070102214813232421875) -> Any:
    xp = get_array_module(x)
    return arr(xp, xp.where(x > 0, x * gamma, (gamma * alpha) * xp.expm1(xp.minimum(x, 0))), x.dtype)


@kernel("HardSigmoid", 6)
def HardSigmoid(x: Any, *, alpha: float = 0.2, beta: float = 0.5) -> Any:
    xp = get_array_module(x)
    return arr(xp, xp.clip(x * alpha + beta, 0, 1), x.dtype)


@kernel("HardSwish", 14)
def HardSwish(x: Any) -> Any:
    xp = get_array_module(x)
    return arr(xp, x * xp.clip(x * (1 / 6) + 0.5, 0, 1), x.dtype)


@kernel("Softplus", 1)
def Softplus(x: Any) -> Any:
    xp = get_array_module(x)
    return arr(xp, xp.logaddexp(x, _scalar(x, 0.0)), x.dtype)


@kernel("Softsign", 1)
def Softsign(x: Any) -> Any:
    xp = get_array_module(x)
    return arr(xp, x / (1 + xp.abs(x)), x.dtype)


@kernel("Gelu", 20, dtypes=FLOATS)
def Gelu(x: Any, *, approximate: str = "none") -> Any:
    xp = get_array_module(x)
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
        return arr(xp, 0.5 * x * (1 + xp.tanh(inner)), x.dtype)
    if approximate != "none":
        raise ValueError(f"Gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return arr(xp, 0.5 * x * (1 + arr(xp, erf(xp, x * _scalar(x, 1 / math.sqrt(2))), x.dtype)), x.dtype)


@kernel("PRelu", 7)
def PRelu(x: Any, slope: Any) -> Any:
    xp = get_array_module(x, slope)
    return arr(xp, xp.where(x < 0, x * slope, x), x.dtype)


# --------------------------------------------------------------------------- Clip


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    xp = get_array_module(x, lo, hi)
    r = x
    if lo is not None:
        r = xp.maximum(r, lo)
    if hi is not None:
        r = xp.minimum(r, hi)  # min > max gives max everywhere, as the spec says
    return arr(xp, r, x.dtype) if r is not x else xp.array(x, copy=True)


@kernel("Clip", 6, until=10)
def Clip_6(x: Any, *, min: float | None = None, max: float | None = None) -> Any:
    return _clip(x, min, max)


@kernel("Clip", 11)
def Clip(x: Any, min: Any = None, max: Any = None) -> Any:
    return _clip(x, min, max)


# --------------------------------------------------------------------------- Cast, Identity, Dropout

#: ONNX element types the device holds (a Cast to anything else stays on the CPU)
_CAST_TO = {1: np.float32, 10: np.float16, 11: np.float64, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16,
            6: np.int32, 7: np.int64, 12: np.uint32, 13: np.uint64, 9: np.bool_}


def _cast_supported(node: Any, graph: Any) -> str | None:
    to = node.attrs.get("to")
    return None if to in _CAST_TO else f"Cast to element type {to} not supported on CUDA"


@kernel("Cast", 6, supports=_cast_supported)
def Cast(x: Any, *, to: int, saturate: int = 1, round_mode: str = "up") -> Any:
    xp = get_array_module(x)
    dt = np.dtype(_CAST_TO[to])
    if x.dtype.kind == "f" and dt.kind in "iu":
        # the CPU provider (like C) truncates; NaN/inf are undefined and left to the device
        return x.astype(dt)
    return xp.array(x, dtype=dt, copy=True)


@kernel("Identity", 1)
def Identity(x: Any) -> Any:
    return x


def _dropout_inference(node: Any, graph: Any) -> str | None:
    if len(node.inputs) > 2 and node.inputs[2]:
        if node.inputs[2] not in graph.initializers or bool(np.asarray(graph.initializers[node.inputs[2]])):
            return "Dropout in training mode (training_mode not a constant false) not supported"
    return None


@kernel("Dropout", 7, until=9, multi_output=True)
def Dropout_7(x: Any, *, ratio: float = 0.5, _num_outputs: int = 1) -> tuple:
    """Before opset 10 the mask has the input's type."""
    xp = get_array_module(x)
    return (x, xp.ones(x.shape, dtype=x.dtype))[:_num_outputs]


@kernel("Dropout", 10, until=11, multi_output=True)
def Dropout_10(x: Any, *, ratio: float = 0.5, _num_outputs: int = 1) -> tuple:
    xp = get_array_module(x)
    return (x, xp.ones(x.shape, dtype=bool))[:_num_outputs]


@kernel("Dropout", 12, multi_output=True, supports=_dropout_inference)
def Dropout(x: Any, ratio: Any = None, training_mode: Any = None, *, seed: int | None = None,
            _num_outputs: int = 1) -> tuple:
    xp = get_array_module(x)
    return (x, xp.ones(x.shape, dtype=bool))[:_num_outputs]
