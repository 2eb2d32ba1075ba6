"""Elementwise ops: unary, binary with numpy broadcasting, Where, the variadic Sum/Mean/Max/Min.

Each op is one entry of a table (UNARY_OPS, BINARY_OPS) on top of the `unary` / `binary` factories;
the OpenCL C is in `elementwise.cl`. Kernels are `factory=True`: bound once per node at compile time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node

from .copies import fill
from .launch import broadcast_shape, broadcast_strides, grid_args, launch_grid, stride_args
from .registry import FLOATS, kernel
from .runtime import BITS_TYPES, Launcher, ftype, prod

CL = "elementwise.cl"


# ---------------------------------------------------------------- broadcasting


def launch_bcast(rt: Launcher, name: str, defines: dict[str, Any], out: Any, inputs: Sequence[Any]) -> Any:
    """Launch kernel `name` (a `_bcast` kernel) writing `out` from broadcast `inputs`."""
    if out.size == 0:
        return out
    dims, strides = broadcast_strides(out.shape, *[a.shape for a in inputs])
    knl = rt.kernel(CL, name, **defines)
    grid, lead = grid_args(dims)
    launch_grid(rt, knl, grid, *lead, *[a for s in strides for a in stride_args(s)], *[a.data for a in inputs],
                out.data)
    return out


# ---------------------------------------------------------------- unary


def unary(cl_name: str, **params: float) -> Callable[..., Any]:
    """A factory kernel for a one-input op; `params` are attribute names -> defaults mapped to
    the kernel's p0, p1 (in order). `transform` may adjust them."""

    def build(*, _provider, **attrs):
        values = [np.float32(attrs.get(k, d)) for k, d in params.items()]
        values += [np.float32(0)] * (2 - len(values))
        rt = _provider.rt

        def run(x):
            y = rt.empty(x.shape, x.dtype)
            knl = rt.kernel(CL, cl_name, T=ftype(x.dtype))
            rt.launch1d(knl, x.size, np.int32(x.size), x.data, y.data, *values)
            return y

        return run

    return build


def register_unary(op: str, cl_name: str, since: int, **params: float) -> None:
    """Register `op` from version `since` on (version 1's `consumed_inputs` is ignored by the registry);
    `params` are its attributes and their defaults."""
    kernel(op, since, dtypes=FLOATS, factory=True, attributes=params)(unary(cl_name, **params))


#: One-input ops: op -> (OpenCL function of elementwise.cl, first version), and the attributes of those
#: that have some (name -> default).
UNARY_OPS: dict[str, tuple[str, int]] = {
    "Relu": ("relu", 1), "LeakyRelu": ("leaky_relu", 1), "Sigmoid": ("sigmoid", 1), "Tanh": ("tanh_", 1),
    "Exp": ("exp_", 1), "Log": ("log_", 1), "Sqrt": ("sqrt_", 1), "Abs": ("abs_", 1), "Neg": ("neg", 1),
    "Reciprocal": ("reciprocal", 1), "Floor": ("floor_", 1), "Ceil": ("ceil_", 1), "Erf": ("erf_", 9),
    "Sin": ("sin_", 7), "Cos": ("cos_", 7), "Sign": ("sign_", 9), "Softsign": ("softsign", 1),
    "Softplus": ("softplus", 1), "Elu": ("elu", 1), "Selu": ("selu", 1), "Celu": ("celu", 12),
    "ThresholdedRelu": ("thresholded_relu", 10), "HardSigmoid": ("hard_sigmoid", 1), "HardSwish": ("hard_swish", 14),
}
UNARY_ATTRIBUTES: dict[str, dict[str, float]] = {
    "LeakyRelu": {"alpha": 0.01}, "Elu": {"alpha": 1.0}, "Celu": {"alpha": 1.0}, "ThresholdedRelu": {"alpha": 1.0},
    "Selu": {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
}
for _op, (_cl_name, _since) in UNARY_OPS.items():
    register_unary(_op, _cl_name, _since, **UNARY_ATTRIBUTES.get(_op, {}))


@kernel("Gelu", since=20, dtypes=FLOATS, factory=True,
        supports=lambda node, graph: None if node.attrs.get("approximate", "none") in ("none", "tanh")
        else f"Gelu approximate={node.attrs.get('approximate')!r} unsupported")
def Gelu(*, approximate: str = "none", _provider):
    return unary("gelu_tanh" if approximate == "tanh" else "gelu")(_provider=_provider)


@kernel("Clip", since=6, until=10, dtypes=FLOATS, factory=True)
def Clip_6(*, min: float = -3.4028234663852886e38, max: float = 3.4028234663852886e38, _provider):  # noqa: A002
    return unary("clip", min=min, max=max)(_provider=_provider)


@kernel("Clip", since=11, dtypes=FLOATS, factory=True)
def Clip(*, _provider):
    rt = _provider.rt

    def run(x, lo=None, hi=None):
        y = rt.empty(x.shape, x.dtype)
        knl = rt.kernel(CL, "clip_t", T=ftype(x.dtype))
        rt.launch1d(knl, x.size, np.int32(x.size), x.data, y.data, (lo if lo is not None else x).data,
                    (hi if hi is not None else x).data, np.int32(lo is not None), np.int32(hi is not None))
        return y

    return run


@kernel("Dropout", since=7, until=9, factory=True, multi_output=True)
def Dropout_7(*, ratio: float = 0.5, _provider, _num_outputs: int = 1):
    return _dropout(_provider, _num_outputs, mask_like_input=True)  # the mask is of X's type until opset 10


def _dropout_inference(node: Node, graph: Graph) -> str | None:
    if len(node.inputs) > 2 and node.inputs[2]:
        mode = graph.initializers.get(node.inputs[2])
        if mode is None or bool(np.asarray(mode).reshape(-1)[0]):
            return "Dropout in training mode (or training_mode not a constant false) unsupported"
    return None


@kernel("Dropout", since=10, until=11, factory=True, multi_output=True)
def Dropout_10(*, ratio: float = 0.5, _provider, _num_outputs: int = 1):
    return _dropout(_provider, _num_outputs)


@kernel("Dropout", since=12, factory=True, multi_output=True, supports=_dropout_inference)
def Dropout(*, seed: int | None = None, _provider, _num_outputs: int = 1):
    return _dropout(_provider, _num_outputs)


def _dropout(provider, num_outputs: int, mask_like_input: bool = False):
    """Inference Dropout: the input itself, and an all-true mask when asked for."""
    rt = provider.rt

    def run(x, ratio=None, training_mode=None):
        if num_outputs < 2:
            return (x,)

        return x, fill(rt, rt.empty(x.shape, x.dtype if mask_like_input else np.bool_), 1)

    return run


@kernel("Identity", since=1, factory=True)
def Identity(*, _provider):
    return lambda x: x


# ---------------------------------------------------------------- binary


def binary(cl_name: str, out_dtype: Any = None) -> Callable[..., Any]:
    def build(*, _provider):
        rt = _provider.rt

        def run(a, b):
            dt = np.dtype(out_dtype) if out_dtype is not None else a.dtype
            if b.dtype != a.dtype:
                raise TypeError(f"inputs of dtypes {a.dtype} and {b.dtype} differ")
            defines = {"T": ftype(a.dtype)}
            if a.shape == b.shape:
                y = rt.empty(a.shape, dt)
                knl = rt.kernel(CL, cl_name + "_same", **defines)
                rt.launch1d(knl, y.size, np.int32(y.size), a.data, b.data, y.data)
                return y
            y = rt.empty(broadcast_shape(a.shape, b.shape), dt)
            rows = row_broadcast(y.shape, a, b)
            if rows is not None and y.size:
                inner, nrows, c, small_b = rows
                knl = rt.kernel(CL, cl_name + ("_rows_b" if small_b else "_rows_a"), **defines)
                rt.launch(knl, (inner, nrows), (min(64, inner), 1), np.int32(inner), np.int32(nrows), np.int32(c),
                          a.data, b.data, y.data)
                return y
            return launch_bcast(rt, cl_name + "_bcast", defines, y, [a, b])

        return run

    return build


def row_broadcast(out: Sequence[int], a: Any, b: Any) -> tuple[int, int, int, int] | None:
    """(inner, rows, C, small_b) when one of `a`, `b` has the output's shape and the other is constant
    along the innermost collapsed axis and per row otherwise: a scalar (C = 1) or per-channel
    (..., C, 1, 1) operand, whose element for output row r is at r % C. None otherwise."""
    for full, small, small_b in ((a, b, 1), (b, a, 0)):
        if tuple(full.shape) != tuple(out):
            continue
        if small.size == 1:
            return prod(out), 1, 1, small_b
        dims, (sf, ss) = broadcast_strides(out, full.shape, small.shape)
        # collapsed (outer?, C, inner) with the small operand (0?, 1, 0)
        if len(dims) == 2 and ss == [1, 0]:
            return dims[1], dims[0], dims[0], small_b
        if len(dims) == 3 and ss == [0, 1, 0]:
            return dims[2], dims[0] * dims[1], dims[1], small_b
    return None


def _same_dtypes(node: Node, graph: Graph):
    dts = {graph.value(n).dtype for n in node.inputs if n}
    if len(dts) > 1:
        return f"inputs of different dtypes {sorted(map(str, dts))}"
    return None


def register_binary(op: str, cl_name: str, since: int, out_dtype: Any = None) -> None:
    builder = binary(cl_name, out_dtype)

    def fn(*, _provider):
        return builder(_provider=_provider)

    kernel(op, since, dtypes=FLOATS, factory=True, supports=_same_dtypes)(fn)


#: Two-input ops with numpy broadcasting: op -> (OpenCL function, first version, output dtype or None for
#: the inputs' own).
BINARY_OPS: dict[str, tuple[str, int, Any]] = {
    "Add": ("add", 7, None), "Sub": ("sub", 7, None), "Mul": ("mul", 7, None), "Div": ("div_", 7, None),
    "Pow": ("pow_", 7, None), "PRelu": ("prelu", 7, None), "Equal": ("equal", 7, np.bool_),
    "Less": ("less", 7, np.bool_), "Greater": ("greater", 7, np.bool_),
    "LessOrEqual": ("less_equal", 12, np.bool_), "GreaterOrEqual": ("greater_equal", 12, np.bool_),
}
for _op, (_cl_name, _since, _out_dtype) in BINARY_OPS.items():
    register_binary(_op, _cl_name, _since, _out_dtype)


def variadic(cl_name: str, last: str | None = None):
    """Sum / Max / Min / Mean of any number of broadcast inputs, folded pairwise."""

    def build(*, _provider):
        pair = binary(cl_name)(_provider=_provider)
        rt = _provider.rt

        def run(*xs):
            acc = xs[0]
            if len(xs) == 1:
                y = rt.empty(acc.shape, acc.dtype)
                knl = rt.kernel(CL, "identity", T=ftype(acc.dtype))
                rt.launch1d(knl, y.size, np.int32(y.size), acc.data, y.data, np.float32(0), np.float32(0))
                return y
            for x in xs[1:]:
                acc = pair(acc, x)
            if last == "mean":
                knl = rt.kernel(CL, "scale_shift", T=ftype(acc.dtype))
                y = rt.empty(acc.shape, acc.dtype)
                rt.launch1d(knl, y.size, np.int32(y.size), acc.data, y.data, np.float32(1.0 / len(xs)),
                            np.float32(0))
                acc = y
            return acc

        return run

    return build


for _op, _name, _last in (("Sum", "add", None), ("Max", "max_", None), ("Min", "min_", None),
                          ("Mean", "add", "mean")):
    _b = variadic(_name, _last)
    kernel(_op, 8, dtypes=FLOATS, factory=True, supports=_same_dtypes)(
        (lambda b: lambda *, _provider: b(_provider=_provider))(_b))
    # version 6 (no broadcasting) is the same-shape case of version 8
    kernel(_op, 6, until=7, dtypes=FLOATS, factory=True, supports=_same_dtypes)(
        (lambda b: lambda *, _provider: b(_provider=_provider))(_b))


# ---------------------------------------------------------------- Where


def _where_check(node: Node, graph: Graph) -> str | None:
    dt = graph.value(node.inputs[1]).dtype
    if dt is None or dt.itemsize not in (1, 2, 4, 8):
        return f"Where on values of dtype {dt} unsupported"
    return None


@kernel("Where", since=9, factory=True, supports=_where_check)
def Where(*, _provider):
    rt = _provider.rt

    def run(c, x, y):
        out = rt.empty(broadcast_shape(c.shape, x.shape, y.shape), x.dtype)
        return launch_bcast(rt, "where_bcast", {"T": BITS_TYPES[x.dtype.itemsize]}, out, [c, x, y])

    return run

