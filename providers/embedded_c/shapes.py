"""The output shapes each claimed node must have, from its input shapes and attributes.

The C kernels size nothing themselves: every buffer comes from the static shapes the graph
declares (value_info, shape inference). A model file is untrusted, so before a node is claimed
its attributes are checked (strides, dilations, kernel sizes >= 1, pads >= 0, axes in range,
one parameter per channel...) and the shapes its op implies for its inputs are compared with the
declared ones (`implied_shapes`); a disagreement refuses the node, naming the value, instead of
handing a kernel a buffer of the wrong size. The arithmetic is the core's (`ep_runtime.op_shapes`).

Symbolic dims (a batch `N`, a sequence length) are specialised when the shapes are known:
`propagate` computes every value's shape through a run of nodes from the concrete shapes of its
inputs with the same rules, checking each against the dims the graph declares; `trial_shapes`
gives the stand-in shapes with which a node of symbolic shapes is checked before it is claimed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from ep_runtime import op_shapes
from ep_runtime.graph import Graph, Node
from ep_runtime.provider import Refusal, schema_version
from ep_runtime.subgraph import nested_graph

Shape = tuple[int, ...]

#: the value a symbolic dim stands for when a node is checked before it is claimed (`trial_shapes`)
TRIAL_DIM = 32

#: EP_MAX_RANK of csrc/ep_tensor.h
MAX_RANK = 8


class Unsupported(Exception):
    """Why a node cannot run on the C kernels, as a Refusal (kind and reason)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.refusal = Refusal(kind, reason)
        #: the node it concerns, when `propagate` raised it
        self.node: Node | None = None


class Ctx:
    """One node and the graph it lives in: shapes, constants and attributes.

    Shapes are the graph's static ones, or those of `shapes` (concrete shapes of a
    specialisation) for the values it names.
    """

    def __init__(self, node: Node, graph: Graph, shapes: Mapping[str, Shape] | None = None) -> None:
        self.node = node
        self.graph = graph
        self.shapes = shapes or {}

    def known(self, name: str) -> Shape | None:
        """The concrete shape of `name`, or None when it is not known."""
        if name in self.graph.initializers:
            return tuple(self.graph.initializers[name].shape)
        if name in self.shapes:
            return self.shapes[name]
        return self.graph.value(name).static_shape

    def shape(self, name: str) -> Shape:
        s = self.known(name)
        if s is None:
            raise Unsupported("dynamic_shape", f"shape of {name!r} is not static")
        return s

    def const(self, name: str) -> np.ndarray | None:
        return self.graph.initializers.get(name)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attrs.get(name, default)

    def input(self, k: int) -> str | None:
        """Name of input k, or None when it is omitted."""
        n = self.node.inputs
        return n[k] if len(n) > k and n[k] else None


def _bad_attr(ctx: Ctx, what: str) -> Unsupported:
    return Unsupported("attribute", f"{ctx.node.op_type} {what}")


def _bad_shape(ctx: Ctx, what: str) -> Unsupported:
    return Unsupported("dynamic_shape", f"{ctx.node.op_type} {what}")


def _ints(ctx: Ctx, name: str, default: Sequence[int], length: int, minimum: int) -> list[int]:
    """Integer attribute `name` (or `default`), checked to hold `length` values, each >= `minimum`."""
    values = [int(v) for v in ctx.attr(name, default)]
    if len(values) != length:
        raise _bad_attr(ctx, f"{name}={values} must have {length} values")
    if any(v < minimum for v in values):
        raise _bad_attr(ctx, f"{name}={values} must be >= {minimum}")
    return values


def _axis(ctx: Ctx, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise _bad_attr(ctx, f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def const_input(ctx: Ctx, k: int, what: str, kind: str = "dynamic_shape") -> np.ndarray | None:
    """Input k's constant value (None when omitted); refused (as `kind`) when it is not a constant."""
    name = ctx.input(k)
    if name is None:
        return None
    arr = ctx.const(name)
    if arr is None:
        raise Unsupported(kind, f"{ctx.node.op_type} {what} {name!r} is not a constant")
    return np.asarray(arr)


def _const_ints(ctx: Ctx, k: int, what: str) -> list[int] | None:
    """The constant int input k as a list (None when omitted); refused when it is not a constant."""
    arr = const_input(ctx, k, what)
    return None if arr is None else [int(v) for v in arr.reshape(-1)]


def _same(ctx: Ctx) -> Shape:
    return ctx.shape(ctx.node.inputs[0])


def _broadcast(ctx: Ctx) -> Shape:
    shapes = [ctx.shape(i) for i in ctx.node.inputs if i]
    if int(ctx.attr("broadcast", 0)) and len(shapes) == 2:  # legacy (opset < 7): B fits into A, output is A
        return shapes[0]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise _bad_shape(ctx, f"inputs of shapes {[list(s) for s in shapes]} do not broadcast") from None


def _window(ctx: Ctx, xs: Shape, kernel: list[int], with_ceil: bool) -> list[int]:
    """Spatial output sizes of a Conv or pooling node, once its geometry attributes are checked."""
    nd = len(xs) - 2
    strides = _ints(ctx, "strides", [1] * nd, nd, 1)
    dilations = _ints(ctx, "dilations", [1] * nd, nd, 1)
    pads = _ints(ctx, "pads", [0] * (2 * nd), 2 * nd, 0)
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    ceil_mode = int(ctx.attr("ceil_mode", 0)) if with_ceil else 0
    try:
        return op_shapes.spatial_pads(list(xs[2:]), kernel, strides, dilations, pads, auto_pad,
                                      ctx.node.op_type, ceil_mode)[2]
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None


def _conv(ctx: Ctx, xi: int = 0, wi: int = 1, bi: int | None = 2) -> Shape:
    """Conv's output; QLinearConv and ConvInteger hold x, w and the bias at other positions."""
    xs, ws = ctx.shape(ctx.node.inputs[xi]), ctx.shape(ctx.node.inputs[wi])
    b = ctx.input(bi) if bi is not None else None
    group = int(ctx.attr("group", 1))
    kernel = ctx.attr("kernel_shape")
    if group < 1:
        raise _bad_attr(ctx, f"group={group} must be >= 1")
    if kernel is not None and [int(k) for k in kernel] != list(ws[2:]):
        raise _bad_attr(ctx, f"kernel_shape={list(kernel)} does not match the weight's shape {list(ws)}")
    try:
        op_shapes.check_conv_shapes(xs, ws, group, None, "Conv")
        m, _ = op_shapes.conv_channels(xs, ws, ctx.shape(b) if b else None, group)
    except ValueError as exc:
        raise Unsupported("dynamic_shape", str(exc)) from None
    if any(k < 1 for k in ws[2:]):
        raise _bad_shape(ctx, f"weight of shape {list(ws)} has an empty kernel")
    return (xs[0], m, *_window(ctx, xs, list(ws[2:]), with_ceil=False))


def _pool(ctx: Ctx) -> Shape:
    xs = ctx.shape(ctx.node.inputs[0])
    if len(xs) < 3:
        raise _bad_shape(ctx, f"input of shape {list(xs)} has no spatial axes")
    kernel = _ints(ctx, "kernel_shape", [], len(xs) - 2, 1)
    return (xs[0], xs[1], *_window(ctx, xs, kernel, with_ceil=True))


def _global_pool(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    if len(xs) < 2:
        raise _bad_shape(ctx, f"input of shape {list(xs)} has no channel axis")
    return (xs[0], xs[1]) + (1,) * (len(xs) - 2)


def _gemm(ctx: Ctx) -> Shape:
    a, b = ctx.shape(ctx.node.inputs[0]), ctx.shape(ctx.node.inputs[1])
    if len(a) != 2 or len(b) != 2:
        raise _bad_shape(ctx, f"A {list(a)} and B {list(b)} must be 2-D")
    m, k = (a[1], a[0]) if int(ctx.attr("transA", 0)) else a
    kb, n = (b[1], b[0]) if int(ctx.attr("transB", 0)) else b
    if k != kb:
        raise _bad_shape(ctx, f"A {list(a)} and B {list(b)} disagree on the inner dimension (transA/transB applied)")
    c = ctx.input(2)
    if c is not None:
        cs = ctx.shape(c)
        if len(cs) > 2 or any(d not in (1, t) for d, t in zip(reversed(cs), (n, m))):
            raise _bad_shape(ctx, f"C of shape {list(cs)} does not broadcast to [{m}, {n}]")
    return (m, n)


def _matmul(ctx: Ctx, ai: int = 0, bi: int = 1) -> Shape:
    """MatMul's output; QLinearMatMul holds b at position 3."""
    a, b = ctx.shape(ctx.node.inputs[ai]), ctx.shape(ctx.node.inputs[bi])
    if not a or not b:
        raise _bad_shape(ctx, f"inputs of shapes {list(a)} and {list(b)} must have rank >= 1")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise _bad_shape(ctx, f"inputs of shapes {list(a)} and {list(b)} disagree on the inner dimension")
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError:
        raise _bad_shape(ctx, f"batch dims of {list(a)} and {list(b)} do not broadcast") from None
    return batch + a2[-2:-1] * (len(a) > 1) + b2[-1:] * (len(b) > 1)


def _batchnorm(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    if len(xs) < 2:
        raise _bad_shape(ctx, f"input of shape {list(xs)} has no channel axis")
    for k, role in enumerate(("scale", "B", "mean", "var"), start=1):
        name = ctx.input(k)
        if name is None:
            raise _bad_shape(ctx, f"input {role} is missing")
        if ctx.shape(name) != (xs[1],):
            raise _bad_shape(ctx, f"{role} {name!r} has shape {list(ctx.shape(name))}, expected [{xs[1]}] "
                                  f"(one value per channel of the input {list(xs)})")
    return xs


def _softmax(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    _axis(ctx, int(ctx.attr("axis", 1 if schema_version(ctx.node) < 13 else -1)), len(xs))
    return xs


def _lrn(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    if int(ctx.attr("size", 0)) < 1:
        raise _bad_attr(ctx, f"size={ctx.attr('size')} must be >= 1")
    if len(xs) < 2:
        raise _bad_shape(ctx, f"input of shape {list(xs)} has no channel axis")
    return xs


def _clip(ctx: Ctx) -> Shape:
    for k in (1, 2):
        name = ctx.input(k)
        if name is not None and schema_version(ctx.node) >= 11:
            arr = ctx.const(name)
            if arr is not None and np.asarray(arr).size != 1:
                raise _bad_shape(ctx, f"bound {name!r} of shape {list(np.shape(arr))} is not a scalar")
    return _same(ctx)


def _concat(ctx: Ctx) -> Shape:
    shapes = [ctx.shape(i) for i in ctx.node.inputs if i]
    if not shapes:
        raise _bad_shape(ctx, "has no inputs")
    _axis(ctx, int(ctx.attr("axis", 1)), len(shapes[0]))
    try:
        ax = op_shapes.concat_axis(shapes, int(ctx.attr("axis", 1)))
    except ValueError as exc:
        raise Unsupported("dynamic_shape", str(exc)) from None
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    return tuple(out)


def _transpose(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    perm = [int(p) for p in ctx.attr("perm", list(range(len(xs)))[::-1])]
    if sorted(perm) != list(range(len(xs))):
        raise _bad_attr(ctx, f"perm={perm} is not a permutation of the {len(xs)} axes")
    return tuple(xs[p] for p in perm)


def _reshape(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    if schema_version(ctx.node) < 5:
        shape = [int(v) for v in ctx.attr("shape", [])]
    else:
        shape = _const_ints(ctx, 1, "shape")
        if shape is None:
            raise _bad_shape(ctx, "shape input is missing")
    try:
        return tuple(op_shapes.reshape_shape(xs, shape, int(ctx.attr("allowzero", 0))))
    except ValueError as exc:
        raise Unsupported("dynamic_shape", str(exc)) from None


def _flatten(ctx: Ctx) -> Shape:
    try:
        return op_shapes.flatten_shape(_same(ctx), int(ctx.attr("axis", 1)))
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None


def _squeeze_axes(ctx: Ctx) -> list[int] | None:
    if schema_version(ctx.node) < 13:
        axes = ctx.attr("axes")
        return None if axes is None else [int(a) for a in axes]
    return _const_ints(ctx, 1, "axes")


def _squeeze(ctx: Ctx) -> Shape:
    try:
        return tuple(op_shapes.squeeze_shape(_same(ctx), _squeeze_axes(ctx)))
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None


def _unsqueeze(ctx: Ctx) -> Shape:
    try:
        return tuple(op_shapes.unsqueeze_shape(_same(ctx), _squeeze_axes(ctx)))
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None


def _lstm(ctx: Ctx) -> dict[int, Shape]:
    """LSTM (4 gates) and GRU (3) outputs by position, once W, R, B, sequence_lens, initial_h/c and P
    agree with X and hidden_size."""
    gates = 4 if ctx.node.op_type == "LSTM" else 3
    xs, ws, rs = (ctx.shape(ctx.node.inputs[k]) for k in range(3))
    direction = ctx.attr("direction", "forward")
    dirs = 2 if (direction.decode() if isinstance(direction, bytes) else direction) == "bidirectional" else 1
    if len(xs) != 3 or len(ws) != 3 or ws[1] % gates:
        raise _bad_shape(ctx, f"X {list(xs)} and W {list(ws)} must be 3-D with W of shape "
                              f"[dirs, {gates}*hidden, input]")
    batch_first = int(ctx.attr("layout", 0)) == 1
    (batch, seq, size) = xs if batch_first else (xs[1], xs[0], xs[2])
    hidden = ws[1] // gates
    state = (batch, dirs, hidden) if batch_first else (dirs, batch, hidden)
    want = {1: (dirs, gates * hidden, size), 2: (dirs, gates * hidden, hidden), 3: (dirs, 2 * gates * hidden),
            4: (batch,), 5: state, 6: state, 7: (dirs, 3 * hidden)}
    if gates == 3:
        del want[6], want[7]
    for k, shape in want.items():
        name = ctx.input(k)
        if name is not None and ctx.shape(name) != shape:
            raise _bad_shape(ctx, f"input {k} {name!r} has shape {list(ctx.shape(name))}, expected {list(shape)}")
    y = (batch, seq, dirs, hidden) if batch_first else (seq, dirs, batch, hidden)
    return {0: y, 1: state, 2: state}


def _argmax(ctx: Ctx) -> Shape:
    """ArgMax and ArgMin: the input's shape with the axis dropped, or kept as 1 (keepdims)."""
    xs = _same(ctx)
    axis = int(ctx.attr("axis", 0))
    if not -len(xs) <= axis < len(xs):
        raise _bad_attr(ctx, f"axis {axis} is out of range for rank {len(xs)}")
    axis %= len(xs)
    return (*xs[:axis], *((1,) if int(ctx.attr("keepdims", 1)) else ()), *xs[axis + 1:])


def _expand(ctx: Ctx) -> Shape:
    """Expand: the input's shape and the constant `shape` input broadcast."""
    shape = _const_ints(ctx, 1, "shape")
    if shape is None:
        raise _bad_shape(ctx, "shape input is missing")
    try:
        return op_shapes.expand_shape(_same(ctx), shape)
    except ValueError as exc:
        raise Unsupported("dynamic_shape", str(exc)) from None


def _dynamic_quantize_lstm(ctx: Ctx) -> dict[int, Shape]:
    """com.microsoft DynamicQuantizeLSTM's outputs (layout 0), once W [dirs, input, 4*hidden], R [dirs, hidden,
    4*hidden], B, sequence_lens, initial_h/c and P agree with X."""
    xs, ws = (ctx.shape(ctx.node.inputs[k]) for k in range(2))
    dirs = 2 if _text(ctx.attr("direction", "forward")) == "bidirectional" else 1
    if len(xs) != 3 or len(ws) != 3 or ws[2] % 4:
        raise _bad_shape(ctx, f"X {list(xs)} and W {list(ws)} must be 3-D with W of shape [dirs, input, 4*hidden]")
    seq, batch, size = xs
    hidden = ws[2] // 4
    state = (dirs, batch, hidden)
    want = {1: (dirs, size, 4 * hidden), 2: (dirs, hidden, 4 * hidden), 3: (dirs, 8 * hidden), 4: (batch,),
            5: state, 6: state, 7: (dirs, 3 * hidden)}
    for k, shape in want.items():
        name = ctx.input(k)
        if name is not None and ctx.shape(name) != shape:
            raise _bad_shape(ctx, f"input {k} {name!r} has shape {list(ctx.shape(name))}, expected {list(shape)}")
    return {0: (seq, dirs, batch, hidden), 1: state, 2: state}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pad_begin_end(ctx: Ctx) -> tuple[list[int], list[int], str]:
    """Pad's signed (begin, end) per axis of the input and its mode, from attributes (< 11) or the
    constant pads / axes inputs; negative pads crop."""
    xs = _same(ctx)
    mode = _text(ctx.attr("mode", "constant"))
    if schema_version(ctx.node) < 11:
        pads, axes = [int(p) for p in ctx.attr("pads", [])], None
    else:
        pads = _const_ints(ctx, 1, "pads")
        if pads is None:
            raise _bad_shape(ctx, "pads input is missing")
        axes = _const_ints(ctx, 3, "axes")
    try:
        op_shapes.pad_widths(xs, pads, mode, axes)
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None
    axes = list(range(len(xs))) if not axes else [a + len(xs) if a < 0 else a for a in axes]
    begin, end = [0] * len(xs), [0] * len(xs)
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[i + len(axes)]
    return begin, end, mode


def _pad(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    begin, end, _ = pad_begin_end(ctx)
    out = tuple(d + b + e for d, b, e in zip(xs, begin, end))
    if any(d < 0 for d in out):
        raise _bad_attr(ctx, f"pads crop more than the input {list(xs)} holds")
    return out


def slice_plan(ctx: Ctx) -> tuple[list[int], list[int], Shape]:
    """Slice's start, step and output length per axis of the input (clamped as ONNX says)."""
    xs = _same(ctx)
    if schema_version(ctx.node) < 10:
        starts, ends = [int(v) for v in ctx.attr("starts", [])], [int(v) for v in ctx.attr("ends", [])]
        axes, steps = ctx.attr("axes"), None
        axes = None if axes is None else [int(a) for a in axes]
    else:
        starts, ends = _const_ints(ctx, 1, "starts"), _const_ints(ctx, 2, "ends")
        if starts is None or ends is None:
            raise _bad_shape(ctx, "starts or ends input is missing")
        axes, steps = _const_ints(ctx, 3, "axes"), _const_ints(ctx, 4, "steps")
    try:
        index = op_shapes.slice_index(xs, starts, ends, axes, steps)
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None
    begin, step, out = [], [], []
    for sl, dim in zip(index, xs):
        start, stop, st = sl.indices(dim)
        begin.append(start)
        step.append(st)
        out.append(len(range(start, stop, st)))
    return begin, step, tuple(out)


def _slice(ctx: Ctx) -> Shape:
    return slice_plan(ctx)[2]


def split_plan(ctx: Ctx) -> tuple[int, list[int]]:
    """Split's normalized axis and the length of each output along it."""
    xs = _same(ctx)
    axis = _axis(ctx, int(ctx.attr("axis", 0)), len(xs))
    sizes = [int(v) for v in ctx.attr("split", [])] if schema_version(ctx.node) < 13 else _const_ints(ctx, 1, "split")
    n_out = len(ctx.node.outputs)
    num_outputs = ctx.attr("num_outputs")
    if num_outputs is not None and int(num_outputs) != n_out:
        raise _bad_attr(ctx, f"num_outputs={num_outputs} but the node has {n_out} outputs")
    try:
        ax, sizes = op_shapes.split_sizes(xs, sizes, axis, n_out, uneven=num_outputs is not None)
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None
    if len(sizes) != n_out:
        raise _bad_attr(ctx, f"split sizes {sizes} do not match the node's {n_out} outputs")
    return ax, sizes


def _split(ctx: Ctx) -> dict[int, Shape]:
    xs = _same(ctx)
    ax, sizes = split_plan(ctx)
    return {k: xs[:ax] + (n,) + xs[ax + 1:] for k, n in enumerate(sizes)}


def gather_plan(ctx: Ctx) -> tuple[int, Shape]:
    """Gather's normalized axis and the shape of its indices; constant indices are checked against
    the axis here (indices computed at run time are checked by the kernel)."""
    xs = _same(ctx)
    axis = _axis(ctx, int(ctx.attr("axis", 0)), len(xs))
    name = ctx.node.inputs[1]
    arr = ctx.const(name)
    dim = xs[axis]
    if arr is not None:
        idx = np.asarray(arr)
        if idx.size and (idx.min() < -dim or idx.max() >= dim):
            raise _bad_shape(ctx, f"indices {name!r} hold values outside [-{dim}, {dim}) for axis {axis} of {list(xs)}")
    return axis, ctx.shape(name)


def _gather(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    axis, ishape = gather_plan(ctx)
    return xs[:axis] + tuple(ishape) + xs[axis + 1:]


def _layernorm(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    axis = _axis(ctx, int(ctx.attr("axis", -1)), len(xs))
    row = xs[axis:]
    for k, role in ((1, "scale"), (2, "B")):
        name = ctx.input(k)
        if name is None:
            if k == 1:
                raise _bad_shape(ctx, "input scale is missing")
            continue
        s = ctx.shape(name)
        if len(s) > len(row) or any(d != r for d, r in zip(s, row[len(row) - len(s):])) or \
                int(np.prod(s)) != int(np.prod(row)):
            raise _bad_shape(ctx, f"{role} {name!r} of shape {list(s)} does not hold one value per element of "
                                  f"the normalized axes {list(row)}")
    stats = xs[:axis] + (1,) * len(row)
    return {0: xs, 1: stats, 2: stats}


def resize_geometry(ctx: Ctx) -> tuple[Shape, list[float]]:
    """Resize's output shape and per-axis scale factors, from its constant scales or sizes."""
    xs = _same(ctx)
    if schema_version(ctx.node) < 11:
        raise Unsupported("attribute", "Resize-10 unsupported (Resize-11 and later)")
    scales_name, sizes_name = ctx.input(2), ctx.input(3)
    scales = sizes = None
    for name, what in ((scales_name, "scales"), (sizes_name, "sizes")):
        if name is None:
            continue
        arr = ctx.const(name)
        if arr is None:
            raise Unsupported("attribute", f"Resize {what} {name!r} is not a constant")
        if np.asarray(arr).size:
            if what == "scales":
                scales = np.asarray(arr, dtype=np.float32)
            else:
                sizes = np.asarray(arr, dtype=np.int64)
    axes = ctx.attr("axes")
    axes = list(range(len(xs))) if axes is None else [a + len(xs) if a < 0 else a for a in map(int, axes)]
    try:
        out, factors = op_shapes.resize_output_geometry(
            xs, scales, sizes, axes, _text(ctx.attr("keep_aspect_ratio_policy", "stretch")))
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None
    if any(not np.isfinite(f) or f <= 0 for f in factors):
        raise _bad_attr(ctx, f"scales {list(factors)} must be finite and > 0")
    return tuple(int(d) for d in out), [float(f) for f in factors]


def _resize(ctx: Ctx) -> Shape:
    return resize_geometry(ctx)[0]


def reduce_axes(ctx: Ctx) -> list[int]:
    """The sorted, normalized axes a Reduce* node reduces (attribute before ReduceSum-13 and the
    others' opset 18, constant input after; none given: all, or none with noop_with_empty_axes)."""
    xs = _same(ctx)
    since = 13 if ctx.node.op_type == "ReduceSum" else 18
    if schema_version(ctx.node) < since:
        axes = ctx.attr("axes")
        axes = None if axes is None else [int(a) for a in axes]
    else:
        axes = _const_ints(ctx, 1, "axes")
    if not axes:
        return [] if int(ctx.attr("noop_with_empty_axes", 0)) else list(range(len(xs)))
    try:
        return sorted(set(op_shapes.normalize_axes(axes, len(xs), ctx.node.op_type)))
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None


def _reduce(ctx: Ctx) -> Shape:
    xs = _same(ctx)
    axes = reduce_axes(ctx)
    keep = int(ctx.attr("keepdims", 1))
    return tuple(1 if d in axes else n for d, n in enumerate(xs) if keep or d not in axes)


def conv_transpose_plan(ctx: Ctx) -> tuple[int, list[int], op_shapes.ConvTransposeGeometry]:
    """ConvTranspose's group, kernel and geometry (strides, dilations, begin pads, output extents)."""
    xs, ws = ctx.shape(ctx.node.inputs[0]), ctx.shape(ctx.node.inputs[1])
    b = ctx.input(2)
    group = int(ctx.attr("group", 1))
    if group < 1:
        raise _bad_attr(ctx, f"group={group} must be >= 1")
    if len(xs) < 3 or len(ws) != len(xs):
        raise _bad_shape(ctx, f"X {list(xs)} and W {list(ws)} must have the same rank >= 3")
    nd = len(xs) - 2
    kernel = [int(k) for k in ws[2:]]
    if ctx.attr("kernel_shape") is not None and [int(k) for k in ctx.attr("kernel_shape")] != kernel:
        raise _bad_attr(ctx, f"kernel_shape={list(ctx.attr('kernel_shape'))} does not match the weight's shape")
    if any(k < 1 for k in kernel):
        raise _bad_shape(ctx, f"weight of shape {list(ws)} has an empty kernel")
    strides = _ints(ctx, "strides", [1] * nd, nd, 1)
    dilations = _ints(ctx, "dilations", [1] * nd, nd, 1)
    opad = _ints(ctx, "output_padding", [0] * nd, nd, 0)
    pads = ctx.attr("pads")
    if pads is not None:
        pads = _ints(ctx, "pads", [], 2 * nd, 0)
    output_shape = ctx.attr("output_shape")
    try:
        op_shapes.conv_transpose_channels(xs, ws, ctx.shape(b) if b else None, group)
        geo = op_shapes.conv_transpose_geometry(list(xs[2:]), kernel, strides, dilations, opad,
                                                None if output_shape is None else [int(v) for v in output_shape],
                                                pads, _text(ctx.attr("auto_pad", "NOTSET")))
    except ValueError as exc:
        raise Unsupported("attribute", str(exc)) from None
    return group, kernel, geo


def _conv_transpose(ctx: Ctx) -> Shape:
    xs, ws = ctx.shape(ctx.node.inputs[0]), ctx.shape(ctx.node.inputs[1])
    group, _, geo = conv_transpose_plan(ctx)
    return (xs[0], ws[1] * group, *geo.out)


_RULES: dict[str, Callable[[Ctx], Any]] = {
    "Add": _broadcast, "Sub": _broadcast, "Mul": _broadcast, "Div": _broadcast, "Sum": _broadcast,
    "Relu": _same, "LeakyRelu": _same, "Sigmoid": _same, "Tanh": _same, "Identity": _same, "Dropout": _same,
    "Clip": _clip, "LRN": _lrn, "Softmax": _softmax, "BatchNormalization": _batchnorm,
    "Conv": _conv, "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _global_pool,
    "Gemm": _gemm, "MatMul": _matmul, "Concat": _concat, "Transpose": _transpose,
    "Reshape": _reshape, "Flatten": _flatten, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "LSTM": _lstm,
    "HardSigmoid": _same, "HardSwish": _same, "Gelu": _same, "Swish": _same, "QuickGelu": _same, "Elu": _same,
    "Softplus": _same, "Erf": _same, "Sqrt": _same, "Exp": _same, "Log": _same, "Abs": _same, "Neg": _same,
    "Reciprocal": _same, "Pow": _broadcast, "Pad": _pad, "Slice": _slice, "Split": _split, "Gather": _gather,
    "LayerNormalization": _layernorm, "Resize": _resize,
    "QuantizeLinear": _same, "DequantizeLinear": _same, "QLinearConv": lambda c: _conv(c, 0, 3, 8),
    "ConvInteger": lambda c: _conv(c, 0, 1, None), "QLinearMatMul": lambda c: _matmul(c, 0, 3),
    "GRU": _lstm, "ConvTranspose": _conv_transpose, "ReduceMean": _reduce, "ReduceSum": _reduce,
    "ReduceMax": _reduce, "ReduceMin": _reduce,
    "LogSoftmax": _softmax,
    "MatMulInteger": _matmul, "Cast": _same, "DynamicQuantizeLinear": lambda c: {0: _same(c), 1: (), 2: ()},
    **{op: _broadcast for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor")},
    "Not": _same, "If": lambda c: _if(c), "Floor": _same, "Ceil": _same,
    "DynamicQuantizeLSTM": _dynamic_quantize_lstm, "Expand": _expand, "ArgMax": _argmax, "ArgMin": _argmax,
    "Where": _broadcast,
    "Constant": lambda c: np.shape(next(iter(c.node.attrs.values()), 0)),
}


#: body graphs built for If branches, per outer graph and branch (a branch is lowered several times)
_BRANCHES: weakref.WeakKeyDictionary[Graph, dict[int, Graph]] = weakref.WeakKeyDictionary()


def branch_graph(ctx: Ctx, attr: str) -> Graph:
    """If branch `attr` of `ctx.node` as a Graph: its free names typed as in the outer graph, and the
    outer constants it captures held as its own initializers (so its nodes read them as constants)."""
    body = ctx.attr(attr)
    if not isinstance(body, onnx.GraphProto):
        raise _bad_attr(ctx, f"{attr} is not a graph")
    cache = _BRANCHES.setdefault(ctx.graph, {})
    graph = cache.get(id(body))
    if graph is None or graph.proto is not body:
        graph = nested_graph(body, ctx.graph)
        for name in graph.outer_scope:
            if name in ctx.graph.initializers:
                graph.initializers.setdefault(name, ctx.graph.initializers[name])
        cache[id(body)] = graph
    return graph


def branch_shapes(ctx: Ctx, attr: str) -> tuple[Graph, dict[str, Shape]]:
    """The branch graph and the concrete shape of every value it reads or produces, propagated from
    the outer shapes (`propagate`); Unsupported names the branch and its node when one does not fit."""
    graph = branch_graph(ctx, attr)
    known = {n: ctx.shape(n) for n in graph.outer_scope if n not in graph.initializers}
    try:
        shapes = propagate(graph.nodes, graph, known)
    except Unsupported as exc:
        where = f" node {exc.node.label}" if exc.node is not None else ""
        raise Unsupported(exc.refusal.kind, f"If {attr}{where}: {exc.refusal.reason}") from None
    for name, arr in graph.initializers.items():
        shapes.setdefault(name, tuple(arr.shape))
    return graph, shapes


def _if(ctx: Ctx) -> dict[int, Shape]:
    """If's outputs: each branch output's shape, the same in both branches (one buffer serves both)."""
    got = []
    for attr in ("then_branch", "else_branch"):
        graph, shapes = branch_shapes(ctx, attr)
        outs = [o.name for o in graph.proto.output]
        if len(outs) != len(ctx.node.outputs):
            raise _bad_attr(ctx, f"{attr} has {len(outs)} outputs for the node's {len(ctx.node.outputs)}")
        missing = [o for o in outs if o not in shapes]
        if missing:
            raise _bad_shape(ctx, f"{attr} output {missing[0]!r} has no known shape")
        got.append([shapes[o] for o in outs])
    for k, (a, b) in enumerate(zip(*got)):
        if a != b:
            raise _bad_shape(ctx, f"branches give output {ctx.node.outputs[k]!r} different shapes (then {list(a)}, "
                                  f"else {list(b)}): the C code has one buffer for both")
    return dict(enumerate(got[0]))


def implied_shapes(ctx: Ctx) -> dict[str, Shape]:
    """Output name -> the shape the node's op gives for its input shapes and attributes.

    Raises Unsupported (kind `attribute` for an attribute out of range, `dynamic_shape` for inputs
    that do not fit together or shapes that are not constants) naming the op and the value.
    """
    node = ctx.node
    for name in [i for i in node.inputs if i] + [o for o in node.outputs if o]:
        if ctx.known(name) is not None:
            if any(d < 0 for d in ctx.shape(name)):
                raise _bad_shape(ctx, f"value {name!r} has a negative dim {list(ctx.shape(name))}")
            if len(ctx.shape(name)) > MAX_RANK:
                raise _bad_shape(ctx, f"value {name!r} has rank {len(ctx.shape(name))} "
                                      f"(the C kernels take <= {MAX_RANK})")
    rule = _RULES.get(node.op_type)
    if rule is None:
        raise Unsupported("op", f"{node.op_type} unsupported")
    got = rule(ctx)
    by_position = got if isinstance(got, dict) else {0: got}
    return {node.outputs[k]: tuple(int(d) for d in s) for k, s in by_position.items()
            if k < len(node.outputs) and node.outputs[k]}


def check_declared(ctx: Ctx, outputs: Sequence[str]) -> None:
    """Unsupported unless every one of `outputs` is declared with the shape its op implies."""
    implied = implied_shapes(ctx)
    for name in outputs:
        want, declared = implied.get(name), ctx.shape(name)
        if want is not None and want != declared:
            ins = ", ".join(f"{i!r} {list(ctx.shape(i))}" for i in ctx.node.inputs if i and _has_shape(ctx, i))
            raise Unsupported("dynamic_shape", f"declared shape of {name!r} is {list(declared)}, but "
                                               f"{ctx.node.op_type} gives {list(want)} for its inputs ({ins})")


def _has_shape(ctx: Ctx, name: str) -> bool:
    return ctx.known(name) is not None


def _dims(shape: Sequence[Any] | None) -> str:
    return "unknown rank" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def fits_declared(declared: Sequence[Any] | None, shape: Shape) -> bool:
    """Whether `shape` is one of the shapes `declared` (ints, symbolic names, None) allows."""
    if declared is None:
        return True
    return len(declared) == len(shape) and all(not isinstance(d, int) or d == v for d, v in zip(declared, shape))


def propagate(nodes: Sequence[Node], graph: Graph, known: Mapping[str, Shape],
              fold: Callable[[Node, dict[str, Shape]], Mapping[str, Shape] | None] | None = None) -> dict[str, Shape]:
    """Concrete shapes of every value `nodes` produce, from those of the values they read.

    `known` holds the shapes of the values coming in from outside `nodes` (constants read their
    own). Each output's shape is the one its op gives (`implied_shapes`) and must fit the dims the
    graph declares for it; a node whose inputs do not fit together, or whose output contradicts
    its declaration, raises `Unsupported` naming the node's op and the value. `fold(node, shapes)`
    may take a node instead (a shape computation evaluated into constants, `shape_values.py`),
    returning its outputs' shapes, or None to leave it to the shape rules.
    """
    shapes = dict(known)
    for node in nodes:
        ctx = Ctx(node, graph, shapes)
        try:
            implied = fold(node, shapes) if fold is not None else None
            if implied is None:
                implied = implied_shapes(ctx)
            for name, shape in implied.items():
                declared = None if name in graph.initializers else graph.value(name).shape
                if not fits_declared(declared, shape):
                    ins = ", ".join(f"{i!r} {list(ctx.shape(i))}" for i in node.inputs if i and _has_shape(ctx, i))
                    raise Unsupported("dynamic_shape", f"declared shape of {name!r} is {_dims(declared)}, but "
                                                       f"{node.op_type} gives {list(shape)} for its inputs ({ins})")
        except Unsupported as exc:
            exc.node = node
            raise
        shapes.update(implied)
    return shapes


def trial_shapes(node: Node, graph: Graph, names: Sequence[str]) -> dict[str, Shape]:
    """Stand-in shapes for the non-static values among `names`: each symbolic or unknown dim is
    `TRIAL_DIM`. Unsupported when a value's rank is unknown (no buffer can be planned for it)."""
    out = {}
    for name in names:
        if name in graph.initializers:
            continue
        shape = graph.value(name).shape
        if shape is None:
            raise Unsupported("dynamic_shape", f"rank of {name!r} is unknown")
        if any(not isinstance(d, int) for d in shape):
            out[name] = tuple(d if isinstance(d, int) else TRIAL_DIM for d in shape)
    return out
