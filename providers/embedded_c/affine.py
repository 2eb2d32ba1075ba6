"""Runs of Mul and Add by constants the embedded C provider runs as one pass: `ep_affine` (csrc/ops/affine.c),
y = x * scale + shift with one scale and shift per channel or for the whole tensor.

Models write learnable scales and shifts, and normalisations folded by hand, as a Mul then an Add by
constants (PP-LCNet's blocks: `x * s + b` after every activation): two passes over memory where one does.
This pass works on the lowered calls and their nodes (parallel lists, as `lowering.fuse_conv_activations`,
after which it runs, so a run right after a Conv is folded into the Conv's weights instead). A run is merged
when it has at least two ops, each reads the previous one's output (read by nothing else: no other node, no
body, not a graph output or in `keep`), each runs the default kernel, and each constant is finite float32
of one value or one per channel that keeps the input's shape. The scale and shift are composed in float64,
so results agree with the separate ops to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node

from .calls import F32, Call

#: the ops a run is made of, by their default kernel
AFFINE_OPS = {"Mul": "ep_mul", "Add": "ep_add"}


def _step(node: Node, x: str, graph: Graph, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) as float64 arrays of shape (1,) or (channels,) when `node` multiplies or adds `x`
    (of `shape`) by a finite float32 constant of one value, or one per channel (axis 1), keeping its shape."""
    if node.op_type not in AFFINE_OPS or len(node.inputs) != 2 or node.inputs.count(x) != 1:
        return None
    other = node.inputs[1] if node.inputs[0] == x else node.inputs[0]
    p = graph.initializers.get(other)
    rank = len(shape)
    if p is None or p.dtype != F32 or p.ndim > rank or not np.all(np.isfinite(p)):
        return None
    full = (1,) * (rank - p.ndim) + tuple(p.shape)
    if p.size != 1 and (rank < 2 or any(d != 1 for k, d in enumerate(full) if k != 1) or full[1] != shape[1]):
        return None
    v = p.astype(np.float64).reshape(-1)
    return (v, np.zeros_like(v)) if node.op_type == "Mul" else (np.ones_like(v), v)


def fuse_affine_runs(calls: Sequence[Call], nodes: Sequence[Node], graph: Graph, keep: set[str],
                     shapes: Mapping[str, Sequence[int]], vendor: Mapping[str, Any] | None = None
                     ) -> tuple[list[Call], list[Node]]:
    """The calls with each run of two or more Mul / Add by constants merged into one `ep_affine` call (the
    first op's node; the others' nodes and calls dropped) writing the run's last output."""
    vendor = vendor or {}
    calls, nodes = list(calls), list(nodes)
    sealed = set(keep) | {v.name for v in graph.outputs}
    position = {id(n): k for k, n in enumerate(nodes)}
    names = set(graph.initializers) | set(graph.values) | {c for call in calls for c in call.constants}
    dropped: set[int] = set()

    def member(node: Node, x: str) -> tuple[int, tuple[np.ndarray, np.ndarray]] | None:
        k = position.get(id(node))
        if (k is None or k in dropped or node.domain not in ("", "ai.onnx") or node.op_type in vendor
                or node.op_type not in AFFINE_OPS or calls[k].func != AFFINE_OPS[node.op_type]
                or x not in shapes or tuple(shapes.get(node.outputs[0], ())) != tuple(shapes[x])):
            return None
        step = _step(node, x, graph, shapes[x])
        return None if step is None else (k, step)

    def fresh(base: str) -> str:
        name, n = base, 0
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.add(name)
        return name

    for k in range(len(calls)):
        if k in dropped:
            continue
        x = next((i for i in nodes[k].inputs if i not in graph.initializers), None)
        first = member(nodes[k], x) if x is not None else None
        if first is None:
            continue
        scale, shift = first[1]
        chain, y = [], nodes[k].outputs[0]
        while y not in sealed:
            readers = graph.consumers.get(y, [])
            nxt = member(readers[0], y) if len(readers) == 1 else None
            if nxt is None:
                break
            j, (s, b) = nxt
            scale, shift = scale * s, shift * s + b
            chain.append(j)
            y = readers[0].outputs[0]
        if not chain:
            continue
        s_name, b_name = fresh(y + "__scale"), fresh(y + "__shift")
        calls[k] = Call("ep_affine", "affine", [("t", x), ("t", s_name), ("t", b_name), ("t", y)],
                        inputs=[x, s_name, b_name], outputs=[y],
                        constants={s_name: scale.astype(np.float32), b_name: shift.astype(np.float32)})
        dropped.update(chain)
    kept = [k for k in range(len(calls)) if k not in dropped]
    return [calls[k] for k in kept], [nodes[k] for k in kept]
