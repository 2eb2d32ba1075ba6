"""The partitioner: capabilities -> assignment -> cycle-free subgraphs -> device copies, explained."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NotImplementedByAnyProvider
from .graph import Graph, Node, SubGraph
from .host_inputs import SHAPE_OPS, host_input_positions, metadata_input_positions
from .plugins import PluginWarning
from .provider import ExecutionProvider, Refusal

HOST = "cpu"
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
                {"value": c.value, "from": c.src, "to": c.dst, "before_subgraph": c.before_subgraph}
                for c in self.copies
            ],
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
            lines.append(f"  {c.value}: {c.src} -> {c.dst} (before subgraph {c.before_subgraph})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()


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
        except Exception as exc:
            warnings.warn(f"provider {prov.name} raised in get_capability and is skipped: "
                          f"{type(exc).__name__}: {exc}", PluginWarning, stacklevel=3)
            for n in candidates:
                decisions[n.index].refusals[prov.name] = Refusal("error", f"get_capability raised {exc!r}")
            continue
        claimed = {n.index for n in cap.claimed}
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
    """Group assigned nodes into the largest per-provider subgraphs that create no cycle."""
    producer = graph.producer
    group_of: dict[int, int] = {}
    members: list[list[Node]] = []
    owner: list[str] = []
    ancestors: list[set[int]] = []  # per group: the groups with a path to it
    for node in graph.nodes:
        prov = decisions[node.index].provider or ""
        pred_groups = {group_of[producer[v].index] for v in node.present_inputs + node.implicit_inputs
                       if v in producer}
        chosen = None
        for g in sorted(pred_groups):
            if owner[g] != prov:
                continue
            if all(g not in ancestors[q] for q in pred_groups if q != g):
                chosen = g
                break
            decisions[node.index].notes.append(
                f"not joined to subgraph {g} of its input's producer: would create a cycle")
        if chosen is None:
            chosen = len(members)
            members.append([])
            owner.append(prov)
            ancestors.append(set())
        members[chosen].append(node)
        group_of[node.index] = chosen
        new = set()
        for q in pred_groups - {chosen}:
            new |= ancestors[q] | {q}
        if not new <= ancestors[chosen]:
            ancestors[chosen] |= new
            for anc in ancestors:
                if chosen in anc:
                    anc |= ancestors[chosen]
    return _merge_groups(graph, members, owner)


def _merge_groups(graph: Graph, members: list[list[Node]], owner: list[str]) -> list[list[Node]]:
    """Merge same-provider groups while the merge keeps the group graph acyclic."""
    while True:
        n = len(members)
        gid = {node.index: g for g, ms in enumerate(members) for node in ms}
        succ: list[set[int]] = [set() for _ in range(n)]
        for g, ms in enumerate(members):
            for node in ms:
                for v in node.outputs:
                    for c in graph.consumers.get(v, ()):
                        if gid[c.index] != g:
                            succ[g].add(gid[c.index])
        order = _topo(succ)
        reach = [0] * n
        for g in reversed(order):
            r = 0
            for h in succ[g]:
                r |= (1 << h) | reach[h]
            reach[g] = r
        merged = False
        for i, a in enumerate(order):
            for b in order[i + 1:]:
                if owner[a] != owner[b] or not owner[a]:
                    continue
                if any(c != b and (reach[c] >> b) & 1 for c in succ[a]):
                    continue
                members[a] = sorted(members[a] + members[b], key=lambda x: x.index)
                del members[b], owner[b]
                merged = True
                break
            if merged:
                break
        if not merged:
            return [members[g] for g in order]


def _topo(succ: list[set[int]]) -> list[int]:
    indeg = [0] * len(succ)
    for s in succ:
        for h in s:
            indeg[h] += 1
    ready = [g for g in range(len(succ)) if indeg[g] == 0]
    order = []
    while ready:
        ready.sort()
        g = ready.pop(0)
        order.append(g)
        for h in succ[g]:
            indeg[h] -= 1
            if indeg[h] == 0:
                ready.append(h)
    if len(order) != len(succ):
        raise AssertionError("partitioner produced cyclic subgraphs")
    return order


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
    home: dict[str, str] = {}
    subgraphs: list[SubGraph] = []
    placement: dict[int, dict[str, str]] = {}
    copies: list[Copy] = []
    made: set[tuple[str, str]] = set()
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
        inputs = list(need)
        outputs = []
        for node in nodes:
            for o in node.outputs:
                if not o:
                    continue
                home[o] = device
                if o in graph_outputs or any(group_of[c.index] != gi for c in graph.consumers.get(o, ())):
                    outputs.append(o)
        for v in inputs:
            src = home.get(v, HOST)
            dst = place[v]
            if dst not in (ANY, src) and (v, dst) not in made:
                made.add((v, dst))
                copies.append(Copy(v, src, dst, gi))
        placement[gi] = place
        subgraphs.append(SubGraph(
            index=gi, provider=prov, nodes=nodes, inputs=inputs, outputs=outputs, constants=constants,
            host_inputs={v for v, d in place.items() if d == HOST and device != HOST}, graph=graph,
        ))
    for o in graph_outputs:
        src = home.get(o, HOST)
        if src != HOST and (o, HOST) not in made:
            made.add((o, HOST))
            copies.append(Copy(o, src, HOST, len(subgraphs)))
    return Partition([p.name for p in providers], decisions, subgraphs, copies, placement, dict(devices))

