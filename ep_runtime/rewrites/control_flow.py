"""Control-flow rewrites of the BASIC level: If nodes with a constant condition inlined, and the
bodies of If / Loop / Scan (and any node with graph attributes) constant-folded.

Inside a body, a node whose inputs are all constants — the body's initializers or outer-scope
initializers it captures (never one a run can override) — is evaluated once, as at the top level;
its results become body initializers. The body is optimized at the BASIC level recursively, so
nested bodies fold as well and constant If nodes inside bodies are inlined.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from ..graph import Graph, Node, implicit_inputs, sparse_to_dense, subgraph_free_values
from .editor import rebuild, tensor

#: optimizes a (body) graph at the BASIC level
Optimizer = Callable[[Graph], Graph]


def inline_constant_ifs(graph: Graph) -> Graph:
    """Replace each If whose condition is a constant by the nodes of the branch it takes."""
    overridable = {v.name for v in graph.overridable}
    outer_names = set(graph.values) | set(graph.producer) | set(graph.initializers) | graph.outer_scope
    nodes: list[onnx.NodeProto] = []
    initializers = dict(graph.initializers)
    value_info: list[onnx.ValueInfoProto] = []
    changed = False
    for node in graph.nodes:
        inlined = None
        cond_name = node.inputs[0] if node.op_type == "If" and not node.domain and node.inputs else ""
        if cond_name and cond_name not in overridable and cond_name in graph.initializers:
            cond = graph.initializers[cond_name]
            if cond.size == 1 and cond.dtype == np.bool_:
                branch = node.attrs.get("then_branch" if bool(cond.reshape(())) else "else_branch")
                if isinstance(branch, onnx.GraphProto):
                    inlined = _inlined_branch(node, branch, outer_names, initializers)
        if inlined is None:
            nodes.append(node.proto)
            continue
        branch_nodes, branch_info = inlined
        nodes.extend(branch_nodes)
        value_info.extend(branch_info)
        changed = True
    if not changed:
        return graph
    return rebuild(graph, nodes, initializers, value_info=value_info)


def _inlined_branch(node: Node, branch: onnx.GraphProto, outer_names: set[str],
                    initializers: dict[str, np.ndarray]) -> tuple[list[onnx.NodeProto], list] | None:
    """The branch's nodes writing the If's outputs (renamed, or through an Identity) and its value
    infos, its initializers added to `initializers`; None when a name the branch defines is also
    used outside it (internal names are not renamed)."""
    if len(branch.output) != len(node.outputs) or branch.input:
        return None
    defined = {o for n in branch.node for o in n.output if o} | {t.name for t in branch.initializer}
    defined |= {s.values.name for s in branch.sparse_initializer}
    if defined & outer_names:
        return None
    outer_names |= defined
    for t in branch.initializer:
        initializers[t.name] = numpy_helper.to_array(t)
    for sp in branch.sparse_initializer:
        initializers[sp.values.name] = sparse_to_dense(sp)
    # a branch output a branch node makes is renamed to the If's output; others get an Identity
    produced = {o for n in branch.node for o in n.output if o}
    nested_reads = {i for n in branch.node for i in implicit_inputs(n)}
    names = [o.name for o in branch.output]
    rename = {inner: outer for inner, outer in zip(names, node.outputs)
              if outer and inner in produced and inner not in nested_reads and names.count(inner) == 1}
    out = []
    for n in branch.node:
        if rename and any(v in rename for v in list(n.input) + list(n.output)):
            n = _renamed(n, rename)
        out.append(n)
    for k, (inner, outer) in enumerate(zip(names, node.outputs)):
        if outer and inner not in rename:
            out.append(onnx.helper.make_node("Identity", [inner], [outer], name=f"{node.name or 'If'}/output{k}"))
    info = [vi for vi in branch.value_info if vi.name not in rename]
    info += [o for o in branch.output if o.name in defined and o.name not in rename]
    return out, info


def _renamed(node: onnx.NodeProto, rename: dict[str, str]) -> onnx.NodeProto:
    new = onnx.NodeProto()
    new.CopyFrom(node)
    del new.input[:]
    new.input.extend(rename.get(i, i) for i in node.input)
    del new.output[:]
    new.output.extend(rename.get(o, o) for o in node.output)
    return new


def fold_bodies(graph: Graph, optimize_body: Optimizer) -> Graph:
    """Optimize every body graph of every node (BASIC level, outer constants visible)."""
    overridable = {v.name for v in graph.overridable}
    outer_constants = {k: v for k, v in graph.initializers.items() if k not in overridable}
    nodes: list[onnx.NodeProto] = []
    changed = False
    for node in graph.nodes:
        proto = node.proto
        new_attrs = []
        touched = False
        for a in proto.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                body = _folded_body(a.g, graph, outer_constants, optimize_body)
                touched |= body is not a.g
                new_attrs.append(onnx.helper.make_attribute(a.name, body) if body is not a.g else a)
            elif a.type == onnx.AttributeProto.GRAPHS:
                bodies = [_folded_body(g, graph, outer_constants, optimize_body) for g in a.graphs]
                if any(b is not g for b, g in zip(bodies, a.graphs)):
                    touched = True
                    new_attrs.append(onnx.helper.make_attribute(a.name, bodies))
                else:
                    new_attrs.append(a)
            else:
                new_attrs.append(a)
        if touched:
            proto = onnx.NodeProto()
            proto.CopyFrom(node.proto)
            del proto.attribute[:]
            proto.attribute.extend(new_attrs)
            changed = True
        nodes.append(proto)
    if not changed:
        return graph
    return rebuild(graph, nodes, dict(graph.initializers))


def _folded_body(body: onnx.GraphProto, parent: Graph, outer_constants: dict[str, np.ndarray],
                 optimize_body: Optimizer) -> onnx.GraphProto:
    """The body optimized, or the same proto when nothing changed."""
    produced = {o for n in body.node for o in n.output if o}
    free = [f for f in subgraph_free_values(body) if f not in produced]
    captured = {f: outer_constants[f] for f in free if f in outer_constants}
    graph = Graph(body, parent.opsets, functions=parent.functions, outer_scope=free)
    own = set(graph.initializers)
    graph.initializers.update(captured)  # visible to the folding, written back only if the body's own
    for name in free:
        if name not in graph.values or graph.values[name].kind == "unknown":
            graph.values[name] = parent.value(name)
    result = optimize_body(graph)
    if result is graph:
        return body
    new = onnx.GraphProto()
    new.CopyFrom(result.proto)
    del new.initializer[:]
    del new.sparse_initializer[:]
    new.initializer.extend(tensor(k, v) for k, v in result.initializers.items()
                           if k not in captured or k in own)
    return new
