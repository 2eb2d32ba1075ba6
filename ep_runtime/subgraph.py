"""Nested graphs of control-flow nodes (If, Loop, Scan, SequenceMap): compiled once, run per call.

A body graph runs on the provider that runs its node. It reads its own inputs plus the
outer-scope values it captures; the executor hands those to the node as `_outer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx

from .graph import Graph, Node, SubGraph, subgraph_free_values
from .provider import DEFAULT_COMPILE_OPTIONS, ExecutionProvider, Refusal, compile_subgraph, compiling_options
from .run_options import check_cancelled


def nested_graph(body: onnx.GraphProto, parent: Graph) -> Graph:
    """The body as a Graph whose free names are outer-scope values typed as in `parent`; those that are
    constants of `parent` (or of a graph enclosing it) are its `outer_constants`."""
    free = subgraph_free_values(body)
    constants = [name for name in free if (name in parent.initializers or name in parent.outer_constants)
                 and parent.is_constant(name)]
    graph = Graph(body, parent.opsets, functions=parent.functions, outer_scope=free, outer_constants=constants)
    for name in free:
        if name not in graph.values:
            graph.values[name] = parent.value(name)
    return graph


def subgraph_refusal(provider: ExecutionProvider, body: onnx.GraphProto, parent: Graph) -> Refusal | None:
    """Why `provider` cannot run every node of `body` (the first refused node), or None."""
    try:
        graph = nested_graph(body, parent)
    except Exception as exc:
        return Refusal("attribute", f"invalid body graph {body.name!r}: {exc}")
    cap = provider.get_capability(graph, graph.nodes)
    for node in graph.nodes:
        if node.index in cap.refused:
            return Refusal(cap.refused[node.index].kind,
                           f"body graph node {node.label} unsupported: {cap.refused[node.index].reason}")
    return None


def _body_label(owner: Node | None, body: onnx.GraphProto) -> str:
    """How a profile names a body: the owner's attribute holding it (`body`, `then_branch`), else its name."""
    attr = next((k for k, v in (owner.attrs if owner is not None else {}).items() if v is body), None)
    return attr or body.name or "body"


class SubgraphRunner:
    """A body graph compiled on one provider: `runner(inputs, outer) -> list of outputs`.

    `inputs` are the body's formal inputs in order; `outer` maps captured names to values;
    `owner` is the control-flow node, named when a run is cancelled here. Every call is a
    cancellation checkpoint (`run_options.check_cancelled`), so a Loop or Scan stops between
    iterations once its run is terminated or times out. Compiled while a subgraph compiles (a
    control-flow kernel's factory), it takes that subgraph's CompileOptions: the same optimization
    level, and its nodes' profile events nested under `owner` (`<owner>/<body name>/<node>`).
    """

    def __init__(self, body: onnx.GraphProto, parent: Graph, provider: ExecutionProvider,
                 owner: Node | None = None) -> None:
        graph = nested_graph(body, parent)
        why = subgraph_refusal(provider, body, parent)
        if why is not None:
            raise ValueError(f"{provider.name} cannot run body graph {body.name!r}: {why.reason}")
        self.graph = graph
        self.input_names = [i.name for i in body.input]
        self.output_names = [o.name for o in body.output]
        self.outer_names = sorted(graph.outer_scope)
        produced = {o for n in graph.nodes for o in n.outputs if o}
        available = produced | set(self.input_names) | set(self.outer_names)
        self._constants = {o: graph.initializers[o] for o in self.output_names
                           if o not in available and o in graph.initializers}
        computed = [o for o in self.output_names if o not in self._constants]
        options = (compiling_options() or DEFAULT_COMPILE_OPTIONS).for_body(owner, _body_label(owner, body),
                                                                             graph.nodes)
        sg = SubGraph(-1, provider.name, graph.nodes, self.input_names + self.outer_names, computed,
                      dict(graph.initializers), set(), graph)
        self._fn = compile_subgraph(provider, sg, options)
        self._computed = computed
        self._checkpoint = f"before a call of body graph {body.name!r}" + (f" of node {owner.label}" if owner else "")

    def __call__(self, inputs: Sequence[Any], outer: dict[str, Any]) -> list[Any]:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"body graph takes {len(self.input_names)} inputs {self.input_names}, "
                             f"got {len(inputs)}")
        check_cancelled(self._checkpoint)
        results = self._fn(*inputs, *[outer[n] for n in self.outer_names])
        if not self._constants:
            return list(results)
        values = dict(zip(self._computed, results))
        return [values[o] if o in values else self._constants[o] for o in self.output_names]
