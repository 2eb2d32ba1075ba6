"""Whether a rewrite may replace nodes by a new one, given the session's providers.

The rule: a new node may replace a chain only when the provider that would run it is the
provider that would have run every node of the chain — the first provider, in the session's
order, whose `get_capability` claims it. So a fused op (standard or com.microsoft) appears only
where a provider claims it, and a rewrite never moves work from one provider to another (a
HardSwish the OpenCL provider lacks does not pull its Mul/HardSigmoid off the device).
Without providers nothing is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from ..graph import Graph, Node
from ..provider import ExecutionProvider
from .editor import node_from_proto


class Placement:
    """Answers `allows(new, replaced, graph)` from the providers' own capability checks."""

    def __init__(self, providers: Sequence[ExecutionProvider] | None) -> None:
        self.providers = list(providers or [])
        #: per graph (held, so that its id stays its own): node index -> first claimant
        self._cache: dict[int, tuple[Graph, dict[int, int | None]]] = {}

    def first_claimant(self, node: Node, graph: Graph) -> int | None:
        """The position of the first provider that claims `node`, None when none does."""
        for k, p in enumerate(self.providers):
            try:
                cap = p.get_capability(graph, [node])
            except Exception:  # a broken provider claims nothing (as the partitioner treats it)
                continue
            if any(c is node for c in getattr(cap, "claimed", ())):
                return k
        return None

    def _claimant_of_existing(self, node: Node, graph: Graph) -> int | None:
        known = self._cache.setdefault(id(graph), (graph, {}))[1]
        if node.index not in known:
            known[node.index] = self.first_claimant(node, graph)
        return known[node.index]

    def allows(self, new: onnx.NodeProto, replaced: Sequence[Node], graph: Graph) -> bool:
        """Whether `new` lands on the provider every node of `replaced` would have gone to."""
        if not self.providers:
            return False
        opsets = dict(graph.opsets)
        opsets.setdefault(new.domain, 1)
        target = self.first_claimant(node_from_proto(new, opsets), graph)
        return target is not None and all(self._claimant_of_existing(n, graph) == target for n in replaced)
