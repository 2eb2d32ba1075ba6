"""Which ONNX nodes the C operator library runs, and how each becomes one call into it.

`lower(node, graph)` returns a `Call` (the C function, the operator source it lives in, its
arguments and its scratch size) or a `Refusal` saying why the node is not taken; a node is taken
only when its attributes are in range and its declared output shapes are the ones its op gives
(`shapes.py`), since every buffer the kernels touch is sized from those shapes. The same
`Call` drives the three back ends: ctypes calls per node, the fused C function, and the
standalone export.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.host_inputs import host_input_positions
from ep_runtime.op_shapes import filter_taps, nearest_taps, source_coordinates
from ep_runtime.provider import IGNORED_ATTRIBUTES, Refusal, schema_version

from . import quant, shapes
from .branches import lower_if
from .calls import (
    ANY_C,
    BOOL,
    C_DTYPES,
    F32,
    I32,
    I64,
    Q8,
    U8,
    Call,
    value_dtype,
)
from .fold import fold_conv_affine, fuse_conv_gates, fuse_conv_residual
from .shapes import Ctx, Unsupported, check_declared

_IDENTITY_DTYPES = Q8 | {F32, I32}


def _attr(node: Node, name: str, default: Any = None) -> Any:
    return node.attrs.get(name, default)


def _only_attrs(node: Node, allowed: set[str]) -> None:
    for a in node.attrs:
        if a not in allowed and a not in IGNORED_ATTRIBUTES:
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
    return Call("ep_conv", "conv", [("t", x), ("t", w), ("t", b), ("t", n.outputs[0]), ("conv", p), ("scratch", None)],
                conv_scratch(xs, ws, ys, p))


#: conv.c's EP_CONV_DIRECT_MAX_MULTIPLIER, EP_CONV_COL_FLOATS, EP_CONV_COL_MIN_COLS and EP_CONV_WIDE_*
CONV_DIRECT_MAX_MULTIPLIER, CONV_COL_FLOATS, CONV_COL_MIN_COLS = 4, 262144, 256
CONV_WIDE_FLOATS, CONV_WIDE_MAX_TAPS, CONV_WIDE_MAX_PHASES = 65536, 64, 16
#: conv.c's EP_CONV_EXACT_MIN_M: from this many outputs a group the wide path takes any map width
CONV_EXACT_MIN_M = 128
#: ep_depthwise.h's EP_DW_LANES and ep_depthwise.c's EP_DW_* limits
DW_LANES, DW_MIN_CHANNELS, DW_MAX_WIDTH, DW_MANY_TAPS, DW_MAX_TAPS, DW_MAX_SPAN, DW_BLOCK_FLOATS = (
    16, 8, 16, 25, 64, 64, 12288)
DW_ROWS_3X3_S1_WIDTH, DW_ROWS_3X3_S2_WIDTH, DW_ROWS_5X5_S2_WIDTH = 16, 8, 32


def depthwise_scratch(m: int, oh: int, ow: int, p: dict[str, Any]) -> int | None:
    """Floats of scratch ep_depthwise takes for a depthwise Conv of m output channels (ep_depthwise_scratch_size),
    or None where it does not run it (ep_depthwise_ok): its lane path's block of interleaved padded rows,
    weights and output row, or its row path's padded plane (ep_depthwise.c's choose_path)."""
    (kh, kw), (sh, sw), (dh, dw) = p["kernel"], p["strides"], p["dilations"]
    if oh < 1 or ow < 1:
        return None
    wp, window = (ow - 1) * sw + (kw - 1) * dw + 1, (kh - 1) * dh + 1
    rows_path = kh == kw and dh == dw == 1 and ((kh == 3 and sw in (1, 2)) or (kh == 5 and sw == 2))
    if rows_path and kh == 5:
        width = DW_ROWS_5X5_S2_WIDTH
    elif rows_path:
        width = DW_ROWS_3X3_S1_WIDTH if sw == 1 else DW_ROWS_3X3_S2_WIDTH
    else:
        width = DW_MAX_WIDTH * (1 + (sw > 1) + (kh * kw >= DW_MANY_TAPS))
    if (m >= DW_MIN_CHANNELS and ow <= width and kh * kw <= DW_MAX_TAPS and window <= DW_MAX_SPAN
            and (kw - 1) * dw + 1 <= DW_MAX_SPAN):  # lane path
        fit = DW_BLOCK_FLOATS // (wp * DW_LANES)
        rows = min(oh, (fit - window) // sh + 1 if fit > window else 1)
        return (((rows - 1) * sh + window) * wp + kh * kw + ow) * DW_LANES
    return ((oh - 1) * sh + window) * wp if rows_path else None


def conv_scratch(xs: Sequence[int], ws: Sequence[int], ys: Sequence[int], p: dict[str, Any]) -> int:
    """Floats of scratch ep_conv takes (conv.c's ep_conv_scratch_size): none for a 1x1 Conv with stride
    1 and no pads; for a depthwise one (one input channel per group, at most 4 outputs), ep_depthwise's
    (depthwise_scratch) where it runs it, else the stride phases of its padded plane and an accumulator;
    where the dropped columns of conv.c's wide path are at
    most an eighth of its rows or a group has at least CONV_EXACT_MIN_M outputs (at most 64 taps and 16
    stride phases), the zero-padded phase planes of the
    input rows a block of output rows reads and that block's output; else the im2col columns of a block of
    output rows."""
    oh, ow = (ys[2], ys[3]) if len(ys) == 4 else (1, ys[2])
    if p["kernel"] == [1, 1] and p["strides"] == [1, 1] and not any(p["pads"]):
        return 0
    if ws[1] == 1 and ws[0] // max(p["group"], 1) <= CONV_DIRECT_MAX_MULTIPLIER:
        dw_floats = depthwise_scratch(ws[0], oh, ow, p)
        if dw_floats is not None:
            return dw_floats
        (sh, sw), (top, left, bottom, right) = p["strides"], p["pads"]
        ph = -(-((xs[2] if len(xs) == 4 else 1) + top + bottom) // sh)
        pw = -(-(xs[-1] + left + right) // sw)
        return sh * sw * ph * pw + oh * pw
    (kh, kw), (sh, sw), (dh, dw) = p["kernel"], p["strides"], p["dilations"]
    hr, wr = (kh - 1) * dh // sh, (kw - 1) * dw // sw
    mg = ws[0] // max(p["group"], 1)
    if (ow and kh * kw <= CONV_WIDE_MAX_TAPS and sh * sw <= CONV_WIDE_MAX_PHASES
            and (8 * wr <= ow + wr or mg >= CONV_EXACT_MIN_M)):  # wide path
        cg, pw, phases = ws[1], ow + wr, sh * sw
        fixed, per_row = cg * phases * hr * pw, (cg * phases + mg) * pw
        rows = (CONV_WIDE_FLOATS - fixed) // per_row if fixed < CONV_WIDE_FLOATS else 0
        if rows * pw < CONV_COL_MIN_COLS:
            rows = -(-CONV_COL_MIN_COLS // pw)
        rows = max(1, min(oh, rows))
        return cg * phases * (rows + hr) * pw + mg * ((rows - 1) * pw + ow)
    kdim = ws[1] * p["kernel"][0] * p["kernel"][1]
    rows = CONV_COL_FLOATS // (kdim * ow) if kdim * ow else oh
    if ow and rows * ow < CONV_COL_MIN_COLS:
        rows = -(-CONV_COL_MIN_COLS // ow)
    return kdim * max(1, min(oh, rows)) * ow


#: activation op -> conv.h's EP_CONV_ACT_* kind: ep_conv_act applies it to the Conv's output in cache
CONV_ACTIVATIONS = {"Relu": 1, "Clip": 2, "LeakyRelu": 3, "HardSigmoid": 4, "HardSwish": 5, "Sigmoid": 6,
                    "Swish": 7, "QuickGelu": 7}


def fuse_conv_activations(calls: Sequence[Call], nodes: Sequence[Node], graph: Graph, keep: set[str],
                          vendor: Mapping[str, Any] | None = None) -> tuple[list[Call], list[Node]]:
    """The calls with each Conv whose output only an activation of `CONV_ACTIVATIONS` reads merged
    with it into one `ep_conv_act` call (the Conv's node; the activation's node and call dropped).

    A pair is merged only when both run their default kernels (neither op in `vendor`), the Conv's
    output has that one consumer in the whole graph (no second reader, no If reading it) and is not
    in `keep` (values read outside these calls, graph outputs). The fused call writes the
    activation's output; the Conv's output is never materialised. Results are bitwise the pair's.
    Before, a scale and shift after a Conv is folded into its weights and a gate written as two nodes merged
    into it; after, a residual Add (`fold.py`)."""
    vendor = vendor or {}
    calls = quant.settle_packed(calls, nodes, vendor)  # packed int8 weights, or the default call for a vendor's
    if "Conv" in vendor:
        return list(calls), list(nodes)
    calls, nodes = fold_conv_affine(calls, nodes, graph, keep, vendor)  # Conv -> Mul/Add by constants
    calls, nodes = fuse_conv_gates(calls, nodes, graph, keep, vendor)  # Conv -> x * HardSigmoid(x)
    graph_outputs = {v.name for v in graph.outputs}
    position = {id(n): k for k, n in enumerate(nodes)}
    merged: dict[int, Call] = {}
    dropped: set[int] = set()
    for k, (call, node) in enumerate(zip(calls, nodes)):
        if call.func != "ep_conv" or node.op_type != "Conv":
            continue
        y = call.outputs[0]  # the last output of a folded chain (fold.py)
        readers = graph.consumers.get(y, [])
        if len(readers) != 1 or y in keep or y in graph_outputs:
            continue
        act = readers[0]
        j = position.get(id(act))
        kind = CONV_ACTIVATIONS.get(act.op_type)
        if (j is None or kind is None or act.domain not in ("", "ai.onnx", "com.microsoft") or act.op_type in vendor
                or act.inputs[0] != y or calls[j].func != "ep_" + spec_of(act).source or j in dropped):
            continue
        params = [v for kind_, v in calls[j].args if kind_ == "f32"] + [0.0, 0.0]
        args = [(a if a != ("t", y) else ("t", calls[j].outputs[0])) for a in call.args]
        merged[k] = Call("ep_conv_act", call.source, args + [("i32", kind), ("f32", params[0]), ("f32", params[1])],
                         call.scratch, list(call.inputs), list(calls[j].outputs), call.shared, constants=call.constants)
        dropped.add(j)
    kept = [k for k in range(len(calls)) if k not in dropped]
    return fuse_conv_residual([merged.get(k, calls[k]) for k in kept], [nodes[k] for k in kept], graph, keep, vendor)


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
    _only_attrs(n, {"broadcast"})
    src = spec_of(n).source
    dt = value_dtype(ctx.graph, n.inputs[0])
    if dt in (I32, I64):  # Add, Sub, Mul of integers (csrc/ops/int_binary.c)
        _want_dtypes(ctx, B=(n.inputs[1], frozenset({dt})), C=(n.outputs[0], frozenset({dt})))
        return Call("ep_int_binary", "int_binary", [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", n.outputs[0]),
                                                    ("i32", _INT_BINARY[n.op_type])])
    return Call("ep_" + src, src, [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", n.outputs[0])])


#: int_binary.h's EP_INT_* operation codes
_INT_BINARY = {"Add": 0, "Sub": 1, "Mul": 2}


def _unary(extra: Callable[[Ctx], list[tuple[str, Any]]] | None = None, attrs: frozenset[str] = frozenset()):
    def lower(ctx: Ctx) -> Call:
        n = ctx.node
        _only_attrs(n, set(attrs))
        src = spec_of(n).source
        args = [("t", n.inputs[0]), ("t", n.outputs[0])] + (extra(ctx) if extra else [])
        return Call("ep_" + src, src, args)
    return lower


def _clip_bounds(ctx: Ctx) -> list[tuple[str, Any]]:
    n = ctx.node
    if schema_version(n) < 11:
        lo, hi = _attr(n, "min", -np.inf), _attr(n, "max", np.inf)
    else:
        bounds = [shapes.const_input(ctx, k, "bound", "attribute") for k in (1, 2)]
        lo, hi = (default if b is None else float(b.reshape(-1)[0]) for b, default in zip(bounds, (-np.inf, np.inf)))
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
    src = spec_of(n).source  # Softmax and LogSoftmax
    return Call("ep_" + src, src, [("t", n.inputs[0]), ("t", n.outputs[0]), ("i32", axis), ("i32", int(legacy))])


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
    _only_attrs(n, set())
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
    _only_attrs(n, {"epsilon", "momentum", "spatial", "is_test", "training_mode"})
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


_RNN_DIRECTIONS = {"forward": 0, "reverse": 1, "bidirectional": 2}
#: the ONNX recurrent activations: C kind (csrc/ep_rnn.h), default alpha and beta (None: unused)
_RNN_ACTIVATIONS: dict[str, tuple[int, float | None, float | None]] = {
    "sigmoid": (0, None, None), "tanh": (1, None, None), "relu": (2, None, None), "affine": (3, 1.0, 0.0),
    "leakyrelu": (4, 0.01, None), "thresholdedrelu": (5, 1.0, None), "scaledtanh": (6, 1.0, 1.0),
    "hardsigmoid": (7, 0.2, 0.5), "elu": (8, 1.0, None), "softsign": (9, None, None), "softplus": (10, None, None),
}
_RNN_DEFAULTS = {"LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh"),
                 "DynamicQuantizeLSTM": ("sigmoid", "tanh", "tanh")}


def _rnn_activations(ctx: Ctx, dirs: int) -> list[tuple[str, Any]]:
    """The kinds, alphas and betas of every direction's activations, as C arrays (NULL: defaults);
    alphas and betas are consumed in order by the functions that take one."""
    n = ctx.node
    per = len(_RNN_DEFAULTS[n.op_type])
    names = _attr(n, "activations")
    alphas, betas = _attr(n, "activation_alpha"), _attr(n, "activation_beta")
    if not names and not alphas and not betas:
        return [("i64s", None), ("f32s", None), ("f32s", None)]
    names = [_text(a).lower() for a in (names or [])] or list(_RNN_DEFAULTS[n.op_type]) * dirs
    if len(names) == per and dirs == 2:
        names = names * 2
    if len(names) != per * dirs:
        raise Unsupported("attribute", f"{n.op_type} activations {names}: expected {per * dirs} ({per} per direction)")
    alpha_it, beta_it = iter(alphas or ()), iter(betas or ())
    kinds, al, be = [], [], []
    for name in names:
        if name not in _RNN_ACTIVATIONS:
            raise Unsupported("attribute", f"{n.op_type} activation {name!r} unsupported")
        kind, da, db = _RNN_ACTIVATIONS[name]
        kinds.append(kind)
        al.append(float(next(alpha_it, da)) if da is not None else 0.0)
        be.append(float(next(beta_it, db)) if db is not None else 0.0)
    return [("i64s", kinds), ("f32s", al), ("f32s", be)]


def _rnn_common(ctx: Ctx, gates: int) -> tuple[str, int, int, float, int]:
    """Direction, number of directions, hidden size, clip and layout of an LSTM or GRU, checked."""
    n = ctx.node
    direction = _text(_attr(n, "direction", "forward"))
    if direction not in _RNN_DIRECTIONS:
        raise Unsupported("attribute", f"{n.op_type} direction={direction!r} unsupported")
    dirs = 2 if direction == "bidirectional" else 1
    layout = int(_attr(n, "layout", 0))
    if layout not in (0, 1):
        raise Unsupported("attribute", f"{n.op_type} layout={layout} unsupported")
    clip = _attr(n, "clip")
    if clip is not None and not float(clip) > 0:
        raise Unsupported("attribute", f"{n.op_type} clip={clip} unsupported (must be > 0)")
    xs, ws = ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1])
    if len(xs) != 3 or len(ws) != 3 or ws[0] != dirs or ws[1] % gates:
        raise Unsupported("attribute", f"{n.op_type} shapes X {list(xs)}, W {list(ws)} unsupported")
    hidden = ws[1] // gates
    if _attr(n, "hidden_size") is not None and int(_attr(n, "hidden_size")) != hidden:
        raise Unsupported("attribute", f"{n.op_type} hidden_size disagrees with W")
    lens = ctx.input(4)
    if lens is not None:
        _want_dtypes(ctx, sequence_lens=(lens, frozenset({I32})))
    return direction, dirs, hidden, float(clip or 0.0), layout


#: per recurrent op: gates, data inputs, outputs, its own flag attribute
_RNN_KINDS = {"LSTM": (4, 8, 3, "input_forget"), "GRU": (3, 6, 2, "linear_before_reset")}
#: floats one projection block holds at most (csrc/ep_rnn.h's EP_RNN_BLOCK_FLOATS)
_RNN_BLOCK_FLOATS = 262144


def rnn_scratch(seq: int, batch: int, inputs: int, hidden: int, gates: int) -> int:
    """Floats of scratch ep_lstm / ep_gru take (ep_rnn.c's ep_rnn_scratch_layout): a block of input rows and
    their projections, R transposed (from batch 3), one step's recurrent products and two batch x hidden
    states."""
    gh = gates * hidden
    per = batch * (inputs + 2 * gh)
    rows = min(max(_RNN_BLOCK_FLOATS // per if per > 0 else seq, 1), seq) * batch
    return rows * (inputs + gh) + (gh * hidden if batch >= 3 else 0) + batch * gh + 2 * batch * hidden


def _rnn(ctx: Ctx) -> Call:
    """LSTM and GRU (since 7): both layouts, sequence_lens (constant or computed), any activations, clip,
    LSTM's input_forget and peepholes, GRU's linear_before_reset."""
    n = ctx.node
    gates, n_in, n_out, flag = _RNN_KINDS[n.op_type]
    if schema_version(n) < 7:
        raise Unsupported("attribute", f"{n.op_type} before opset 7 unsupported")
    _only_attrs(n, {"activations", "activation_alpha", "activation_beta", "clip", "direction", "hidden_size",
                    "layout", flag})
    direction, dirs, hidden, clip, layout = _rnn_common(ctx, gates)
    xs = ctx.shape(n.inputs[0])
    outs = [n.outputs[k] if len(n.outputs) > k and n.outputs[k] else None for k in range(n_out)]
    args = [("t", ctx.input(k)) for k in range(n_in)] + [("t", o) for o in outs]
    args += [("i32", _RNN_DIRECTIONS[direction]), ("i32", layout), *_rnn_activations(ctx, dirs), ("f32", clip),
             ("i32", int(_attr(n, flag, 0))), ("scratch", None)]
    batch = xs[0] if layout else xs[1]
    func = "ep_" + spec_of(n).source
    seq = xs[1] if layout else xs[0]
    call = Call(func, spec_of(n).source, args, rnn_scratch(seq, batch, xs[2], hidden, gates))
    return _rnn_transposed(ctx, call)


def _rnn_transposed(ctx: Ctx, call: Call) -> Call:
    """An LSTM's or GRU's call reading constant W and R transposed once here (`ep_lstm_rt` / `ep_gru_rt`: the
    input projection X W^T and each step's H R^T then stream contiguous rows) instead of per run; `call` as it
    is when either is computed at run time or the node reads one twice. A vendor kernel of the op gets the
    default call back (quant.settle_packed)."""
    names = ctx.node.inputs[1:3]
    mats = [ctx.const(name) for name in names]
    read = [i for i in ctx.node.inputs if i]
    if any(m is None or m.dtype != F32 or m.ndim != 3 for m in mats) or len(set(read)) != len(read):
        return call
    made = {quant.fresh_constant_name(ctx, name + "__transposed"): np.ascontiguousarray(m.transpose(0, 2, 1))
            for name, m in zip(names, mats)}
    swap = dict(zip(names, made))
    args = [("t", swap[a[1]]) if a[0] == "t" and a[1] in swap else a for a in call.args]
    return Call(call.func + "_rt", call.source, args, call.scratch, constants=made)


#: DynamicQuantizeLSTM's inputs read as constants at lowering time: W, R and their scales and zero points
_QLSTM_PARAMS = (1, 2, 8, 9, 10, 11)
#: csrc/ops/dynamicquantizelstm.h's EP_DQLSTM_MAX_K: the longest input or hidden size whose int32 sums are exact
_QLSTM_MAX_K = 16384


def _qlstm_weights(ctx: Ctx, k: int, what: str, dirs: int, rows: int, cols: int) -> tuple[np.ndarray, ...]:
    """One of DynamicQuantizeLSTM's weights (W: k 1, R: k 2) prepared for the kernel: transposed to [dirs, cols,
    rows] int8 (uint8 with its top bit flipped), each row's sum, the scale per column [dirs, cols] and the zero
    point per direction in the same int8 terms."""
    name, at = ctx.node.inputs[k], 6 + 2 * k  # W_scale is input 8, R_scale 10, each followed by its zero point
    w, scale, zero = ctx.const(name), ctx.const(ctx.input(at) or ""), ctx.const(ctx.input(at + 1) or "")
    if w is None or scale is None or zero is None:
        raise Unsupported("attribute", f"DynamicQuantizeLSTM {what}, its scale and zero point must be constants")
    if w.dtype not in Q8 or zero.dtype != w.dtype or w.shape != (dirs, rows, cols):
        raise Unsupported("dtype", f"DynamicQuantizeLSTM {what} {name!r} of {w.dtype} {list(w.shape)} with a "
                                   f"{zero.dtype} zero point unsupported (int8 or uint8 [{dirs}, {rows}, {cols}])")
    if scale.shape not in ((dirs,), (dirs, cols)) or zero.shape not in ((dirs,), (dirs, cols)):
        raise Unsupported("attribute", f"DynamicQuantizeLSTM {what}_scale {list(scale.shape)} and zero point "
                                       f"{list(zero.shape)} must be [{dirs}] or [{dirs}, {cols}]")
    zeros = zero.reshape(dirs, -1).astype(np.int64)
    if np.any(zeros != zeros[:, :1]):
        raise Unsupported("attribute", f"DynamicQuantizeLSTM {what}_zero_point must hold one value per direction")
    shift = 128 if w.dtype == U8 else 0
    signed = (w.view(np.uint8) ^ np.uint8(0x80)).view(np.int8) if shift else w.view(np.int8)
    wt = np.ascontiguousarray(signed.transpose(0, 2, 1))
    sums = wt.sum(axis=2, dtype=np.int64).astype(np.int32)
    scales = np.ascontiguousarray(np.broadcast_to(scale.astype(np.float32).reshape(dirs, -1), (dirs, cols)))
    return wt, sums, scales, zeros[:, 0] - shift


def _dynamic_quantize_lstm(ctx: Ctx) -> Call:
    """com.microsoft DynamicQuantizeLSTM: constant int8 or uint8 W and R (their scales per direction or per
    column, one zero point per direction), prepared here (transposed, row sums); the cpu provider's arithmetic
    (csrc/ops/dynamicquantizelstm.h)."""
    n = ctx.node
    _only_attrs(n, {"activations", "activation_alpha", "activation_beta", "clip", "direction", "hidden_size",
                    "input_forget"})
    direction = _text(_attr(n, "direction", "forward"))
    if direction not in _RNN_DIRECTIONS:
        raise Unsupported("attribute", f"DynamicQuantizeLSTM direction={direction!r} unsupported")
    dirs = 2 if direction == "bidirectional" else 1
    clip = _attr(n, "clip")
    if clip is not None and not float(clip) > 0:
        raise Unsupported("attribute", f"DynamicQuantizeLSTM clip={clip} unsupported (must be > 0)")
    xs, ws = ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1])
    hidden = ws[2] // 4
    if _attr(n, "hidden_size") is not None and int(_attr(n, "hidden_size")) != hidden:
        raise Unsupported("attribute", "DynamicQuantizeLSTM hidden_size disagrees with W")
    if max(xs[2], hidden) > _QLSTM_MAX_K:
        raise Unsupported("attribute", f"DynamicQuantizeLSTM input size {xs[2]} or hidden size {hidden} over "
                                       f"{_QLSTM_MAX_K} unsupported")
    f32 = frozenset({F32})
    _want_dtypes(ctx, X=(n.inputs[0], f32), B=(ctx.input(3), f32), sequence_lens=(ctx.input(4), frozenset({I32})),
                 initial_h=(ctx.input(5), f32), initial_c=(ctx.input(6), f32), P=(ctx.input(7), f32))
    made: dict[str, np.ndarray] = {}
    zero_points: list[int] = []  # W's per direction, then R's
    tensors = []
    for k, what, rows in ((1, "W", xs[2]), (2, "R", hidden)):
        wt, sums, scales, zeros = _qlstm_weights(ctx, k, what, dirs, rows, 4 * hidden)
        names = [quant.fresh_constant_name(ctx, f"{n.inputs[k]}__{tag}") for tag in ("qlstm", "qlstm_sums",
                                                                                   "qlstm_scales")]
        made.update(zip(names, (wt, sums, scales)))
        tensors += [("t", name) for name in names]
        zero_points += [int(z) for z in zeros]
    outs = [n.outputs[k] if len(n.outputs) > k and n.outputs[k] else None for k in range(3)]
    args = [("t", n.inputs[0]), *tensors, ("i64s", zero_points)] + [("t", ctx.input(k)) for k in (3, 4, 5, 6, 7)]
    args += [("t", o) for o in outs] + [("i32", _RNN_DIRECTIONS[direction]), *_rnn_activations(ctx, dirs),
                                         ("f32", float(clip or 0.0)), ("i32", int(_attr(n, "input_forget", 0))),
                                         ("i32", int(outs[0] is not None)), ("scratch", None)]
    return Call("ep_dynamicquantizelstm", "dynamicquantizelstm", args,
                dynamic_quantize_lstm_scratch(xs[0], xs[1], xs[2], hidden), constants=made)


def dynamic_quantize_lstm_scratch(seq: int, batch: int, inputs: int, hidden: int) -> int:
    """Floats of scratch ep_dynamicquantizelstm takes (its ep_dynamicquantizelstm_scratch_size)."""
    g4 = 4 * hidden
    return (3 * batch * hidden + 2 * batch * g4 + 2 * g4 + seq * batch * g4 + batch + -(-seq * batch * inputs // 4)
            + -(-batch * hidden // 4))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gelu_approximate(ctx: Ctx) -> list[tuple[str, Any]]:
    mode = _text(_attr(ctx.node, "approximate", "none"))
    if mode not in ("none", "tanh"):
        raise Unsupported("attribute", f"Gelu approximate={mode!r} unsupported (none or tanh)")
    return [("i32", int(mode == "tanh"))]


_PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}


def _rows(ctx: Ctx, attrs: set[str]) -> None:
    """Pad and Slice walk their input's rows: refused on a scalar, or with an attribute not in `attrs`."""
    _only_attrs(ctx.node, attrs)
    if not ctx.shape(ctx.node.inputs[0]):
        raise Unsupported("attribute", f"{ctx.node.op_type} of a scalar unsupported")


def _pad(ctx: Ctx) -> Call:
    n = ctx.node
    _rows(ctx, {"mode", "pads", "value"})
    begin, end, mode = shapes.pad_begin_end(ctx)
    if mode != "constant" and any(p < 0 for p in begin + end):
        raise Unsupported("attribute", f"Pad mode={mode} with negative (cropping) pads unsupported")
    if schema_version(n) < 11:
        value = float(_attr(n, "value", 0.0))
    else:
        arr = shapes.const_input(ctx, 2, "constant_value", "attribute")
        value = 0.0 if arr is None or arr.size == 0 else float(arr.reshape(-1)[0])
    return Call("ep_pad", "pad", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i64s", begin),
                                  ("i32", _PAD_MODES[mode]), ("f32", value)])


def _slice(ctx: Ctx) -> Call:
    n = ctx.node
    _rows(ctx, {"starts", "ends", "axes"})
    starts, steps, _ = shapes.slice_plan(ctx)
    return Call("ep_slice", "slice", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i64s", starts), ("i64s", steps)])


def _split(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"axis", "split", "num_outputs"})
    if not all(n.outputs):
        raise Unsupported("attribute", "Split with an omitted output unsupported")
    axis, _ = shapes.split_plan(ctx)
    return Call("ep_split", "split", [("t", n.inputs[0]), ("i32", axis), ("ts", list(n.outputs))])


def _gather(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"axis"})
    got = _want_dtypes(ctx, data=(n.inputs[0], ANY_C), indices=(n.inputs[1], frozenset({I64, I32})))
    _want_dtypes(ctx, output=(n.outputs[0], frozenset({got["data"]})))
    axis, _ = shapes.gather_plan(ctx)
    return Call("ep_gather", "gather", [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", n.outputs[0]), ("i32", axis)])


def _expand(ctx: Ctx) -> Call:
    """Expand (any element type; the shape input resolved at lowering time, as the output's shape)."""
    n = ctx.node
    _only_attrs(n, set())
    got = _want_dtypes(ctx, input=(n.inputs[0], ANY_C))
    _want_dtypes(ctx, output=(n.outputs[0], frozenset({got["input"]})))
    return Call("ep_expand", "expand", [("t", n.inputs[0]), ("t", n.outputs[0])])


def _argmax(ctx: Ctx) -> Call:
    """ArgMax and ArgMin along one axis (keepdims, select_last_index), int64 indices."""
    n = ctx.node
    _only_attrs(n, {"axis", "keepdims", "select_last_index"})
    xs = ctx.shape(n.inputs[0])
    _want_dtypes(ctx, data=(n.inputs[0], _ARG_DTYPES), output=(n.outputs[0], frozenset({I64})))
    if not xs:
        raise Unsupported("attribute", f"{n.op_type} of a scalar unsupported")
    axis = int(_attr(n, "axis", 0)) % len(xs)  # in range: checked with the output shape (shapes.py)
    if xs[axis] == 0 and int(np.prod(xs[:axis] + xs[axis + 1:])) > 0:
        raise Unsupported("attribute", f"{n.op_type} along the empty axis {axis} of {list(xs)} is undefined")
    return Call("ep_argmax", "argmax", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i32", axis),
                                        ("i32", int(_attr(n, "select_last_index", 0))),
                                        ("i32", int(n.op_type == "ArgMin"))])


#: the element types ArgMax and ArgMin compare
_ARG_DTYPES = Q8 | {F32, I32, I64}


def _where(ctx: Ctx) -> Call:
    """Where: a bool condition, x, y and the output of one element type, broadcasting."""
    n = ctx.node
    _only_attrs(n, set())
    got = _want_dtypes(ctx, condition=(n.inputs[0], frozenset({BOOL})), X=(n.inputs[1], ANY_C))
    _want_dtypes(ctx, Y=(n.inputs[2], frozenset({got["X"]})), output=(n.outputs[0], frozenset({got["X"]})))
    return Call("ep_where", "where", [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", n.inputs[2]),
                                      ("t", n.outputs[0])])


def _layernorm(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"axis", "epsilon", "stash_type"})
    if int(_attr(n, "stash_type", 1)) != 1:
        raise Unsupported("attribute", "LayerNormalization stash_type other than 1 (float32) unsupported")
    if any(n.outputs[1:]):
        raise Unsupported("attribute", "LayerNormalization Mean / InvStdDev outputs unsupported")
    rank = len(ctx.shape(n.inputs[0]))
    axis = int(_attr(n, "axis", -1))
    return Call("ep_layernormalization", "layernormalization",
                [("t", n.inputs[0]), ("t", ctx.input(1)), ("t", ctx.input(2)), ("t", n.outputs[0]),
                 ("i32", axis + rank if axis < 0 else axis), ("f32", float(_attr(n, "epsilon", 1e-5)))])


def _resize_taps(ctx: Ctx, in_len: int, out_len: int, scale: float) -> tuple[int, list[int], list[float]]:
    """Taps per output position, and the index and weight tables, of one resized axis (as the cpu
    provider computes them: `ep_runtime.op_shapes`)."""
    n = ctx.node
    mode = _text(_attr(n, "mode", "nearest"))
    if out_len == in_len and scale == 1.0:
        return 1, list(range(out_len)), [1.0] * out_len
    if in_len == 0:
        raise Unsupported("attribute", "Resize of an empty axis to a non-empty one unsupported")
    src = source_coordinates(_text(_attr(n, "coordinate_transformation_mode", "half_pixel")), out_len, in_len,
                             scale, None)
    if mode == "nearest":
        idx = nearest_taps(src, in_len, _text(_attr(n, "nearest_mode", "round_prefer_floor")), scale < 1)
        w = np.ones(idx.shape)
    else:
        idx, w = filter_taps(src, in_len, mode, scale, float(_attr(n, "cubic_coeff_a", -0.75)),
                             bool(_attr(n, "antialias", 0)), bool(_attr(n, "exclude_outside", 0)))
    return idx.shape[1], [int(v) for v in idx.reshape(-1)], [float(v) for v in w.reshape(-1)]


def _resize(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
                    "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode"})
    mode = _text(_attr(n, "mode", "nearest"))
    ctm = _text(_attr(n, "coordinate_transformation_mode", "half_pixel"))
    if mode not in ("nearest", "linear", "cubic"):
        raise Unsupported("attribute", f"Resize mode={mode!r} unsupported")
    if ctm in ("tf_crop_and_resize", "tf_half_pixel_for_nn"):
        raise Unsupported("attribute", f"Resize coordinate_transformation_mode={ctm} unsupported")
    if mode == "nearest" and _attr(n, "antialias", 0):
        raise Unsupported("attribute", "Resize antialias with mode nearest is undefined")
    xs = ctx.shape(n.inputs[0])
    ys, factors = shapes.resize_geometry(ctx)
    if len(xs) < 2 or ys[:-2] != xs[:-2] or any(f != 1.0 for f in factors[:-2]):
        raise Unsupported("attribute", f"Resize of {list(xs)} to {list(ys)} unsupported (the last two axes only)")
    try:
        th, ih, wh = _resize_taps(ctx, xs[-2], ys[-2], factors[-2])
        tw, iw, ww = _resize_taps(ctx, xs[-1], ys[-1], factors[-1])
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None
    if not ih or not iw:
        raise Unsupported("attribute", "Resize to an empty output unsupported")
    return Call("ep_resize", "resize", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i32", th), ("i64s", ih),
                                        ("f32s", wh), ("i32", tw), ("i64s", iw), ("f32s", ww)])


def _alpha(default: float) -> Callable[[Ctx], list[tuple[str, Any]]]:
    return lambda c: [("f32", float(_attr(c.node, "alpha", default)))]


def _want_dtypes(ctx: Ctx, **roles: tuple[str | None, frozenset[np.dtype]]) -> dict[str, np.dtype]:
    """The element type of each named tensor (role -> (value, allowed types)), refused when not allowed."""
    got = {}
    for role, (name, allowed) in roles.items():
        if name is None:
            continue
        dt = value_dtype(ctx.graph, name)
        if dt not in allowed:
            want = " or ".join(sorted(str(a) for a in allowed))
            raise Unsupported("dtype", f"{ctx.node.op_type} {role} {name!r} of type {dt} unsupported ({want})")
        got[role] = dt
    return got


def _per_axis(ctx: Ctx, scale: np.ndarray, zp: list[int]) -> tuple[list[float], list[int]]:
    n = max(len(scale), len(zp))
    if len(scale) not in (1, n) or len(zp) not in (1, n):
        raise Unsupported("attribute",
                          f"{ctx.node.op_type} scale and zero point hold {len(scale)} and {len(zp)} values")
    return [float(v) for v in np.broadcast_to(scale, n)], [int(v) for v in np.broadcast_to(zp, n)]


def _quantize_linear(ctx: Ctx) -> Call:
    """QuantizeLinear and DequantizeLinear, per tensor or per axis (no blocks)."""
    n = ctx.node
    _only_attrs(n, {"axis", "saturate", "block_size", "output_dtype"})
    if int(_attr(n, "block_size", 0)):
        raise Unsupported("attribute", f"{n.op_type} block_size unsupported (per tensor or per axis only)")
    quantize = n.op_type == "QuantizeLinear"
    x, y = n.inputs[0], n.outputs[0]
    got = _want_dtypes(ctx, x=(x, frozenset({F32}) if quantize else Q8 | {I32}),
                       y=(y, Q8 if quantize else frozenset({F32})))
    xs = ctx.shape(x)
    axis, channels = int(_attr(n, "axis", 1)), None
    scale_name = ctx.input(1)
    if scale_name is not None and ctx.const(scale_name) is not None and np.asarray(ctx.const(scale_name)).size > 1:
        if not -len(xs) <= axis < len(xs):  # the axis matters only for per-axis parameters
            raise Unsupported("attribute", f"{n.op_type} axis {axis} is out of range for rank {len(xs)}")
        axis = axis + len(xs) if axis < 0 else axis
        channels = xs[axis]
    else:
        axis = 0
    scale = quant.scale_const(ctx, 1, "scale", channels)
    zp = quant.zero_point_const(ctx, 2, "zero_point", got["y" if quantize else "x"], channels)
    if quantize and ctx.input(2) is None and got["y"] != U8:
        raise Unsupported("dtype", f"QuantizeLinear without a zero point gives uint8, but {y!r} is {got['y']}")
    scales, zps = _per_axis(ctx, scale, zp)
    func = "ep_quantizelinear" if quantize else "ep_dequantizelinear"
    return Call(func, func[3:], [("t", x), ("t", y), ("i32", axis), ("f32s", scales), ("i64s", zps),
                                 ("i64", len(scales))])


def _qlinearconv(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
    x, w, y, b = n.inputs[0], n.inputs[3], n.outputs[0], ctx.input(8)
    got = _want_dtypes(ctx, x=(x, Q8), w=(w, Q8), y=(y, Q8), B=(b, frozenset({I32})))
    xs, ws, ys = ctx.shape(x), ctx.shape(w), ctx.shape(y)
    if len(xs) not in (3, 4):
        raise Unsupported("attribute", f"QLinearConv with {len(xs) - 2} spatial dims unsupported (1-D and 2-D only)")
    p = _window(ctx, xs, ys, list(ws[2:]))
    p["group"] = int(_attr(n, "group", 1))
    x_scale = quant.scale_const(ctx, 1, "x_scale")
    x_zp = quant.zero_point_const(ctx, 2, "x_zero_point", got["x"])
    w_scale = quant.scale_const(ctx, 4, "w_scale", ws[0])
    w_zp = quant.zero_point_const(ctx, 5, "w_zero_point", got["w"], ws[0])
    y_scale = quant.scale_const(ctx, 6, "y_scale")
    y_zp = quant.zero_point_const(ctx, 7, "y_zero_point", got["y"])
    mult, shift = quant.requant_params(ctx, x_scale, w_scale, y_scale)
    return Call("ep_qlinearconv", "qlinearconv",
                [("t", x), ("i64", x_zp[0]), ("t", w), ("i64s", w_zp), ("i64", len(w_zp)), ("t", b), ("t", y),
                 ("i64", y_zp[0]), ("i64s", mult), ("i64s", shift), ("i64", len(mult)), ("conv", p)])


def _convinteger(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
    x, w, y, x_zp, w_zp = n.inputs[0], n.inputs[1], n.outputs[0], ctx.input(2), ctx.input(3)
    got = _want_dtypes(ctx, x=(x, Q8), w=(w, Q8), y=(y, frozenset({I32})))
    _want_dtypes(ctx, x_zero_point=(x_zp, frozenset({got["x"]})), w_zero_point=(w_zp, frozenset({got["w"]})))
    xs, ws, ys = ctx.shape(x), ctx.shape(w), ctx.shape(y)
    if len(xs) not in (3, 4):
        raise Unsupported("attribute", f"ConvInteger with {len(xs) - 2} spatial dims unsupported (1-D and 2-D only)")
    _zero_point_shape(ctx, x_zp, "x_zero_point", None)
    _zero_point_shape(ctx, w_zp, "w_zero_point", ws[0])
    p = _window(ctx, xs, ys, list(ws[2:]))
    p["group"] = int(_attr(n, "group", 1))
    call = Call("ep_convinteger", "convinteger", [("t", x), ("t", x_zp), ("t", w), ("t", w_zp), ("t", y), ("conv", p)])
    return quant.pack_convinteger(ctx, call, xs, p)  # constant weights packed once (quant.settle_packed)


def _qmatmul_shapes(ctx: Ctx, a: str, b: str) -> int:
    """Columns of the 2-D b, once a has rank >= 2 (the kernels' layout)."""
    a_shape, b_shape = ctx.shape(a), ctx.shape(b)
    if len(a_shape) < 2 or len(b_shape) != 2:
        raise Unsupported("attribute", f"{ctx.node.op_type} of {list(a_shape)} by {list(b_shape)} unsupported "
                                       "(a of rank >= 2 by a 2-D b only)")
    return b_shape[1]


def _qlinearmatmul(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, set())
    a, b, y = n.inputs[0], n.inputs[3], n.outputs[0]
    got = _want_dtypes(ctx, a=(a, Q8), b=(b, Q8), y=(y, Q8))
    cols = _qmatmul_shapes(ctx, a, b)
    a_scale = quant.scale_const(ctx, 1, "a_scale")
    a_zp = quant.zero_point_const(ctx, 2, "a_zero_point", got["a"])
    b_scale = quant.scale_const(ctx, 4, "b_scale", cols)
    b_zp = quant.zero_point_const(ctx, 5, "b_zero_point", got["b"], cols)
    y_scale = quant.scale_const(ctx, 6, "y_scale")
    y_zp = quant.zero_point_const(ctx, 7, "y_zero_point", got["y"])
    mult, shift = quant.requant_params(ctx, a_scale, b_scale, y_scale)
    return Call("ep_qlinearmatmul", "qlinearmatmul",
                [("t", a), ("i64", a_zp[0]), ("t", b), ("i64s", b_zp), ("i64", len(b_zp)), ("t", y),
                 ("i64", y_zp[0]), ("i64s", mult), ("i64s", shift), ("i64", len(mult))])


def _matmulinteger(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, set())
    a, b, y, a_zp, b_zp = n.inputs[0], n.inputs[1], n.outputs[0], ctx.input(2), ctx.input(3)
    got = _want_dtypes(ctx, a=(a, Q8), b=(b, Q8), y=(y, frozenset({I32})))
    _want_dtypes(ctx, a_zero_point=(a_zp, frozenset({got["a"]})), b_zero_point=(b_zp, frozenset({got["b"]})))
    cols = _qmatmul_shapes(ctx, a, b)
    _zero_point_shape(ctx, a_zp, "a_zero_point", None)
    _zero_point_shape(ctx, b_zp, "b_zero_point", cols)
    call = Call("ep_matmulinteger", "matmulinteger", [("t", a), ("t", a_zp), ("t", b), ("t", b_zp), ("t", y)])
    return quant.pack_matmulinteger(ctx, call, got["a"])  # a constant b packed once (quant.settle_packed)


def _zero_point_shape(ctx: Ctx, name: str | None, what: str, channels: int | None) -> None:
    """A zero-point tensor (constant or computed at run time) holds one value, or one per channel."""
    if name is None:
        return
    shape = ctx.shape(name)
    if int(np.prod(shape)) != 1 and not (channels is not None and shape == (channels,)):
        raise Unsupported("attribute", f"{ctx.node.op_type} {what} {name!r} of shape {list(shape)} unsupported "
                                       "(one value" + (f" or {channels}, one per channel)" if channels else ")"))


def _dynamic_quantize_linear(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, set())
    if len(n.outputs) < 3 or not all(n.outputs[:3]):
        raise Unsupported("attribute", "DynamicQuantizeLinear with an omitted output unsupported")
    _want_dtypes(ctx, x=(n.inputs[0], frozenset({F32})), y=(n.outputs[0], frozenset({U8})),
                 y_scale=(n.outputs[1], frozenset({F32})), y_zero_point=(n.outputs[2], frozenset({U8})))
    return Call("ep_dynamicquantizelinear", "dynamicquantizelinear",
                [("t", n.inputs[0]), ("t", n.outputs[0]), ("t", n.outputs[1]), ("t", n.outputs[2])])


def _cast(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"to", "saturate", "round_mode"})
    if int(_attr(n, "to", 0)) in (6, 7):  # to int32 / int64 (csrc/ops/cast_int.c)
        _want_dtypes(ctx, x=(n.inputs[0], frozenset({F32, I32, I64})), y=(n.outputs[0], frozenset({I32, I64})))
        return Call("ep_cast_int", "cast_int", [("t", n.inputs[0]), ("t", n.outputs[0])])
    if int(_attr(n, "to", 0)) != 1:
        raise Unsupported("attribute", f"Cast to type {_attr(n, 'to')} unsupported (to float32, int32, int64 only)")
    _want_dtypes(ctx, x=(n.inputs[0], _IDENTITY_DTYPES))
    _want_dtypes(ctx, y=(n.outputs[0], frozenset({F32})))
    return Call("ep_cast", "cast", [("t", n.inputs[0]), ("t", n.outputs[0])])


_REDUCE_MODES = {"ReduceMean": 0, "ReduceSum": 1, "ReduceMax": 2, "ReduceMin": 3}


def _reduce(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"axes", "keepdims", "noop_with_empty_axes"})
    axes = shapes.reduce_axes(ctx)
    xs = ctx.shape(n.inputs[0])
    if any(xs[a] == 0 for a in axes):
        raise Unsupported("attribute", f"{n.op_type} over an empty axis unsupported")
    return Call("ep_reduce", "reduce", [("t", n.inputs[0]), ("t", n.outputs[0]), ("i64", sum(1 << a for a in axes)),
                                        ("i32", _REDUCE_MODES[n.op_type])])


def _conv_transpose(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads",
                    "strides"})
    xs = ctx.shape(n.inputs[0])
    if len(xs) not in (3, 4):
        raise Unsupported("attribute", f"ConvTranspose with {len(xs) - 2} spatial dims unsupported (1-D and 2-D only)")
    group, kernel, geo = shapes.conv_transpose_plan(ctx)
    if len(xs) == 3:
        kernel, strides, dil, begin = [1, *kernel], [1, *geo.strides], [1, *geo.dilations], [0, *geo.begin]
    else:
        strides, dil, begin = list(geo.strides), list(geo.dilations), list(geo.begin)
    if any(abs(v) > 1 << 30 for v in begin):
        raise Unsupported("attribute", f"ConvTranspose pads {begin} out of range")
    p = {"group": group, "kernel": kernel, "strides": strides, "pads": [begin[0], begin[1], 0, 0], "dilations": dil}
    ws = ctx.shape(n.inputs[1])
    scratch = ws[1] * kernel[0] * kernel[1] * int(np.prod(xs[2:]))
    return Call("ep_convtranspose", "convtranspose",
                [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", ctx.input(2)), ("t", n.outputs[0]), ("conv", p),
                 ("scratch", None)], scratch)


_COMPARISONS = {"Equal": 0, "Less": 1, "LessOrEqual": 2, "Greater": 3, "GreaterOrEqual": 4}
_LOGICAL = {"And": 0, "Or": 1, "Xor": 2}


def _compare(ctx: Ctx) -> Call:
    """Equal, Less, LessOrEqual, Greater, GreaterOrEqual: two inputs of one type, a bool output."""
    n = ctx.node
    _only_attrs(n, set())
    a, b, y = n.inputs[0], n.inputs[1], n.outputs[0]
    ordered = n.op_type != "Equal"
    got = _want_dtypes(ctx, A=(a, ANY_C - {BOOL} if ordered else ANY_C), y=(y, frozenset({BOOL})))
    _want_dtypes(ctx, B=(b, frozenset({got["A"]})))
    return Call("ep_compare", "compare", [("t", a), ("t", b), ("t", y), ("i32", _COMPARISONS[n.op_type])])


def _logical(ctx: Ctx) -> Call:
    n = ctx.node
    _only_attrs(n, set())
    return Call("ep_logical", "logical",
                [("t", n.inputs[0]), ("t", n.inputs[1]), ("t", n.outputs[0]), ("i32", _LOGICAL[n.op_type])])


_CONSTANT_ATTRS = {"value": None, "value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
                   "value_ints": np.int64}


def _constant(ctx: Ctx) -> Call:
    """Constant (when the optimizer did not fold it, as in a body graph run unoptimized): its value is a
    constant of the call, copied into the output."""
    n = ctx.node
    _only_attrs(n, set(_CONSTANT_ATTRS))
    if len(n.attrs) != 1:
        raise Unsupported("attribute", f"Constant with attributes {sorted(n.attrs)} unsupported (one value)")
    (attr, raw), = n.attrs.items()
    arr = np.asarray(raw, dtype=_CONSTANT_ATTRS[attr])
    if arr.dtype not in C_DTYPES:
        raise Unsupported("dtype", f"Constant of {arr.dtype} unsupported")
    name = f"{n.outputs[0]}/value"
    if name in ctx.graph.values or name in ctx.graph.initializers:
        raise Unsupported("attribute", f"Constant: the name {name!r} of its value clashes with a value of the model")
    return Call("ep_identity", "identity", [("t", name), ("t", n.outputs[0])], constants={name: arr})


def _if(ctx: Ctx) -> Call:
    return lower_if(ctx, lower)


@dataclass(frozen=True)
class OpSpec:
    """How the library runs one ONNX op, in one place.

    `lower` turns a node into its `Call`; `source` is the stem of its default kernel
    (`csrc/ops/<source>.c`, what the `kernels` option swaps); `shared` the shared sources
    (`csrc/<stem>.c`) that kernel needs besides `SUPPORT_SOURCES`; `dtypes` the element types its
    data tensors may have (each lowering checks every position); `params` the inputs the lowering
    reads as constants at build time besides the op's host inputs (`ep_runtime.host_inputs`: shapes,
    axes, pads...). Neither kind is a data tensor of the call.
    """

    lower: Callable[[Ctx], Call]
    source: str
    dtypes: frozenset[np.dtype] = frozenset({F32})
    params: tuple[int, ...] = ()
    shared: tuple[str, ...] = ()


ROWS = ("ep_rows",)  # the row drivers of csrc/ep_rows.c
_QPARAMS = (1, 2, 4, 5, 6, 7)  # QLinearConv's and QLinearMatMul's scales and zero points

#: (domain, op_type) -> how the library runs it ("" is the ONNX domain)
OPS: dict[tuple[str, str], OpSpec] = {
    **{("", op): OpSpec(_binary, src, frozenset({F32, I32, I64})) for op, src in (("Add", "add"), ("Sub", "sub"),
                                                                                 ("Mul", "mul"))},
    **{("", op): OpSpec(_binary, src) for op, src in (("Div", "div"), ("Pow", "pow"))},
    **{("", op): OpSpec(_unary(), src) for op, src in (
        ("Relu", "relu"), ("Sigmoid", "sigmoid"), ("Tanh", "tanh"), ("GlobalAveragePool", "globalaveragepool"),
        ("HardSwish", "hardswish"), ("Softplus", "softplus"), ("Erf", "erf"), ("Sqrt", "sqrt"), ("Exp", "exp"),
        ("Log", "log"), ("Abs", "abs"), ("Neg", "neg"), ("Reciprocal", "reciprocal"), ("Floor", "floor"),
        ("Ceil", "ceil"))},
    ("", "LeakyRelu"): OpSpec(_unary(lambda c: [("f32", float(_attr(c.node, "alpha", 0.01)))], frozenset({"alpha"})),
                              "leaky_relu"),
    ("", "Clip"): OpSpec(_unary(_clip_bounds, frozenset({"min", "max"})), "clip", params=(1, 2)),
    ("", "HardSigmoid"): OpSpec(_unary(lambda c: [("f32", float(_attr(c.node, "alpha", 0.2))),
                                                  ("f32", float(_attr(c.node, "beta", 0.5)))],
                                       frozenset({"alpha", "beta"})), "hardsigmoid"),
    ("", "Gelu"): OpSpec(_unary(_gelu_approximate, frozenset({"approximate"})), "gelu"),
    ("com.microsoft", "Gelu"): OpSpec(_unary(lambda c: [("i32", 0)]), "gelu"),
    ("", "Swish"): OpSpec(_unary(_alpha(1.0), frozenset({"alpha"})), "swish"),
    ("com.microsoft", "QuickGelu"): OpSpec(_unary(_alpha(1.702), frozenset({"alpha"})), "swish"),
    ("", "Elu"): OpSpec(_unary(_alpha(1.0), frozenset({"alpha"})), "elu"),
    **{("", op): OpSpec(_identity, "identity", _IDENTITY_DTYPES | {BOOL}, params=params)
       for op, params in (("Identity", ()), ("Reshape", ()), ("Flatten", ()), ("Squeeze", ()), ("Unsqueeze", ()),
                          ("Dropout", (1, 2)))},
    ("", "Conv"): OpSpec(_conv, "conv"),
    ("", "ConvTranspose"): OpSpec(_conv_transpose, "convtranspose"),
    ("", "MaxPool"): OpSpec(_pool, "maxpool"),
    ("", "AveragePool"): OpSpec(_pool, "averagepool"),
    ("", "Gemm"): OpSpec(_gemm, "gemm"),
    ("", "MatMul"): OpSpec(_matmul, "matmul"),
    ("", "BatchNormalization"): OpSpec(_batchnorm, "batchnormalization"),
    ("", "Softmax"): OpSpec(_softmax, "softmax", shared=ROWS),
    ("", "LogSoftmax"): OpSpec(_softmax, "logsoftmax", shared=ROWS),
    ("", "Concat"): OpSpec(_concat, "concat", shared=ROWS),
    ("", "Split"): OpSpec(_split, "split", shared=ROWS),
    ("", "Transpose"): OpSpec(_transpose, "transpose", ANY_C),
    ("", "Sum"): OpSpec(_sum, "sum"),
    ("", "LRN"): OpSpec(_lrn, "lrn"),
    ("", "LSTM"): OpSpec(_rnn, "lstm", frozenset({F32, I32})),
    ("", "GRU"): OpSpec(_rnn, "gru", frozenset({F32, I32})),
    ("com.microsoft", "DynamicQuantizeLSTM"): OpSpec(_dynamic_quantize_lstm, "dynamicquantizelstm",
                                                     frozenset({F32, I32}), params=_QLSTM_PARAMS),
    ("", "Pad"): OpSpec(_pad, "pad", shared=ROWS),
    ("", "Slice"): OpSpec(_slice, "slice", shared=ROWS),
    ("", "Gather"): OpSpec(_gather, "gather", ANY_C),
    ("", "Expand"): OpSpec(_expand, "expand", ANY_C),
    ("", "ArgMax"): OpSpec(_argmax, "argmax", _ARG_DTYPES),
    ("", "ArgMin"): OpSpec(_argmax, "argmax", _ARG_DTYPES),
    ("", "Where"): OpSpec(_where, "where", ANY_C),
    ("", "LayerNormalization"): OpSpec(_layernorm, "layernormalization"),
    ("", "Resize"): OpSpec(_resize, "resize"),
    **{("", op): OpSpec(_reduce, "reduce") for op in _REDUCE_MODES},
    ("", "QuantizeLinear"): OpSpec(_quantize_linear, "quantizelinear", Q8 | {F32}, params=(1, 2)),
    ("", "DequantizeLinear"): OpSpec(_quantize_linear, "dequantizelinear", Q8 | {F32, I32}, params=(1, 2)),
    ("", "DynamicQuantizeLinear"): OpSpec(_dynamic_quantize_linear, "dynamicquantizelinear", Q8 | {F32}),
    ("", "QLinearConv"): OpSpec(_qlinearconv, "qlinearconv", Q8 | {I32}, params=_QPARAMS),
    ("", "QLinearMatMul"): OpSpec(_qlinearmatmul, "qlinearmatmul", Q8, params=_QPARAMS),
    ("", "ConvInteger"): OpSpec(_convinteger, "convinteger", Q8 | {I32}),
    ("", "MatMulInteger"): OpSpec(_matmulinteger, "matmulinteger", Q8 | {I32}),
    ("", "Cast"): OpSpec(_cast, "cast", _IDENTITY_DTYPES | {I64}),
    **{("", op): OpSpec(_compare, "compare", ANY_C) for op in _COMPARISONS},
    **{("", op): OpSpec(_logical, "logical", frozenset({BOOL})) for op in _LOGICAL},
    ("", "Not"): OpSpec(_unary(), "not", frozenset({BOOL})),
    ("", "If"): OpSpec(_if, "", ANY_C),
    ("", "Constant"): OpSpec(_constant, "identity", ANY_C),
}

#: op_type -> the source stem of its default kernel (a view of OPS, for the `kernels` option)
OP_SOURCES: dict[str, str] = {op: spec.source for (_, op), spec in OPS.items() if spec.source}


def spec_of(node: Node) -> OpSpec:
    """The table entry of `node`'s op (KeyError when the library does not run it)."""
    return OPS[("" if node.domain == "ai.onnx" else node.domain, node.op_type)]


def lower(node: Node, graph: Graph, shapes: Mapping[str, tuple[int, ...]] | None = None) -> Call | Refusal:
    """The library call for `node`, or why the embedded C provider cannot run it.

    `shapes` gives concrete shapes for values whose declared shapes are symbolic (a specialisation,
    `shapes.propagate`); without it every value must have a static declared shape."""
    try:
        spec = spec_of(node)
    except KeyError:
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        return Refusal("op", f"{domain}::{node.op_type} unsupported" if domain else f"{node.op_type} unsupported")
    skip = set(host_input_positions(node)) | set(spec.params)
    data_in = [i for k, i in enumerate(node.inputs) if i and k not in skip]
    outs = [o for o in node.outputs if o]
    if node.op_type == "Dropout":
        outs = outs[:1]  # an unused mask is never written (checked in _identity)
    for name in data_in + outs:
        info = graph.value(name)
        dt = graph.initializers[name].dtype if name in graph.initializers else info.dtype
        if dt is None:
            return Refusal("dtype", f"dtype of {name!r} unknown")
        if dt not in spec.dtypes:
            return Refusal("dtype", f"{dt} not supported (float32 only)" if spec.dtypes == {F32} else
                           f"{node.op_type} of {dt} unsupported")
        if name not in graph.initializers and info.static_shape is None and name not in (shapes or {}):
            return Refusal("dynamic_shape", f"shape of {name!r} is not static ({_shape_str(info.shape)})")
    ctx = Ctx(node, graph, shapes)
    try:
        check_declared(ctx, outs)  # attributes in range, declared shapes what the op gives
        call = spec.lower(ctx)
    except Unsupported as exc:
        return exc.refusal
    call.inputs = data_in + [i for i in [*node.implicit_inputs, *call.constants] if i not in data_in]
    call.outputs = outs
    call.shared = spec.shared
    return call


def _shape_str(shape: tuple | None) -> str:
    return "unknown rank" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
