"""Walks over every graph and every tensor a ModelProto holds, wherever it is nested.

Tensors live in initializers, sparse initializers (values and indices), node attributes
(TENSOR, TENSORS, SPARSE_TENSOR, SPARSE_TENSORS), the bodies of control-flow nodes (GRAPH,
GRAPHS attributes, to any depth), model-local functions (their nodes and attribute defaults)
and training-info graphs. Loading and validation both need all of them; this is the one walk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import onnx

A = onnx.AttributeProto

#: A graph-like body: a GraphProto, or a FunctionProto (nodes but no initializers).
Body = onnx.GraphProto | onnx.FunctionProto


def node_label(node: onnx.NodeProto, index: int) -> str:
    """A human name for a node proto in messages: `'conv1' (Conv)` or `#3 (Conv)` when unnamed."""
    who = repr(node.name) if node.name else f"#{index}"
    dom = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
    return f"node {who} ({dom}{node.op_type})"


def graph_label(graph: onnx.GraphProto) -> str:
    """`graph 'main'` (or `graph <unnamed>`)."""
    return f"graph {graph.name!r}" if graph.name else "graph <unnamed>"


def iter_bodies(model: onnx.ModelProto) -> Iterator[tuple[Body, str]]:
    """Every graph and function body of the model with a label saying where it sits."""
    roots: list[tuple[Body, str]] = [(model.graph, graph_label(model.graph))]
    roots += [(f, f"function {(f.domain + '.' if f.domain else '') + f.name!r}") for f in model.functions]
    for k, info in enumerate(model.training_info):
        roots.append((info.initialization, f"training_info[{k}] initialization"))
        roots.append((info.algorithm, f"training_info[{k}] algorithm"))
    for body, where in roots:
        yield from _with_subgraphs(body, where)


def _with_subgraphs(body: Body, where: str) -> Iterator[tuple[Body, str]]:
    yield body, where
    for attr, owner in body_attributes(body, where):
        for k, g in enumerate(attribute_graphs(attr)):
            suffix = f"[{k}]" if attr.type == A.GRAPHS else ""
            yield from _with_subgraphs(g, f"subgraph {attr.name!r}{suffix} of {owner}")


def body_attributes(body: Body, where: str) -> Iterator[tuple[onnx.AttributeProto, str]]:
    """The attributes held directly by a body (its nodes', and a function's defaults), with their owner's label."""
    for k, node in enumerate(body.node):
        for attr in node.attribute:
            yield attr, f"{node_label(node, k)} in {where}"
    if isinstance(body, onnx.FunctionProto):
        for attr in body.attribute_proto:
            yield attr, f"the defaults of {where}"


def attribute_graphs(attr: onnx.AttributeProto) -> Iterable[onnx.GraphProto]:
    """The graphs an attribute holds (one for GRAPH, several for GRAPHS, none otherwise)."""
    if attr.type == A.GRAPH or (attr.type == A.UNDEFINED and attr.HasField("g")):
        return [attr.g]
    if attr.type == A.GRAPHS:
        return attr.graphs
    return []


def iter_tensors(model: onnx.ModelProto) -> Iterator[tuple[onnx.TensorProto, str]]:
    """Every dense TensorProto in the model (sparse tensors' values and indices included) with a label."""
    for body, where in iter_bodies(model):
        yield from tensors_of_body(body, where)


def tensors_of_body(body: Body, where: str) -> Iterator[tuple[onnx.TensorProto, str]]:
    """The dense tensors held directly by one body (not those of its subgraphs), sparse tensors' parts included."""
    if isinstance(body, onnx.GraphProto):
        for t in body.initializer:
            yield t, f"initializer of {where}"
    for t, here, k in _attribute_fields(body, where, "t", "tensors"):
        yield t, here if k is None else f"{here} [{k}]"
    for sp, label in sparse_tensors_of_body(body, where):
        yield sp.values, f"values of {label}"
        yield sp.indices, f"indices of {label}"


def sparse_tensors_of_body(body: Body, where: str) -> Iterator[tuple[onnx.SparseTensorProto, str]]:
    """The sparse tensors held directly by one body: sparse initializers and sparse attributes."""
    if isinstance(body, onnx.GraphProto):
        for sp in body.sparse_initializer:
            yield sp, f"sparse initializer {sp.values.name!r} of {where}"
    for sp, here, k in _attribute_fields(body, where, "sparse_tensor", "sparse_tensors"):
        yield sp, f"sparse tensor in {here}" if k is None else f"sparse tensor [{k}] in {here}"


def _attribute_fields(body: Body, where: str, one: str, many: str) -> Iterator[tuple[Any, str, int | None]]:
    """What the attributes of one body hold in field `one` and list field `many`: each value with its
    attribute's label and its index in the list (None for `one`)."""
    for attr, owner in body_attributes(body, where):
        here = f"attribute {attr.name!r} of {owner}"
        if attr.HasField(one):
            yield getattr(attr, one), here, None
        for k, value in enumerate(getattr(attr, many)):
            yield value, here, k


def tensor_culprit(tensor: onnx.TensorProto, label: str) -> str:
    """Name a tensor for an error message: `tensor 'w' (initializer of graph 'g')`, or its label when unnamed."""
    return f"tensor {tensor.name!r} ({label})" if tensor.name else label
