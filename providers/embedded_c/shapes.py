"""The output shapes each claimed node must have, from its input shapes and attributes.

The C kernels size nothing themselves: every buffer comes from the static shapes the graph
declares (value_info, shape inference). A model file is untrusted, so before a node is claimed
its attributes are checked (strides, dilations, kernel sizes >= 1, pads >= 0, axes in range,
one parameter per channel...) and the shapes its op implies for its inputs are compared with the
declared ones (`implied_shapes`); a disagreement refuses the node, naming the value, instead of
handing a kernel a buffer of the wrong size. The arithmetic is the core's (`ep_runtime.op_shapes`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ep_runtime import op_shapes
from ep_runtime.graph import Graph, Node
from ep_runtime.provider import Refusal, schema_version

Shape = tuple[int, ...]

#: EP_MAX_RANK of csrc/ep_tensor.h
MAX_RANK = 8


class Unsupported(Exception):
    """Why a node cannot run on the C kernels, as a Refusal (kind and reason)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.refusal = Refusal(kind, reason)


class Ctx:
    """One node and the graph it lives in: static shapes, constants and attributes."""

    def __init__(self, node: Node, graph: Graph) -> None:
        self.node = node
        self.graph = graph

    def shape(self, name: str) -> Shape:
        if name in self.graph.initializers:
            return tuple(self.graph.initializers[name].shape)
        s = self.graph.value(name).static_shape
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


def _const_ints(ctx: Ctx, k: int, what: str) -> list[int] | None:
    """The constant int input k as a list (None when omitted); refused when it is not a constant."""
    name = ctx.input(k)
    if name is None:
        return None
    arr = ctx.const(name)
    if arr is None:
        raise Unsupported("dynamic_shape", f"{ctx.node.op_type} {what} {name!r} is not a constant")
    return [int(v) for v in np.asarray(arr).reshape(-1)]


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


def _conv(ctx: Ctx) -> Shape:
    xs, ws = ctx.shape(ctx.node.inputs[0]), ctx.shape(ctx.node.inputs[1])
    b = ctx.input(2)
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


def _matmul(ctx: Ctx) -> Shape:
    a, b = ctx.shape(ctx.node.inputs[0]), ctx.shape(ctx.node.inputs[1])
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
    """LSTM outputs by position, once W, R, B, initial_h/c and P agree with X and hidden_size."""
    xs, ws, rs = (ctx.shape(ctx.node.inputs[k]) for k in range(3))
    direction = ctx.attr("direction", "forward")
    dirs = 2 if (direction.decode() if isinstance(direction, bytes) else direction) == "bidirectional" else 1
    if len(xs) != 3 or len(ws) != 3 or ws[1] % 4:
        raise _bad_shape(ctx, f"X {list(xs)} and W {list(ws)} must be 3-D with W of shape [dirs, 4*hidden, input]")
    batch_first = int(ctx.attr("layout", 0)) == 1
    (batch, seq, size) = xs if batch_first else (xs[1], xs[0], xs[2])
    hidden = ws[1] // 4
    state = (batch, dirs, hidden) if batch_first else (dirs, batch, hidden)
    want = {1: (dirs, 4 * hidden, size), 2: (dirs, 4 * hidden, hidden), 3: (dirs, 8 * hidden),
            5: state, 6: state, 7: (dirs, 3 * hidden)}
    for k, shape in want.items():
        name = ctx.input(k)
        if name is not None and ctx.shape(name) != shape:
            raise _bad_shape(ctx, f"input {k} {name!r} has shape {list(ctx.shape(name))}, expected {list(shape)}")
    y = (batch, seq, dirs, hidden) if batch_first else (seq, dirs, batch, hidden)
    return {0: y, 1: state, 2: state}


_RULES: dict[str, Callable[[Ctx], Any]] = {
    "Add": _broadcast, "Sub": _broadcast, "Mul": _broadcast, "Div": _broadcast, "Sum": _broadcast,
    "Relu": _same, "LeakyRelu": _same, "Sigmoid": _same, "Tanh": _same, "Identity": _same, "Dropout": _same,
    "Clip": _clip, "LRN": _lrn, "Softmax": _softmax, "BatchNormalization": _batchnorm,
    "Conv": _conv, "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _global_pool,
    "Gemm": _gemm, "MatMul": _matmul, "Concat": _concat, "Transpose": _transpose,
    "Reshape": _reshape, "Flatten": _flatten, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "LSTM": _lstm,
}


def implied_shapes(ctx: Ctx) -> dict[str, Shape]:
    """Output name -> the shape the node's op gives for its input shapes and attributes.

    Raises Unsupported (kind `attribute` for an attribute out of range, `dynamic_shape` for inputs
    that do not fit together or shapes that are not constants) naming the op and the value.
    """
    node = ctx.node
    for name in [i for i in node.inputs if i] + [o for o in node.outputs if o]:
        if name in ctx.graph.initializers or ctx.graph.value(name).static_shape is not None:
            if any(d < 0 for d in ctx.shape(name)):
                raise _bad_shape(ctx, f"value {name!r} has a negative dim {list(ctx.shape(name))}")
            if len(ctx.shape(name)) > MAX_RANK:
                raise _bad_shape(ctx, f"value {name!r} has rank {len(ctx.shape(name))} "
                                      f"(the C kernels take <= {MAX_RANK})")
    got = _RULES[node.op_type](ctx)
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
    return name in ctx.graph.initializers or ctx.graph.value(name).static_shape is not None
