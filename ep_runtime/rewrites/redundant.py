"""Redundant node elimination (BASIC level): Identity, inference Dropout and Cast to the type a
value already has are dropped, their readers reading the input instead.

A node is kept when its output is a graph output (the name must stay), when a body graph reads
the output (renaming would have to reach into the body), or when a Dropout may be in training
mode or its mask is used.
"""

from __future__ import annotations

import onnx

from ..graph import Graph, Node
from .editor import rebuild


def eliminate_redundant_nodes(graph: Graph) -> Graph:
    """The graph without no-op nodes, or `graph` itself when there are none."""
    outputs = {o.name for o in graph.outputs}
    implicit = {i for n in graph.nodes for i in n.implicit_inputs}
    rename: dict[str, str] = {}
    dropped: set[int] = set()
    for node in graph.nodes:
        if node.domain or not node.inputs or not node.inputs[0] or not node.outputs or not node.outputs[0]:
            continue
        out = node.outputs[0]
        if out in outputs or out in implicit or not _is_noop(node, graph):
            continue
        src = node.inputs[0]
        rename[out] = rename.get(src, src)
        dropped.add(node.index)
    if not dropped:
        return graph
    nodes: list[onnx.NodeProto] = []
    for node in graph.nodes:
        if node.index in dropped:
            continue
        if any(i in rename for i in node.inputs):
            proto = onnx.NodeProto()
            proto.CopyFrom(node.proto)
            del proto.input[:]
            proto.input.extend(rename.get(i, i) for i in node.inputs)
            nodes.append(proto)
        else:
            nodes.append(node.proto)
    return rebuild(graph, nodes, dict(graph.initializers))


def _is_noop(node: Node, graph: Graph) -> bool:
    if node.op_type == "Identity":
        return graph.value(node.inputs[0]).kind in ("tensor", "unknown") and len(node.outputs) == 1
    if node.op_type == "Dropout":
        if node.opset < 7 or any(o and graph.consumers.get(o) for o in node.outputs[1:]):
            return False
        if any(o in {g.name for g in graph.outputs} for o in node.outputs[1:] if o):
            return False
        training = node.inputs[2] if len(node.inputs) > 2 else ""
        if not training:
            return True
        value = graph.initializers.get(training)
        overridable = {v.name for v in graph.overridable}
        return value is not None and training not in overridable and value.size == 1 and not bool(value.reshape(()))
    if node.op_type == "Cast" and len(node.outputs) == 1:
        src, dst = graph.value(node.inputs[0]).dtype, graph.value(node.outputs[0]).dtype
        to = node.attrs.get("to")
        return src is not None and to is not None and dst == src and onnx.helper.tensor_dtype_to_np_dtype(to) == src
    return False
