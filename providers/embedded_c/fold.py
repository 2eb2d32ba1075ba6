"""Conv chains the embedded C provider runs as one Conv call: a per-channel scale and shift after it (Mul and
Add by constants) folded into its weights and bias, and the gated activations written as two nodes
(`x * HardSigmoid(x)`, `x * Sigmoid(x)`, a Conv's output read by the gate and by the Mul) applied by
`ep_conv_act` to each block of outputs while it is in cache, and a residual Add after the Conv (and its
activation) by `ep_conv_act_add`.

Both passes work on the lowered calls and their nodes (parallel lists, as `lowering.fuse_conv_activations`)
and leave a Conv alone when a vendor kernel replaces it or one of the ops folded into it, or when a value the
chain would swallow has another reader (another node, a body, a graph output, `keep`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.optimize import fold_affine_into_conv

from .calls import F32, Call

#: conv.h's EP_CONV_ACT_MUL_HARD_SIGMOID and EP_CONV_ACT_MUL_SIGMOID, by the gate's op
GATE_ACTIVATIONS = {"HardSigmoid": 8, "Sigmoid": 9}


class _Chains:
    """The calls and nodes being rewritten, with the lookups both passes share."""

    def __init__(self, calls: Sequence[Call], nodes: Sequence[Node], graph: Graph, keep: set[str],
                 vendor: Mapping[str, Any]) -> None:
        self.calls, self.nodes, self.graph, self.vendor = list(calls), list(nodes), graph, vendor
        self.sealed = set(keep) | {v.name for v in graph.outputs}
        self.position = {id(n): k for k, n in enumerate(self.nodes)}
        self.dropped: set[int] = set()
        self.names = set(graph.initializers) | set(graph.values) | {c for call in calls for c in call.constants}

    def readers(self, value: str) -> list[Node] | None:
        """The nodes reading `value`, or None when something outside the calls may read it."""
        if value in self.sealed:
            return None
        return list(self.graph.consumers.get(value, []))

    def index(self, node: Node, func: str) -> int | None:
        """The position of `node`'s call when it runs the default kernel `func`, is standard ONNX and not dropped."""
        k = self.position.get(id(node))
        if (k is None or k in self.dropped or node.domain not in ("", "ai.onnx") or node.op_type in self.vendor
                or self.calls[k].func != func):
            return None
        return k

    def conv(self, k: int) -> bool:
        return self.calls[k].func == "ep_conv" and self.nodes[k].op_type == "Conv" and k not in self.dropped

    def fresh(self, base: str) -> str:
        name, n = base, 0
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def result(self) -> tuple[list[Call], list[Node]]:
        kept = [k for k in range(len(self.calls)) if k not in self.dropped]
        return [self.calls[k] for k in kept], [self.nodes[k] for k in kept]


def _channel_affine(ch: _Chains, node: Node, x: str, rank: int, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) per output channel (float64, shape (channels,) or ()) when `node` is a Mul or Add of
    `x` by a float32 constant of one value, or one per channel, that keeps x's shape."""
    if node.op_type not in ("Mul", "Add") or node.opset < 7 or len(node.inputs) != 2:
        return None
    others = [i for i in node.inputs if i != x]
    p = ch.graph.initializers.get(others[0]) if len(others) == 1 else None
    if p is None or p.dtype != F32 or p.ndim > rank:
        return None
    full = (1,) * (rank - p.ndim) + tuple(p.shape)
    if any(d != 1 for k, d in enumerate(full) if k != 1) or full[1] not in (1, channels):
        return None
    v = p.astype(np.float64).reshape(-1)
    if node.op_type == "Mul":
        return v, np.zeros_like(v)
    return np.ones_like(v), v


def fold_conv_affine(calls: Sequence[Call], nodes: Sequence[Node], graph: Graph, keep: set[str],
                     vendor: Mapping[str, Any] | None = None) -> tuple[list[Call], list[Node]]:
    """The calls with each Conv (constant weights and bias) whose output alone feeds a run of Mul / Add by
    per-channel or scalar constants replaced by one Conv with those folded into new weights and bias
    (`ep_runtime.optimize.fold_affine_into_conv`, in float64); the run's calls are dropped and the Conv
    writes the run's last output. Results agree with the separate ops to float32 rounding."""
    vendor = vendor or {}
    ch = _Chains(calls, nodes, graph, keep, vendor)
    if "Conv" in vendor:
        return ch.result()
    for k in range(len(ch.calls)):
        if not ch.conv(k):
            continue
        call, node = ch.calls[k], ch.nodes[k]
        w = graph.initializers.get(node.inputs[1])
        b_name = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        b = graph.initializers.get(b_name) if b_name else None
        if w is None or w.dtype != F32 or w.ndim < 3 or (b_name and (b is None or b.dtype != F32)):
            continue
        y, scale, shift, chain = node.outputs[0], np.ones(()), np.zeros(()), []
        while True:
            readers = ch.readers(y)
            if not readers or len(readers) != 1:
                break
            j = ch.index(readers[0], "ep_" + readers[0].op_type.lower())
            step = _channel_affine(ch, readers[0], y, w.ndim, w.shape[0]) if j is not None else None
            if step is None:
                break
            scale, shift = scale * step[0], shift * step[0] + step[1]
            chain.append(j)
            y = readers[0].outputs[0]
        if not chain:
            continue
        new_w, new_b = fold_affine_into_conv(w, b, scale, shift)
        w_name = ch.fresh(node.inputs[1] + "__folded")
        nb_name = ch.fresh((b_name or node.outputs[0] + "_bias") + "__folded")
        swap = {("t", node.inputs[1]): ("t", w_name), ("t", b_name): ("t", nb_name), ("t", node.outputs[0]): ("t", y)}
        args = [swap.get(a, a) if a[0] == "t" else a for a in call.args]
        inputs = [w_name if i == node.inputs[1] else nb_name if i == b_name else i for i in call.inputs]
        if b_name is None:
            inputs.insert(2, nb_name)
        ch.calls[k] = Call(call.func, call.source, args, call.scratch, inputs, [y], call.shared,
                           constants={**call.constants, w_name: new_w, nb_name: new_b})
        ch.dropped.update(chain)
    return ch.result()


def fuse_conv_gates(calls: Sequence[Call], nodes: Sequence[Node], graph: Graph, keep: set[str],
                    vendor: Mapping[str, Any] | None = None) -> tuple[list[Call], list[Node]]:
    """The calls with each Conv whose output is read only by a HardSigmoid or Sigmoid and by a Mul of the
    output with that gate (the gate's output read by nothing else) merged into one `ep_conv_act` call
    (EP_CONV_ACT_MUL_HARD_SIGMOID / EP_CONV_ACT_MUL_SIGMOID) writing the Mul's output. Results are bitwise
    the three calls'."""
    vendor = vendor or {}
    ch = _Chains(calls, nodes, graph, keep, vendor)
    if "Conv" in vendor:
        return ch.result()
    for k in range(len(ch.calls)):
        if not ch.conv(k):
            continue
        y = ch.calls[k].outputs[0]  # the last output of a folded scale and shift
        readers = ch.readers(y)
        if not readers or len(readers) != 2:
            continue
        gates = [r for r in readers if r.op_type in GATE_ACTIVATIONS and r.inputs[0] == y]
        if len(gates) != 1:
            continue
        gate = gates[0]
        mul = next(r for r in readers if r is not gate)
        g_out = gate.outputs[0]
        if mul.op_type != "Mul" or sorted(mul.inputs) != sorted([y, g_out]) or ch.readers(g_out) != [mul]:
            continue
        j = ch.index(gate, "ep_" + gate.op_type.lower())
        m = ch.index(mul, "ep_mul")
        if j is None or m is None:
            continue
        params = [v for kind, v in ch.calls[j].args if kind == "f32"] + [0.0, 0.0]
        call = ch.calls[k]
        out = mul.outputs[0]
        args = [(a if a != ("t", y) else ("t", out)) for a in call.args]
        ch.calls[k] = Call("ep_conv_act", call.source,
                           args + [("i32", GATE_ACTIVATIONS[gate.op_type]), ("f32", params[0]), ("f32", params[1])],
                           call.scratch, list(call.inputs), [out], call.shared, constants=dict(call.constants))
        ch.dropped.update((j, m))
    return ch.result()


def _same_static_shape(graph: Graph, a: str, b: str) -> bool:
    """Whether values a and b are declared with the same shape, every dim known or named alike."""
    sa, sb = graph.value(a).shape, graph.value(b).shape
    if a in graph.initializers:
        sa = tuple(graph.initializers[a].shape)
    return sa is not None and sb is not None and tuple(sa) == tuple(sb) and all(d is not None for d in sa)


def fuse_conv_residual(calls: Sequence[Call], nodes: Sequence[Node], graph: Graph, keep: set[str],
                       vendor: Mapping[str, Any] | None = None) -> tuple[list[Call], list[Node]]:
    """The calls with each Conv (`ep_conv` or `ep_conv_act`) whose output only an Add reads, adding a value
    of the same declared shape that is ready before the Conv runs (a residual), merged into one
    `ep_conv_act_add` call writing the Add's output: the residual is added after the activation, to each
    block of outputs while it is in cache. Results are bitwise the two calls'."""
    vendor = vendor or {}
    ch = _Chains(calls, nodes, graph, keep, vendor)
    if "Conv" in vendor:
        return ch.result()
    made = {o: k for k, c in enumerate(ch.calls) for o in c.outputs}
    for k in range(len(ch.calls)):
        call = ch.calls[k]
        if call.func not in ("ep_conv", "ep_conv_act") or ch.nodes[k].op_type != "Conv" or k in ch.dropped:
            continue
        y = call.outputs[0]
        readers = ch.readers(y)
        if not readers or len(readers) != 1 or readers[0].op_type != "Add" or readers[0].opset < 7:
            continue
        add = readers[0]
        j = ch.index(add, "ep_add")
        others = [i for i in add.inputs if i != y]
        if j is None or len(add.inputs) != 2 or len(others) != 1:
            continue
        r = others[0]
        ready = made.get(r, -1) < k
        if not ready or not _same_static_shape(graph, r, y) or not _same_static_shape(graph, y, add.outputs[0]):
            continue
        act = [] if call.func == "ep_conv_act" else [("i32", 0), ("f32", 0.0), ("f32", 0.0)]
        args = [(a if a != ("t", y) else ("t", add.outputs[0])) for a in call.args] + act + [("t", r)]
        ch.calls[k] = Call("ep_conv_act_add", call.source, args, call.scratch, list(call.inputs) + [r],
                           list(ch.calls[j].outputs), call.shared, constants=dict(call.constants))
        ch.dropped.add(j)
        for o in ch.calls[k].outputs:
            made[o] = k
    return ch.result()
