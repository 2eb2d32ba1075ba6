"""Which ONNX nodes the C operator library runs, and how each becomes one call into it.

`lower(node, graph)` returns a `Call` (the C function, the operator source it lives in, its
arguments and its scratch size) or a `Refusal` saying why the node is not taken; a node is taken
only when its attributes are in range and its declared output shapes are the ones its op gives
(`shapes.py`), since every buffer the kernels touch is sized from those shapes. The same
`Call` drives the three back ends: ctypes calls per node, the fused C function, and the
standalone export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.provider import Refusal, schema_version

from .shapes import Ctx, Unsupported, check_declared

F32 = np.dtype(np.float32)


@dataclass
class Call:
    """One call into the operator library for one node.

    `args` are (kind, value) pairs: ("t", name or None) a tensor (NULL when None), ("ts", names)
    a tensor array followed by its count, ("i32"|"i64"|"f32", number), ("i64s", list),
    ("conv"|"pool", dict) a parameter struct, ("scratch", None) the scratch buffer.
    """

    func: str
    source: str
    args: list[tuple[str, Any]]
    scratch: int = 0
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


#: op_type -> (source stem of its default kernel, since-versions supported)
OP_SOURCES: dict[str, str] = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div",
    "Relu": "relu", "LeakyRelu": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Clip": "clip",
    "Identity": "identity", "Dropout": "identity", "Reshape": "identity", "Flatten": "identity",
    "Squeeze": "identity", "Unsqueeze": "identity",
    "Conv": "conv", "Gemm": "gemm", "MatMul": "matmul", "MaxPool": "maxpool", "AveragePool": "averagepool",
    "GlobalAveragePool": "globalaveragepool", "BatchNormalization": "batchnormalization",
    "Softmax": "softmax", "Concat": "concat", "Transpose": "transpose", "Sum": "sum", "LRN": "lrn",
    "LSTM": "lstm",
}

#: sources every build needs besides the operators
SUPPORT_SOURCES = ("ep_tensor", "ep_broadcast", "ep_sgemm", "ep_window")


def _attr(node: Node, name: str, default: Any = None) -> Any:
    return node.attrs.get(name, default)


def _only_attrs(node: Node, allowed: set[str]) -> None:
    for a in node.attrs:
        if a not in allowed:
            raise Unsupported("attribute", f"{node.op_type} attribute {a!r} unsupported")


def _window(ctx: Ctx, x_shape: tuple[int, ...], y_shape: tuple[int, ...], kernel: list[int]) -> dict[str, Any]:
    """Kernel, strides, pads (top, left, bottom, right) and dilations as 2-D lists for C."""
    node = ctx.node
    nd = len(x_shape) - 2
    if nd not in (1, 2):
        raise Unsupported("attribute", f"{node.op_type} with {nd} spatial dims unsupported (1-D and 2-D only)")
    strides = list(_attr(node, "strides", [1] * nd))
    dil = list(_attr(node, "dilations", [1] * nd))
    auto_pad = _attr(node, "auto_pad", "NOTSET") or "NOTSET"
    if auto_pad in ("NOTSET",):
        pads = list(_attr(node, "pads", [0] * (2 * nd)))
    elif auto_pad == "VALID":
        pads = [0] * (2 * nd)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(nd):
            dk = (kernel[i] - 1) * dil[i] + 1
            total = max((y_shape[2 + i] - 1) * strides[i] + dk - x_shape[2 + i], 0)
            small = total // 2
            lo, hi = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
            begin.append(lo)
            end.append(hi)
        pads = begin + end
    else:
        raise Unsupported("attribute", f"auto_pad={auto_pad} unsupported")
    if nd == 1:
        kernel, strides, dil = [1] + list(kernel), [1] + strides, [1] + dil
        pads = [0, pads[0], 0, pads[1]]
    return {"kernel": list(kernel), "strides": strides, "pads": pads, "dilations": dil}


def _conv(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
    x, w = n.inputs[0], n.inputs[1]
    b = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
    xs, ws, ys = ctx.shape(x), ctx.shape(w), ctx.shape(n.outputs[0])
    if len(xs) not in (3, 4):
        raise Unsupported("attribute", f"Conv with {len(xs) - 2} spatial dims unsupported (1-D and 2-D only)")
    p = _window(ctx, xs, ys, list(ws[2:]))
    p["group"] = int(_attr(n, "group", 1))
    pointwise = p["kernel"] == [1, 1] and p["strides"] == [1, 1] and not any(p["pads"])
    oh, ow = (ys[2], ys[3]) if len(ys) == 4 else (1, ys[2])
    scratch = 0 if pointwise else ws[1] * p["kernel"][0] * p["kernel"][1] * oh * ow
    return Call("ep_conv", "conv", [("t", x), ("t", w), ("t", b), ("t", n.outputs[0]), ("conv", p), ("scratch", None)],
                scratch)


def _pool(ctx: Ctx) -> Call:
    n = ctx.node
    is_max = n.op_type == "MaxPool"
    allowed = {"auto_pad", "ceil_mode", "kernel_shape", "pads", "strides"}
    allowed |= {"dilations", "storage_order"} if is_max else {"count_include_pad"}
    _only_attrs(n, allowed)
    if is_max and len([o for o in n.outputs if o]) > 1:
        raise Unsupported("attribute", "MaxPool Indices output unsupported")
    xs, ys = ctx.shape(n.inputs[0]), ctx.shape(n.outputs[0])
    p = _window(ctx, xs, ys, list(_attr(n, "kernel_shape")))
    p["count_include_pad"] = int(_attr(n, "count_include_pad", 0))
    func = "ep_maxpool" if is_max else "ep_averagepool"
    return Call(func, func[3:], [("t", n.inputs[0]), ("t", n.outputs[0]), ("pool", p)])


def _gemm(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"alpha", "beta", "transA", "transB", "broadcast"})
    c = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
    if c is not None and len(ctx.shape(c)) > 2:
        raise Unsupported("attribute", "Gemm C of rank > 2 unsupported")
    return Call("ep_gemm", "gemm", [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", c), ("t", n.outputs[0]),
                                    ("f32", float(_attr(n, "alpha", 1.0))), ("f32", float(_attr(n, "beta", 1.0))),
                                    ("i32", int(_attr(n, "transA", 0))), ("i32", int(_attr(n, "transB", 0)))])


def _binary(ctx: Ctx) -> Call:
    n = ctx.node
    if "axis" in n.attrs or _attr(n, "broadcast", 0) and len(ctx.shape(n.inputs[1])) > 1:
        raise Unsupported("attribute", f"legacy {n.op_type} broadcast with axis unsupported")
    _only_attrs(n, {"broadcast", "consumed_inputs"})
    src = OP_SOURCES[n.op_type]
    return Call("ep_" + src, src, [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", n.outputs[0])])


def _unary(extra: Callable[[Ctx], list[tuple[str, Any]]] | None = None, attrs: frozenset[str] = frozenset()):
    def lower(ctx: Ctx) -> Call:
        n = ctx.node
        _only_attrs(n, set(attrs) | {"consumed_inputs"})
        src = OP_SOURCES[n.op_type]
        args = [("t", n.inputs[0]), ("t", n.outputs[0])] + (extra(ctx) if extra else [])
        return Call("ep_" + src, src, args)
    return lower


def _clip_bounds(ctx: Ctx) -> list[tuple[str, Any]]:
    n = ctx.node
    if schema_version(n) < 11:
        lo, hi = _attr(n, "min", -np.inf), _attr(n, "max", np.inf)
    else:
        vals = []
        for pos, default in ((1, -np.inf), (2, np.inf)):
            name = n.inputs[pos] if len(n.inputs) > pos else ""
            if not name:
                vals.append(default)
                continue
            arr = ctx.const(name)
            if arr is None:
                raise Unsupported("attribute", "Clip with non-constant min/max unsupported")
            vals.append(float(arr.reshape(-1)[0]))
        lo, hi = vals
    return [("f32", float(lo)), ("f32", float(hi))]


def _identity(ctx: Ctx) -> Call:
    n = ctx.node
    if n.op_type == "Dropout":
        _only_attrs(n, {"ratio", "is_test", "seed"})
        mask = n.outputs[1] if len(n.outputs) > 1 else ""
        if mask and (ctx.graph.consumers.get(mask) or mask in {o.name for o in ctx.graph.outputs}):
            raise Unsupported("attribute", "Dropout mask output unsupported")
        if len(n.inputs) > 2 and n.inputs[2]:
            tm = ctx.const(n.inputs[2])
            if tm is None or bool(tm):
                raise Unsupported("attribute", "Dropout in training mode unsupported")
    else:
        _only_attrs(n, {"axis", "axes", "allowzero", "shape"})
    return Call("ep_identity", "identity", [("t", n.inputs[0]), ("t", n.outputs[0])])


def _softmax(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"axis"})
    rank = len(ctx.shape(n.inputs[0]))
    legacy = schema_version(n) < 13
    axis = int(_attr(n, "axis", 1 if legacy else -1))
    axis = axis + rank if axis < 0 else axis
    return Call("ep_softmax", "softmax", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i32", axis), ("i32", int(legacy))])


def _concat(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"axis"})
    rank = len(ctx.shape(n.outputs[0]))
    axis = int(_attr(n, "axis", 1))
    axis = axis + rank if axis < 0 else axis
    xs = [i for i in n.inputs if i]
    return Call("ep_concat", "concat", [("ts", xs), ("i32", axis), ("t", n.outputs[0])])


def _sum(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"consumed_inputs"})
    return Call("ep_sum", "sum", [("ts", [i for i in n.inputs if i]), ("t", n.outputs[0])])


def _transpose(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"perm"})
    rank = len(ctx.shape(n.inputs[0]))
    perm = list(_attr(n, "perm", list(range(rank))[::-1]))
    return Call("ep_transpose", "transpose", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i64s", perm)])


def _lrn(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"size", "alpha", "beta", "bias"})
    return Call("ep_lrn", "lrn", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i64", int(_attr(n, "size"))),
                                  ("f32", float(_attr(n, "alpha", 1e-4))), ("f32", float(_attr(n, "beta", 0.75))),
                                  ("f32", float(_attr(n, "bias", 1.0)))])


def _batchnorm(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"epsilon", "momentum", "spatial", "is_test", "consumed_inputs", "training_mode"})
    if int(_attr(n, "training_mode", 0)) or len([o for o in n.outputs if o]) > 1:
        raise Unsupported("attribute", "BatchNormalization training mode unsupported")
    if int(_attr(n, "spatial", 1)) != 1:
        raise Unsupported("attribute", "BatchNormalization spatial=0 unsupported")
    return Call("ep_batchnormalization", "batchnormalization",
                [("t", n.inputs[k]) for k in range(5)]
                + [("t", n.outputs[0]), ("f32", float(_attr(n, "epsilon", 1e-5)))])


def _matmul(ctx: Ctx) -> Call:
    n = ctx.node
    return Call("ep_matmul", "matmul", [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", n.outputs[0])])


_LSTM_DIRECTIONS = {"forward": 0, "reverse": 1, "bidirectional": 2}


def _lstm(ctx: Ctx) -> Call:
    """LSTM (since 7), layout 0, the default activations; sequence_lens only when constant and full."""
    n = ctx.node
    if schema_version(n) < 7:
        raise Unsupported("attribute", "LSTM-1 (output_sequence) unsupported")
    _only_attrs(n, {"activations", "activation_alpha", "activation_beta", "clip", "direction", "hidden_size",
                    "input_forget", "layout"})
    if int(_attr(n, "layout", 0)) != 0:
        raise Unsupported("attribute", "LSTM layout=1 unsupported (layout 0 only)")
    direction = _attr(n, "direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in _LSTM_DIRECTIONS:
        raise Unsupported("attribute", f"LSTM direction={direction!r} unsupported")
    dirs = 2 if direction == "bidirectional" else 1
    acts = _attr(n, "activations")
    if acts is not None:
        acts = [a.decode() if isinstance(a, bytes) else a for a in acts]
        if [a.lower() for a in acts] != ["sigmoid", "tanh", "tanh"] * dirs:
            raise Unsupported("attribute", f"LSTM activations {acts} unsupported (Sigmoid, Tanh, Tanh only)")
    if _attr(n, "activation_alpha") or _attr(n, "activation_beta"):
        raise Unsupported("attribute", "LSTM activation_alpha/activation_beta unsupported")
    clip = _attr(n, "clip")
    if clip is not None and not float(clip) > 0:
        raise Unsupported("attribute", f"LSTM clip={clip} unsupported (must be > 0)")

    def inp(k: int) -> str | None:
        return n.inputs[k] if len(n.inputs) > k and n.inputs[k] else None

    xs, ws = ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1])
    if len(xs) != 3 or len(ws) != 3 or ws[0] != dirs:
        raise Unsupported("attribute", f"LSTM shapes X {list(xs)}, W {list(ws)} unsupported")
    hidden = ws[1] // 4
    if _attr(n, "hidden_size") is not None and int(_attr(n, "hidden_size")) != hidden:
        raise Unsupported("attribute", "LSTM hidden_size disagrees with W")
    lens = inp(4)
    if lens is not None:
        arr = ctx.const(lens)
        if arr is None or not np.all(np.asarray(arr).reshape(-1) == xs[0]):
            raise Unsupported("attribute", "LSTM sequence_lens unsupported unless constant and equal to seq_length")
    outs = [n.outputs[k] if len(n.outputs) > k and n.outputs[k] else None for k in range(3)]
    args = [("t", inp(k)) for k in (0, 1, 2, 3, 5, 6, 7)] + [("t", o) for o in outs]
    args += [("i32", _LSTM_DIRECTIONS[direction]), ("f32", float(clip or 0.0)),
             ("i32", int(_attr(n, "input_forget", 0))), ("scratch", None)]
    return Call("ep_lstm", "lstm", args, 10 * xs[1] * hidden)


LOWERINGS: dict[str, Callable[[Ctx], Call]] = {
    "Conv": _conv, "MaxPool": _pool, "AveragePool": _pool, "Gemm": _gemm, "MatMul": _matmul,
    "Add": _binary, "Sub": _binary, "Mul": _binary, "Div": _binary,
    "Relu": _unary(), "Sigmoid": _unary(), "Tanh": _unary(),
    "LeakyRelu": _unary(lambda c: [("f32", float(_attr(c.node, "alpha", 0.01)))], frozenset({"alpha"})),
    "Clip": _unary(_clip_bounds, frozenset({"min", "max"})),
    "GlobalAveragePool": _unary(),
    "Identity": _identity, "Dropout": _identity, "Reshape": _identity, "Flatten": _identity,
    "Squeeze": _identity, "Unsqueeze": _identity,
    "Softmax": _softmax, "Concat": _concat, "Transpose": _transpose, "Sum": _sum, "LRN": _lrn,
    "BatchNormalization": _batchnorm, "LSTM": _lstm,
}

#: inputs that are not data tensors (shape/axes/bounds read at build time), by op
_NON_DATA_INPUTS = {"Reshape": {1}, "Squeeze": {1}, "Unsqueeze": {1}, "Clip": {1, 2}, "Dropout": {1, 2}, "LSTM": {4}}


def lower(node: Node, graph: Graph) -> Call | Refusal:
    """The library call for `node`, or why the embedded C provider cannot run it."""
    if node.domain:
        return Refusal("op", f"{node.domain}::{node.op_type} unsupported")
    fn = LOWERINGS.get(node.op_type)
    if fn is None:
        return Refusal("op", f"{node.op_type} unsupported")
    skip = _NON_DATA_INPUTS.get(node.op_type, set())
    data_in = [i for k, i in enumerate(node.inputs) if i and k not in skip]
    outs = [o for o in node.outputs if o]
    if node.op_type == "Dropout":
        outs = outs[:1]  # an unused mask is never written (checked in _identity)
    for name in data_in + outs:
        info = graph.value(name)
        dt = graph.initializers[name].dtype if name in graph.initializers else info.dtype
        if dt is None:
            return Refusal("dtype", f"dtype of {name!r} unknown")
        if dt != F32:
            return Refusal("dtype", f"{dt} not supported (float32 only)")
        if name not in graph.initializers and info.static_shape is None:
            return Refusal("dynamic_shape", f"shape of {name!r} is not static ({_shape_str(info.shape)})")
    ctx = Ctx(node, graph)
    try:
        check_declared(ctx, outs)  # attributes in range, declared shapes what the op gives
        call = fn(ctx)
    except Unsupported as exc:
        return exc.refusal
    call.inputs = data_in
    call.outputs = outs
    return call


def _shape_str(shape: tuple | None) -> str:
    return "unknown rank" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
