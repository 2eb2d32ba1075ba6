"""Activation fusions (EXTENDED level): SiLU / Swish, HardSwish and GELU (erf and tanh forms).

Targets are standard ONNX ops where the model's opset has one (Swish 24, HardSwish 14, Gelu 20),
otherwise the com.microsoft ops onnxruntime's optimizer writes (QuickGelu with alpha 1, Gelu,
FastGelu); below opset 14 the HardSwish chain `x * clip(x + 3, 0, 6) / 6` becomes
`x * HardSigmoid(x)` (two standard ops instead of four). Each replacement is subject to the
placement rule (placement.py).
"""

from __future__ import annotations

import math

from onnx import helper

from ..graph import Node
from .editor import GraphEdit, fused_name

MS = "com.microsoft"
_FLOATS = ("float32", "float64", "float16")


def _close(v: float | None, want: float, rel: float = 1e-4) -> bool:
    return v is not None and abs(v - want) <= rel * abs(want)


def _is_float(edit: GraphEdit, name: str, unknown_ok: bool = False) -> bool:
    """Whether a value is a float tensor; `unknown_ok` where the matched op (Sigmoid, Erf, Tanh)
    takes only floats anyway."""
    dt = edit.dtype(name)
    return unknown_ok if dt is None else dt.name in _FLOATS


def fuse_silu(edit: GraphEdit) -> None:
    """Mul(x, Sigmoid(x)) -> Swish (opset 24) or com.microsoft QuickGelu(alpha=1)."""
    for sig in edit.graph.nodes:
        if sig.op_type != "Sigmoid" or sig.domain or sig.index in edit.removed or not sig.inputs:
            continue
        x = sig.inputs[0]
        mul = edit.only_consumer(sig.outputs[0], "Mul")
        if mul is None or edit.other(mul, sig.outputs[0]) != x or not _is_float(edit, x, unknown_ok=True):
            continue
        chain = [sig, mul]
        if not edit.closed(chain, mul.outputs[0]):
            continue
        if sig.opset >= 24:
            new = helper.make_node("Swish", [x], [mul.outputs[0]], name=fused_name(chain), alpha=1.0)
            edit.replace(chain, [new])
        else:
            new = helper.make_node("QuickGelu", [x], [mul.outputs[0]], name=fused_name(chain), domain=MS, alpha=1.0)
            edit.replace(chain, [new], {MS: 1})


def _clip_bounds(edit: GraphEdit, node: Node) -> tuple[float | None, float | None] | None:
    """A Clip's constant (min, max); None when a bound is not a known constant."""
    if node.opset < 11:
        return node.attrs.get("min"), node.attrs.get("max")
    bounds = []
    for k in (1, 2):
        name = node.inputs[k] if len(node.inputs) > k else ""
        if not name:
            bounds.append(None)
            continue
        v = edit.scalar(name)
        if v is None:
            return None
        bounds.append(v)
    return bounds[0], bounds[1]


def _times_constant(edit: GraphEdit, node: Node | None, value: str, factor: float) -> bool:
    """Whether `node` computes `value * factor` (Mul by the constant or Div by its inverse)."""
    if node is None:
        return False
    other = edit.other(node, value)
    if other is None:
        return False
    if node.op_type == "Mul":
        return _close(edit.scalar(other), factor)
    return node.op_type == "Div" and node.inputs[0] == value and _close(edit.scalar(other), 1.0 / factor)


def _hard_swish_chain(edit: GraphEdit, add: Node) -> tuple[str, list[Node]] | None:
    """(x, nodes) when `add` starts x * clip(x + 3, 0, 6) / 6 in one of its exported orders."""
    x = next((i for i in add.present_inputs if edit.const(i) is None), None)
    if x is None or edit.other(add, x) is None or not _close(edit.scalar(edit.other(add, x)), 3.0):
        return None
    clip = edit.only_consumer(add.outputs[0], "Clip")
    if clip is None or clip.inputs[0] != add.outputs[0] or _clip_bounds(edit, clip) != (0.0, 6.0):
        return None
    c = clip.outputs[0]
    nxt = edit.only_consumer(c, "Mul", "Div")
    if nxt is None:
        return None
    if nxt.op_type == "Mul" and edit.other(nxt, c) == x:  # (x * clip) / 6
        last = edit.only_consumer(nxt.outputs[0], "Mul", "Div")
        if _times_constant(edit, last, nxt.outputs[0], 1 / 6):
            return x, [add, clip, nxt, last]
        return None
    if _times_constant(edit, nxt, c, 1 / 6):  # x * (clip / 6)
        last = edit.only_consumer(nxt.outputs[0], "Mul")
        if last is not None and edit.other(last, nxt.outputs[0]) == x:
            return x, [add, clip, nxt, last]
    return None


def fuse_hard_swish(edit: GraphEdit) -> None:
    """x * HardSigmoid(x; 1/6, 1/2) and x * clip(x + 3, 0, 6) / 6 -> HardSwish (opset 14), or the
    latter -> x * HardSigmoid(x) before opset 14."""
    for node in edit.graph.nodes:
        if node.domain or node.index in edit.removed:
            continue
        if node.op_type == "HardSigmoid" and node.opset >= 14:
            x = node.inputs[0]
            if not (_close(node.attrs.get("alpha", 0.2), 1 / 6, 1e-5) and _close(node.attrs.get("beta", 0.5), 0.5)):
                continue
            mul = edit.only_consumer(node.outputs[0], "Mul")
            if mul is None or edit.other(mul, node.outputs[0]) != x or not _is_float(edit, x):
                continue
            chain = [node, mul]
        elif node.op_type == "Add" and node.opset >= 7:
            found = _hard_swish_chain(edit, node)
            if found is None or not _is_float(edit, found[0]):
                continue
            x, chain = found
        else:
            continue
        out = chain[-1].outputs[0]
        if not edit.closed(chain, out):
            continue
        if node.opset >= 14:
            edit.replace(chain, [helper.make_node("HardSwish", [x], [out], name=fused_name(chain))])
        elif node.op_type == "Add":
            hs = edit.new_value(out + "_hardsigmoid", x)
            edit.replace(chain, [
                helper.make_node("HardSigmoid", [x], [hs], name=fused_name(chain[:-1]), alpha=1 / 6, beta=0.5),
                helper.make_node("Mul", [x, hs], [out], name=chain[-1].name),
            ])


def _product(edit: GraphEdit, start: Node, x: str) -> tuple[list[Node], str] | None:
    """Follow the single-reader Mul nodes after `start` while they multiply by x or 0.5 (directly,
    or through a Mul(x, 0.5) of their own): (nodes, result) once exactly x * 0.5 was applied."""
    nodes: list[Node] = []
    value = start.outputs[0]
    seen_x = seen_half = False
    while not (seen_x and seen_half):
        mul = edit.only_consumer(value, "Mul")
        other = None if mul is None else edit.other(mul, value)
        if other is None:
            return None
        nodes.append(mul)
        if other == x and not seen_x:
            seen_x = True
        elif _close(edit.scalar(other), 0.5) and not seen_half:
            seen_half = True
        else:
            half = edit.producer(other, "Mul")
            if half is None or seen_x or seen_half or edit.other(half, x) is None \
                    or not _close(edit.scalar(edit.other(half, x)), 0.5):
                return None
            nodes.append(half)
            seen_x = seen_half = True
        value = mul.outputs[0]
    return nodes, value


def _plus_one(edit: GraphEdit, node: Node) -> Node | None:
    add = edit.only_consumer(node.outputs[0], "Add")
    if add is None or not _close(edit.scalar(edit.other(add, node.outputs[0]) or ""), 1.0):
        return None
    return add


def _erf_argument(edit: GraphEdit, erf: Node) -> tuple[str, Node] | None:
    """(x, node) when Erf reads x / sqrt(2) (a Div by sqrt 2 or a Mul by 1/sqrt 2)."""
    scale = edit.producer(erf.inputs[0], "Mul", "Div")
    if scale is None:
        return None
    for x in scale.present_inputs:
        if edit.const(x) is None and _times_constant(edit, scale, x, 1 / math.sqrt(2)):
            return x, scale
    return None


def _tanh_argument(edit: GraphEdit, tanh: Node) -> tuple[str, list[Node]] | None:
    """(x, nodes) when Tanh reads sqrt(2/pi) * (x + 0.044715 * x^3), x^3 a Pow or two Muls."""
    outer = edit.producer(tanh.inputs[0], "Mul")
    if outer is None:
        return None
    inner = next((n for n in (edit.producer(i, "Add") for i in outer.present_inputs) if n is not None), None)
    if inner is None or not _times_constant(edit, outer, inner.outputs[0], math.sqrt(2 / math.pi)):
        return None
    for x in inner.present_inputs:
        cubic = edit.producer(edit.other(inner, x) or "", "Mul")
        if cubic is None:
            continue
        cube = next((n for n in (edit.producer(i, "Pow", "Mul") for i in cubic.present_inputs) if n is not None), None)
        if cube is None or not _times_constant(edit, cubic, cube.outputs[0], 0.044715):
            continue
        if cube.op_type == "Pow" and cube.inputs[0] == x and edit.scalar(cube.inputs[1]) == 3.0:
            return x, [cube, cubic, inner, outer]
        if cube.op_type == "Mul":
            square_name = edit.other(cube, x)
            square = edit.producer(square_name or "", "Mul")
            if square is not None and list(square.inputs) == [x, x]:
                return x, [square, cube, cubic, inner, outer]
    return None


def fuse_gelu(edit: GraphEdit) -> None:
    """0.5 x (1 + erf(x / sqrt 2)) -> Gelu (opset 20) or com.microsoft Gelu; 0.5 x (1 + tanh(sqrt(2/pi)
    (x + 0.044715 x^3))) -> Gelu(approximate="tanh") (opset 20) or com.microsoft FastGelu."""
    for node in edit.graph.nodes:
        if node.domain or node.op_type not in ("Erf", "Tanh") or node.index in edit.removed:
            continue
        if node.op_type == "Erf":
            found = _erf_argument(edit, node)
            if found is None:
                continue
            x, pre = found[0], [found[1]]
        else:
            found_t = _tanh_argument(edit, node)
            if found_t is None:
                continue
            x, pre = found_t
        add = _plus_one(edit, node)
        tail = None if add is None else _product(edit, add, x)
        if tail is None or not _is_float(edit, x, unknown_ok=True):
            continue
        chain = pre + [node, add] + tail[0]
        out = tail[1]
        if not edit.closed(chain, out):
            continue
        name = fused_name([n for n in chain if n.op_type in ("Erf", "Tanh")] + [chain[-1]])
        if node.opset >= 20:
            attrs = {"approximate": "tanh"} if node.op_type == "Tanh" else {}
            edit.replace(chain, [helper.make_node("Gelu", [x], [out], name=name, **attrs)])
        else:
            op = "Gelu" if node.op_type == "Erf" else "FastGelu"
            edit.replace(chain, [helper.make_node(op, [x], [out], name=name, domain=MS)], {MS: 1})

