"""Control flow: If, Loop, Scan. Body graphs are compiled once per node on the CPU provider."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from ep_runtime.graph import Graph, Node
from ep_runtime.provider import ExecutionProvider, Refusal
from ep_runtime.subgraph import SubgraphRunner, subgraph_refusal

from .registry import kernel


def _bodies_supported(*attrs: str):
    """A `supports` check: every body graph named by `attrs` must run entirely on the CPU."""

    def check(node: Node, graph: Graph) -> Refusal | None:
        from . import CPUExecutionProvider

        provider = CPUExecutionProvider()
        for a in attrs:
            body = node.attrs.get(a)
            if isinstance(body, onnx.GraphProto):
                why = subgraph_refusal(provider, body, graph)
                if why is not None:
                    return why
        return None

    return check


@kernel("If", since=1, factory=True, multi_output=True, supports=_bodies_supported("then_branch", "else_branch"))
def If(*, then_branch: onnx.GraphProto, else_branch: onnx.GraphProto, _graph: Graph,
       _provider: ExecutionProvider):
    """If-1/11/13/16/19/21/23: run one branch on the outer-scope values it captures."""
    then_run = SubgraphRunner(then_branch, _graph, _provider)
    else_run = SubgraphRunner(else_branch, _graph, _provider)

    def run(cond: np.ndarray, *, _outer: dict[str, Any] | None = None) -> list[Any]:
        if np.size(cond) != 1:
            raise ValueError(f"If: condition must hold one element, got shape {np.shape(cond)}")
        branch = then_run if bool(np.asarray(cond).reshape(-1)[0]) else else_run
        return branch([], _outer or {})

    return run
