"""The partitioner: capabilities -> assignment -> cycle-free subgraphs -> device copies, explained."""

from __future__ import annotations

import heapq
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NotImplementedByAnyProvider, ProviderError
from .graph import Graph, Node, SubGraph
from .host_inputs import SHAPE_OPS, host_input_positions, metadata_input_positions
from .partition_view import to_dot, to_html, to_svg
from .plugins import PluginWarning
from .provider import HOST, Capability, ExecutionProvider, Refusal, direct_copier

#: where a value read only for its shape may be: any device will do
ANY = "any"
_SMALL_CONST = 64


@dataclass
class NodeDecision:
    """Where one node went and why every provider before it refused it."""

    node: Node
    provider: str | None = None
    subgraph: int | None = None
    refusals: dict[str, Refusal] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Copy:
    """One planned transfer of a value between devices, made once per run before a subgraph."""

    value: str
    src: str
    dst: str
    before_subgraph: int
    #: between two devices: whether one of the providers copies directly (else through the host)
    direct: bool = False


@dataclass
class Partition:
    """The partitioner's result: node -> provider, refusals, subgraphs in run order, copies."""

    providers: list[str]
    decisions: list[NodeDecision]
    subgraphs: list[SubGraph]
    copies: list[Copy]
    #: per subgraph index: input value -> where it must be (a device, or "any" for shape-only uses)
    placement: dict[int, dict[str, str]]
    devices: dict[str, str]
    #: the session's ValidationReport when validation mode is on (filled in as runs happen), else None
    validation: Any = None

    def assignment(self) -> dict[str, str | None]:
        """Node name (or `#index` when unnamed) -> provider name."""
        return {_key(d.node): d.provider for d in self.decisions}

    def nodes_on(self, provider: str) -> list[Node]:
        """The nodes assigned to the named provider, in topological order."""
        return [d.node for d in self.decisions if d.provider == provider]

    def to_dict(self) -> dict[str, Any]:
        """The whole explanation as plain data (JSON-serialisable)."""
        return {
            "providers": list(self.providers),
            "nodes": [
                {
                    "node": _key(d.node), "op_type": d.node.op_type, "domain": d.node.domain,
                    "provider": d.provider, "subgraph": d.subgraph,
                    "refusals": {p: {"kind": r.kind, "reason": r.reason} for p, r in d.refusals.items()},
                    "notes": list(d.notes),
                }
                for d in self.decisions
            ],
            "subgraphs": [
                {"index": s.index, "provider": s.provider, "nodes": [_key(n) for n in s.nodes],
                 "inputs": list(s.inputs), "outputs": list(s.outputs)}
                for s in self.subgraphs
            ],
            "copies": [
                {"value": c.value, "from": c.src, "to": c.dst, "before_subgraph": c.before_subgraph,
                 "direct": c.direct}
                for c in self.copies
            ],
            **({"validation": self.validation.to_dict()} if self.validation is not None else {}),
        }

    def explain(self) -> str:
        """A readable table: every node with its provider, subgraph and the refusals before it."""
        rows = [("node", "op", "provider", "sg", "refused by (reason)")]
        for d in self.decisions:
            why = "; ".join(f"{p}: {r}" for p, r in d.refusals.items())
            if d.notes:
                why = "; ".join([why, *d.notes]) if why else "; ".join(d.notes)
            rows.append((_key(d.node), d.node.op_type, d.provider or "-",
                         "-" if d.subgraph is None else str(d.subgraph), why))
        widths = [min(40, max(len(r[i]) for r in rows)) for i in range(4)]
        lines = ["  ".join(c[:40].ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
        counts: dict[str, int] = defaultdict(int)
        for d in self.decisions:
            counts[d.provider or "unassigned"] += 1
        lines.append("")
        lines.append("nodes per provider: " + ", ".join(f"{p}={n}" for p, n in counts.items()))
        lines.append(f"subgraphs: {len(self.subgraphs)}")
        for s in self.subgraphs:
            lines.append(f"  [{s.index}] {s.provider}: {len(s.nodes)} nodes, "
                         f"{len(s.inputs)} inputs, {len(s.outputs)} outputs")
        lines.append(f"device copies per run: {len(self.copies)}")
        for c in self.copies:
            route = "" if HOST in (c.src, c.dst) else ", direct" if c.direct else ", through the host"
            lines.append(f"  {c.value}: {c.src} -> {c.dst} (before subgraph {c.before_subgraph}{route})")
        if self.validation is not None:
            lines.append("")
            lines.append(self.validation.explain())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()

    def to_svg(self) -> str:
        """The graph as an SVG picture coloured by provider, copies as marked edges, refusals as tooltips."""
        return to_svg(self)

    def to_html(self, title: str = "ep-runtime partition") -> str:
        """A self-contained HTML page: the SVG picture and tables of refusals and device copies."""
        return to_html(self, title)

    def to_dot(self) -> str:
        """The graph as graphviz DOT: a cluster per subgraph, provider colours, copies as marked edges."""
        return to_dot(self)


def _key(node: Node) -> str:
    return node.name or f"#{node.index}"


def shape_computation_nodes(graph: Graph) -> set[int]:
    """Nodes that only compute on shapes (Shape/Size and small int64 chains fed by them)."""
    shape_values: set[str] = set()
    pinned: set[int] = set()
    for node in graph.nodes:
        if node.domain:
            continue
        if node.op_type in ("Shape", "Size"):
            pinned.add(node.index)
            shape_values.update(o for o in node.outputs if o)
            continue
        if node.op_type not in SHAPE_OPS or node.implicit_inputs:
            continue
        ins = node.present_inputs
        if ins and any(i in shape_values for i in ins) and all(
            i in shape_values or _small_int_const(graph, i) for i in ins
        ):
            pinned.add(node.index)
            shape_values.update(o for o in node.outputs if o)
    return pinned


def _small_int_const(graph: Graph, name: str) -> bool:
    arr = graph.initializers.get(name)
    return arr is not None and arr.size <= _SMALL_CONST and np.issubdtype(arr.dtype, np.integer)


def assign(
    graph: Graph, providers: Sequence[ExecutionProvider], *, pin_shape_computations: bool = True
) -> list[NodeDecision]:
    """Ask each provider in order for the nodes nobody has claimed yet; return one decision per node."""
    decisions = [NodeDecision(n) for n in graph.nodes]
    has_host = any(p.device == HOST for p in providers)
    pinned = shape_computation_nodes(graph) if pin_shape_computations and has_host else set()
    for prov in providers:
        candidates = []
        for d in decisions:
            if d.provider is not None:
                continue
            if prov.device != HOST and d.node.index in pinned:
                d.refusals[prov.name] = Refusal("host", "shape computation kept on the CPU")
                continue
            candidates.append(d.node)
        if not candidates:
            continue
        try:
            cap = prov.get_capability(graph, candidates)
            failure = None if isinstance(cap, Capability) else (
                f"returned {type(cap).__name__} from get_capability instead of a Capability")
            claimed = {n.index for n in cap.claimed} if failure is None else set()
        except Exception as exc:
            failure = f"raised in get_capability: {type(exc).__name__}: {exc}"
        if failure is not None:  # a broken provider claims nothing; its nodes go to the next one
            warnings.warn(f"provider {prov.name} {failure}; it is skipped", PluginWarning, stacklevel=3)
            for n in candidates:
                decisions[n.index].refusals[prov.name] = Refusal("error", failure)
            continue
        for n in candidates:
            d = decisions[n.index]
            if n.index in claimed:
                d.provider = prov.name
                if n.index in cap.notes:
                    d.notes.append(f"{prov.name}: {cap.notes[n.index]}")
            else:
                d.refusals[prov.name] = cap.refused.get(n.index, Refusal("op", "not claimed"))
    return decisions


def unassigned_error(decisions: Sequence[NodeDecision], *, strict: bool = False) -> NotImplementedByAnyProvider:
    """The error listing every node no provider took (or, in strict mode, that only CPU would take)."""
    lines = []
    for d in decisions:
        n = d.node
        dom = n.domain or "ai.onnx"
        why = "; ".join(f"{p}: {r}" for p, r in d.refusals.items()) or "no provider asked"
        lines.append(f"  node {n.label}: op {dom}::{n.op_type}, opset {n.opset} -- {why}")
    head = (f"{len(lines)} node(s) would fall back to the CPU, but CPU fallback is disabled:"
            if strict else f"{len(lines)} node(s) are supported by no provider:")
    return NotImplementedByAnyProvider("\n".join([head, *lines]))


def group(graph: Graph, decisions: Sequence[NodeDecision]) -> list[list[Node]]:
    """Group assigned nodes into the largest per-provider subgraphs that create no cycle.

    Returns the groups in an order that runs every producer first. Nodes are first scheduled in
    a topological order that stays on one provider while it has a ready node; each run of one
    provider is a group, so the groups are cycle-free by construction. Same-provider groups are
    then merged until no two of them can merge without a cycle. Both steps are near-linear in
    the size of the graph.
    """
    nodes = graph.nodes
    color = [decisions[n.index].provider or "" for n in nodes]
    preds = _producers(graph)
    succs: list[list[int]] = [[] for _ in nodes]
    for v, ps in enumerate(preds):
        for u in ps:
            succs[u].append(v)
    runs = _provider_runs(color, preds, succs)
    groups = _GroupGraph(runs, [color[r[0]] for r in runs], preds)
    groups.merge_until_maximal()
    order = groups.order
    group_at = [0] * len(nodes)
    for gi, g in enumerate(order):
        for v in groups.members[g]:
            group_at[v] = gi
    for v, ps in enumerate(preds):
        seen: set[int] = set()
        for u in ps:
            gu = group_at[u]
            if gu > group_at[v]:
                raise AssertionError("partitioner produced cyclic subgraphs")
            if color[u] == color[v] and gu != group_at[v] and gu not in seen:
                seen.add(gu)
                decisions[v].notes.append(
                    f"not joined to subgraph {gu} of its input's producer: would create a cycle")
    return [[nodes[v] for v in sorted(groups.members[g])] for g in order]


def _producers(graph: Graph) -> list[list[int]]:
    """Per node (by index): the distinct indices of the nodes producing its inputs and captures."""
    producer = graph.producer
    preds = []
    for node in graph.nodes:
        ps = {producer[v].index for v in node.present_inputs + node.implicit_inputs if v in producer}
        preds.append(sorted(ps))
    return preds


def _provider_runs(color: list[str], preds: list[list[int]], succs: list[list[int]]) -> list[list[int]]:
    """A topological order cut into runs of one provider: a run lasts while its provider has a
    ready node (earliest first); the next run is the provider of the earliest ready node."""
    waiting = [len(p) for p in preds]
    ready: dict[str, list[int]] = defaultdict(list)
    for v, w in enumerate(waiting):
        if w == 0:
            ready[color[v]].append(v)  # ascending, hence already a heap
    runs: list[list[int]] = []
    while True:
        live = [(heap[0], c) for c, heap in ready.items() if heap]
        if not live:
            return runs
        heap = ready[min(live)[1]]
        run: list[int] = []
        while heap:
            v = heapq.heappop(heap)
            run.append(v)
            for s in succs[v]:
                waiting[s] -= 1
                if waiting[s] == 0:
                    heapq.heappush(ready[color[s]], s)
        runs.append(run)


class _GroupGraph:
    """Groups of nodes, the edges between them, and a run order of the groups (a topological order).

    Two same-provider groups can merge unless a path leads from one to the other through a third
    group. If no two groups of a provider that are consecutive in the run order can merge, no two
    of its groups can (a path from each to the next chains them all), which makes one sweep over
    the order enough to check that the grouping is maximal.
    """

    def __init__(self, runs: list[list[int]], colors: list[str], preds: list[list[int]]) -> None:
        self.members = [list(r) for r in runs]
        self.color = colors
        self.order = list(range(len(runs)))
        self.pos = list(range(len(runs)))
        group_of = [0] * len(preds)
        for g, r in enumerate(runs):
            for v in r:
                group_of[v] = g
        self.succ: list[set[int]] = [set() for _ in runs]
        self.pred: list[set[int]] = [set() for _ in runs]
        for v, ps in enumerate(preds):
            gv = group_of[v]
            for u in ps:
                gu = group_of[u]
                if gu != gv:
                    self.succ[gu].add(gv)
                    self.pred[gv].add(gu)

    def merge_until_maximal(self) -> None:
        """Sweep the run order, merging each group into the previous group of its provider when
        no path through another group joins them, until a sweep merges nothing."""
        merged = True
        while merged:
            merged = False
            self.order = [g for g in self.order if g >= 0]
            for t, g in enumerate(self.order):
                self.pos[g] = t
            last: dict[str, int] = {}
            k = 0
            while k < len(self.order):
                j = self.order[k]
                if j < 0:
                    k += 1
                    continue
                prev = last.get(self.color[j])
                between = None if prev is None else self._descendants_before(prev, j)
                if between is None:
                    last[self.color[j]] = j
                    k += 1
                    continue
                k = self._merge(prev, j, between, last)
                merged = True

    def _descendants_before(self, a: int, b: int) -> set[int] | None:
        """The groups between `a` and `b` in the run order that `a` reaches, or None when one of
        them reaches `b` (merging `a` and `b` would then create a cycle)."""
        limit = self.pos[b]
        seen: set[int] = set()
        stack = [a]
        while stack:
            g = stack.pop()
            for h in self.succ[g]:
                if h == b:
                    if g != a:
                        return None
                elif self.pos[h] < limit and h not in seen:
                    seen.add(h)
                    stack.append(h)
        return seen

    def _merge(self, a: int, b: int, after: set[int], last: dict[str, int]) -> int:
        """Merge group `b` into the earlier group `a`; the groups between them that `a` reaches
        (`after`) move behind the merged group, and a hole (-1) keeps the later positions valid.
        Returns the position after the merged group."""
        lo, hi = self.pos[a], self.pos[b]
        window = self.order[lo + 1:hi]
        before = [g for g in window if g not in after]
        keep, gone = (a, b) if len(self.succ[a]) + len(self.pred[a]) >= len(self.succ[b]) + len(self.pred[b]) \
            else (b, a)
        for s in self.succ[gone]:
            self.pred[s].discard(gone)
            if s != keep:
                self.pred[s].add(keep)
                self.succ[keep].add(s)
        for q in self.pred[gone]:
            self.succ[q].discard(gone)
            if q != keep:
                self.succ[q].add(keep)
                self.pred[keep].add(q)
        self.succ[keep].discard(gone)
        self.pred[keep].discard(gone)
        self.succ[gone], self.pred[gone] = set(), set()
        big, small = self.members[keep], self.members[gone]
        if len(big) < len(small):
            big, small = small, big
        big.extend(small)
        self.members[keep], self.members[gone] = big, []
        self.order[lo:hi + 1] = [-1] + before + [keep] + [g for g in window if g in after]
        for t in range(lo + 1, hi + 1):
            if self.order[t] >= 0:
                self.pos[self.order[t]] = t
        at = lo + 1 + len(before)
        for c, g in list(last.items()):
            if c != self.color[keep] and g in after:
                del last[c]
                for t in range(at - 1, -1, -1):
                    if self.order[t] >= 0 and self.color[self.order[t]] == c:
                        last[c] = self.order[t]
                        break
        last[self.color[keep]] = keep
        return at + 1


def partition(
    graph: Graph,
    providers: Sequence[ExecutionProvider],
    *,
    strict: bool = False,
    pin_shape_computations: bool = True,
) -> Partition:
    """Assign every node, group the assignment into subgraphs, and plan the device copies.

    `strict` means the providers list holds no CPU fallback on purpose: unassigned nodes are
    reported as nodes that would have fallen back to the CPU.
    """
    decisions = assign(graph, providers, pin_shape_computations=pin_shape_computations)
    missing = [d for d in decisions if d.provider is None]
    if missing:
        raise unassigned_error(missing, strict=strict)
    devices = {p.name: p.device for p in providers}
    groups = group(graph, decisions)
    graph_outputs = {o.name for o in graph.outputs}
    group_of = {node.index: gi for gi, nodes in enumerate(groups) for node in nodes}
    subgraphs: list[SubGraph] = []
    placement: dict[int, dict[str, str]] = {}
    for gi, nodes in enumerate(groups):
        prov = decisions[nodes[0].index].provider or ""
        device = devices[prov]
        inside = {o for n in nodes for o in n.outputs if o}
        need: dict[str, set[str]] = defaultdict(set)
        constants: dict[str, np.ndarray] = {}
        for node in nodes:
            decisions[node.index].subgraph = gi
            host_pos = host_input_positions(node)
            meta_pos = metadata_input_positions(node)
            uses = [(pos, v) for pos, v in enumerate(node.inputs) if v]
            uses += [(-1, v) for v in node.implicit_inputs]
            for pos, v in uses:
                if v in inside:
                    continue
                if v in graph.initializers:
                    constants[v] = graph.initializers[v]
                    continue
                need[v].add(ANY if pos in meta_pos else HOST if pos in host_pos else device)
        place = {}
        for v, wants in need.items():
            place[v] = device if device in wants else HOST if HOST in wants else ANY
        outputs = [o for node in nodes for o in node.outputs if o and (
            o in graph_outputs or any(group_of[c.index] != gi for c in graph.consumers.get(o, ())))]
        placement[gi] = place
        subgraphs.append(SubGraph(
            index=gi, provider=prov, nodes=nodes, inputs=list(need), outputs=outputs, constants=constants,
            host_inputs={v for v, d in place.items() if d == HOST and device != HOST}, graph=graph,
        ))
    copies = plan_copies(graph, subgraphs, placement, providers)
    return Partition([p.name for p in providers], decisions, subgraphs, copies, placement, dict(devices))


def plan_copies(
    graph: Graph,
    subgraphs: Sequence[SubGraph],
    placement: dict[int, dict[str, str]],
    providers: Sequence[ExecutionProvider],
    input_homes: dict[str, str] | None = None,
    output_homes: dict[str, str] | None = None,
) -> list[Copy]:
    """The device copies of one run, in run order: the one rule the executor follows.

    Every value has a home device: graph inputs the host (or the device `input_homes` names), constants
    the host, a subgraph's outputs its provider's device. Each subgraph input is needed where `placement`
    says (a device, the host, or ANY for shape-only reads); one copy is planned per (value, target device),
    before the first subgraph needing it, and graph outputs go to the host (or the device `output_homes`
    names) after the last subgraph. A copy between two devices is direct when one of their providers
    declares it (`direct_copier`, asked once per device pair).
    """
    devices = {p.name: p.device for p in providers}
    on_device: dict[str, ExecutionProvider] = {}
    for p in providers:
        on_device.setdefault(p.device, p)
    homes = {**(input_homes or {}), **(output_homes or {})}
    strange = sorted({d for d in homes.values() if d != HOST and d not in on_device})
    if strange:
        raise ProviderError(f"no provider of this session is on device(s) {strange}; its devices are "
                            f"{sorted(on_device)}")
    home: dict[str, str] = dict(input_homes or {})
    made: set[tuple[str, str]] = set()
    direct: dict[tuple[str, str], bool] = {}
    copies: list[Copy] = []

    def need(value: str, dst: str, before: int) -> None:
        src = home.get(value, HOST)
        if dst in (ANY, src) or (value, dst) in made:
            return
        made.add((value, dst))
        pair = (src, dst)
        if pair not in direct:
            direct[pair] = HOST not in pair and direct_copier(on_device[src], on_device[dst]) is not None
        copies.append(Copy(value, src, dst, before, direct[pair]))

    for sg in subgraphs:
        place = placement[sg.index]
        for v in sg.inputs:
            need(v, place[v], sg.index)
        for o in sg.outputs:
            home[o] = devices[sg.provider]
    for o in graph.outputs:
        need(o.name, (output_homes or {}).get(o.name, HOST), len(subgraphs))
    return copies
