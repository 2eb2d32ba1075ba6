"""Copies into the subgraph's outputs made free: the producer writes the output itself.

An `ep_identity` call (Identity, and Reshape / Flatten / Squeeze / Unsqueeze / inference Dropout of the same
shape) that copies an intermediate into an output of the subgraph costs a pass over the whole tensor (yolov5's
three heads end in one each). The arena planner already shares a block between such a copy's input and output
when both are intermediates (`codegen._in_place_copies`), but an output lives in the caller's buffer, so here
the call that produces the intermediate writes the output directly and the copy is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ep_runtime.graph import Graph, Node

from .calls import Call, value_dtype


def _renamed(args: list[tuple[str, Any]], old: str, new: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for kind, value in args:
        if kind == "t" and value == old:
            value = new
        elif kind == "ts":
            value = [new if v == old else v for v in value]
        out.append((kind, value))
    return out


def elide_output_copies(calls: Sequence[Call], nodes: Sequence[Node], graph: Graph, keep: set[str],
                        shapes: Mapping[str, Sequence[int]], vendor: Mapping[str, Any] | None = None
                        ) -> tuple[list[Call], list[Node]]:
    """The calls with each copy of an intermediate X into an output O (in `keep`) dropped, X's producer writing
    O instead (its node stays; the copy's node goes).

    Taken only when the copy runs the default kernel (its op not in `vendor`); X and O have the same shape and
    element type (the producer's descriptor then describes O as well); X is written by one call of `calls`, not
    an If, and read by nothing else in the graph (no other node, no If branch), nor kept, nor a graph output;
    and O is written by the copy alone and read by no call of `calls`. Results are bitwise the same."""
    vendor = vendor or {}
    graph_outputs = {v.name for v in graph.outputs}
    writers: dict[str, list[int]] = {}
    readers: dict[str, int] = {}
    for k, call in enumerate(calls):
        for o in call.outputs:
            writers.setdefault(o, []).append(k)
        for i in call.inputs:
            readers[i] = readers.get(i, 0) + 1
    rewritten: dict[int, Call] = {}
    dropped: set[int] = set()
    for k, (call, node) in enumerate(zip(calls, nodes)):
        if call.func != "ep_identity" or node.op_type in vendor or len(call.inputs) != 1 or len(call.outputs) != 1:
            continue
        x, o = call.inputs[0], call.outputs[0]
        w = writers.get(x, [])
        if (o not in keep or x in keep or x in graph_outputs or len(w) != 1 or w[0] in dropped
                or writers.get(o) != [k] or readers.get(o, 0) or readers.get(x, 0) != 1
                or len(graph.consumers.get(x, [])) != 1 or tuple(shapes.get(x, ())) != tuple(shapes.get(o, ()))
                or x not in shapes or value_dtype(graph, x) != value_dtype(graph, o)):
            continue
        j = w[0]
        producer = rewritten.get(j, calls[j])
        if producer.branches or j in dropped:
            continue
        rewritten[j] = Call(producer.func, producer.source, _renamed(producer.args, x, o), producer.scratch,
                            list(producer.inputs), [o if v == x else v for v in producer.outputs], producer.shared,
                            constants=producer.constants)
        dropped.add(k)
    kept = [k for k in range(len(calls)) if k not in dropped]
    return [rewritten.get(k, calls[k]) for k in kept], [nodes[k] for k in kept]
