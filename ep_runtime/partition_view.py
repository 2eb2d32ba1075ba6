"""Pictures of a partition: the graph coloured by provider, copies as marked edges, refusals as tooltips.

`to_svg` draws an SVG with a small layered layout computed here (longest-path layers, dummy points
for long edges, a few barycenter sweeps to reduce crossings); `to_html` wraps it in a self-contained
page (no script, nothing fetched) with tables of refusals and copies; `to_dot` writes the same boxes
and edges for graphviz. Big graphs stay readable: above `max_boxes` nodes, chains of one provider
(each node feeding only the next) become one box with a count, and if that is still too many,
runs of consecutive nodes (in run order) of one subgraph do.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .provider import HOST

if TYPE_CHECKING:
    from .partition import NodeDecision, Partition

#: colours of the built-in providers; others take the next free colour of EXTRA_COLORS in provider order
PROVIDER_COLORS = {
    "CPUExecutionProvider": "#4e79a7",
    "OpenCLExecutionProvider": "#f28e2b",
    "CUDAExecutionProvider": "#59a14f",
    "EmbeddedCExecutionProvider": "#b07aa1",
}
EXTRA_COLORS = ("#e15759", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#17becf", "#8c564b", "#bcbd22")
UNASSIGNED_COLOR = "#9e9e9e"
COPY_COLOR = "#d62728"
IO_COLOR = "#eeeeee"
#: above this many nodes, runs of one provider are collapsed
MAX_BOXES = 120

BOX_W, BOX_H, IO_W, DUMMY_W = 168, 42, 120, 16
H_GAP, V_GAP, MARGIN, LEGEND_H = 28, 46, 20, 34


def provider_colors(providers: list[str]) -> dict[str, str]:
    """A fill colour per provider name: the built-in ones fixed, the others in order from EXTRA_COLORS."""
    colors = {p: PROVIDER_COLORS[p] for p in providers if p in PROVIDER_COLORS}
    spare = [c for c in EXTRA_COLORS if c not in colors.values()]
    for p in providers:
        if p not in colors:
            colors[p] = spare.pop(0) if spare else UNASSIGNED_COLOR
    return colors


@dataclass
class Box:
    """One drawn box: a node, several collapsed nodes, or a graph input/output."""

    id: str
    kind: str  # "node", "group", "input", "output"
    label: str
    sublabel: str
    provider: str | None = None
    subgraph: int | None = None
    tooltip: str = ""
    refused: bool = False


@dataclass
class Edge:
    """The values flowing from one box to another; `copies` are those copied between devices on the way."""

    src: str
    dst: str
    values: list[str] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)


def _key(d: NodeDecision) -> str:
    return d.node.name or f"#{d.node.index}"


def _node_tooltip(d: NodeDecision) -> str:
    lines = [f"{_key(d)}: {d.node.op_type}" + (f" ({d.node.domain})" if d.node.domain else ""),
             f"provider: {d.provider or 'none'}" + ("" if d.subgraph is None else f", subgraph {d.subgraph}")]
    lines += [f"refused by {p}: {r}" for p, r in d.refusals.items()]
    lines += list(d.notes)
    return "\n".join(lines)


class PartitionView:
    """The boxes and edges drawn for a partition (collapsed when the graph is big)."""

    def __init__(self, part: Partition, max_boxes: int = MAX_BOXES) -> None:
        self.part = part
        self.colors = provider_colors(list(part.providers))
        decisions = part.decisions
        graph = part.subgraphs[0].graph if part.subgraphs else None
        producer = {o: i for i, d in enumerate(decisions) for o in d.node.outputs if o}
        inputs = [i.name for i in graph.inputs] if graph is not None else []
        outputs = [o.name for o in graph.outputs] if graph is not None else []
        self.devices = dict(part.devices)
        copy_to = {(c.value, c.dst) for c in part.copies}

        # node-level edges: (src key, dst index, value)
        node_edges: list[tuple[str, int, str]] = []
        for i, d in enumerate(decisions):
            for v in dict.fromkeys([*d.node.present_inputs, *d.node.implicit_inputs]):
                if v in producer:
                    node_edges.append((f"n{producer[v]}", i, v))
                elif v in inputs:
                    node_edges.append((f"in:{v}", i, v))
        self.collapsed = "none"
        group_of = list(range(len(decisions)))
        if len(decisions) > max_boxes:
            group_of = self._chains(decisions, producer, set(outputs))
            self.collapsed = "chains"
            if len(set(group_of)) > max_boxes:
                group_of = self._runs(decisions)
                self.collapsed = "runs"
        members: dict[int, list[int]] = defaultdict(list)
        for i, g in enumerate(group_of):
            members[g].append(i)
        self.boxes: dict[str, Box] = {}
        box_of: dict[str, str] = {}
        for v in inputs:
            self.boxes[f"in:{v}"] = Box(f"in:{v}", "input", v, "graph input", tooltip=f"graph input {v}")
            box_of[f"in:{v}"] = f"in:{v}"
        for g in sorted(members, key=lambda g: members[g][0]):
            idx = members[g]
            first = decisions[idx[0]]
            bid = f"b{g}"
            for i in idx:
                box_of[f"n{i}"] = bid
            refused = any(decisions[i].refusals for i in idx)
            if len(idx) == 1:
                self.boxes[bid] = Box(bid, "node", first.node.op_type, _key(first), first.provider, first.subgraph,
                                      _node_tooltip(first), refused)
            else:
                ops = [decisions[i].node.op_type for i in idx]
                label = " > ".join(ops[:3]) + (" > ..." if len(ops) > 3 else "")
                shown = [_node_tooltip(decisions[i]) for i in idx[:40]]
                more = [f"... and {len(idx) - 40} more nodes"] if len(idx) > 40 else []
                self.boxes[bid] = Box(bid, "group", label, f"{len(idx)} nodes", first.provider, first.subgraph,
                                      "\n\n".join([f"{len(idx)} nodes on {first.provider}", *shown, *more]),
                                      refused)
        for v in outputs:
            self.boxes[f"out:{v}"] = Box(f"out:{v}", "output", v, "graph output", tooltip=f"graph output {v}")

        edges: dict[tuple[str, str], Edge] = {}

        def add(src: str, dst: str, value: str, copied: bool) -> None:
            if src == dst:
                return
            e = edges.setdefault((src, dst), Edge(src, dst))
            if value not in e.values:
                e.values.append(value)
            if copied and value not in e.copies:
                e.copies.append(value)

        for src, i, v in node_edges:
            d = decisions[i]
            where = part.placement.get(d.subgraph, {}).get(v) if d.subgraph is not None else None
            add(box_of[src], box_of[f"n{i}"], v, where is not None and (v, where) in copy_to)
        for v in outputs:
            if v in producer:
                add(box_of[f"n{producer[v]}"], f"out:{v}", v, (v, HOST) in copy_to)
            elif v in inputs:
                add(f"in:{v}", f"out:{v}", v, False)
        self.edges = list(edges.values())

    @staticmethod
    def _chains(decisions: list[NodeDecision], producer: dict[str, int], outputs: set[str]) -> list[int]:
        """Group ids joining u -> v when v is u's only consumer node and u v's only producer node, on one subgraph."""
        succ: dict[int, set[int]] = defaultdict(set)
        pred: dict[int, set[int]] = defaultdict(set)
        for i, d in enumerate(decisions):
            for v in [*d.node.present_inputs, *d.node.implicit_inputs]:
                if v in producer and producer[v] != i:
                    succ[producer[v]].add(i)
                    pred[i].add(producer[v])
        group = list(range(len(decisions)))
        for u in range(len(decisions)):
            if len(succ[u]) != 1 or any(o in outputs for o in decisions[u].node.outputs):
                continue
            (v,) = succ[u]
            same = decisions[u].provider == decisions[v].provider and decisions[u].subgraph == decisions[v].subgraph
            if same and pred[v] == {u}:
                group[v] = group[u]
        return group

    @staticmethod
    def _runs(decisions: list[NodeDecision]) -> list[int]:
        """Group ids for runs of consecutive nodes (in topological order) on one subgraph."""
        group, current = [], -1
        for i, d in enumerate(decisions):
            if i == 0 or (d.provider, d.subgraph) != (decisions[i - 1].provider, decisions[i - 1].subgraph):
                current = i
            group.append(current)
        return group

    def color(self, box: Box) -> str:
        """The fill of a box: its provider's colour, light grey for graph inputs and outputs."""
        if box.kind in ("input", "output"):
            return IO_COLOR
        return self.colors.get(box.provider or "", UNASSIGNED_COLOR)


# ----------------------------------------------------------------------------- layout


@dataclass
class Layout:
    """Box positions (top-left corner), sizes, and each edge's points from source to target."""

    pos: dict[str, tuple[float, float]]
    size: dict[str, tuple[float, float]]
    routes: list[tuple[Edge, list[tuple[float, float]]]]
    width: float
    height: float


def layout(view: PartitionView) -> Layout:
    """Layered layout: longest-path layers, dummy points for edges spanning layers, barycenter ordering."""
    ids = list(view.boxes)
    succ: dict[str, list[str]] = defaultdict(list)
    indeg = dict.fromkeys(ids, 0)
    for e in view.edges:
        succ[e.src].append(e.dst)
        indeg[e.dst] += 1
    order, ready = [], [b for b in ids if indeg[b] == 0]
    while ready:
        b = ready.pop(0)
        order.append(b)
        for s in succ[b]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    placed = set(order)
    order += [b for b in ids if b not in placed]  # the partition is acyclic; this only guards the drawing
    layer = dict.fromkeys(ids, 0)
    for b in order:
        for s in succ[b]:
            layer[s] = max(layer[s], layer[b] + 1)
    last = max(layer.values(), default=0)
    for b, box in view.boxes.items():
        if box.kind == "output":
            layer[b] = max(last, 1)
    # chains of dummy points for edges that span more than one layer
    chains: list[tuple[Edge, list[str]]] = []
    layer_of: dict[str, int] = dict(layer)
    rank = {b: i for i, b in enumerate(order)}
    for k, e in enumerate(view.edges):
        pts = [e.src]
        for step in range(layer[e.src] + 1, layer[e.dst]):
            dummy = f"~{k}:{step}"
            layer_of[dummy] = step
            rank[dummy] = rank[e.src]
            pts.append(dummy)
        pts.append(e.dst)
        chains.append((e, pts))
    rows: dict[int, list[str]] = defaultdict(list)
    for n in sorted(layer_of, key=lambda n: (layer_of[n], rank[n])):
        rows[layer_of[n]].append(n)
    ups: dict[str, list[str]] = defaultdict(list)
    downs: dict[str, list[str]] = defaultdict(list)
    for _, pts in chains:
        for a, b in zip(pts, pts[1:]):
            downs[a].append(b)
            ups[b].append(a)
    depth = max(rows, default=0)
    for sweep in range(6):
        down = sweep % 2 == 0
        for r in (range(1, depth + 1) if down else range(depth - 1, -1, -1)):
            ref = {n: i for i, n in enumerate(rows[r - 1 if down else r + 1])}
            here = {n: i for i, n in enumerate(rows[r])}
            nbrs = ups if down else downs

            def bary(n: str, ref: dict[str, int] = ref, here: dict[str, int] = here,
                     nbrs: dict[str, list[str]] = nbrs) -> float:
                near = [ref[m] for m in nbrs[n] if m in ref]
                return sum(near) / len(near) if near else here[n]

            rows[r].sort(key=bary)

    def width_of(n: str) -> float:
        if n.startswith("~"):
            return DUMMY_W
        return IO_W if view.boxes[n].kind in ("input", "output") else BOX_W

    row_w = {r: sum(width_of(n) for n in ns) + H_GAP * (len(ns) - 1) for r, ns in rows.items()}
    total_w = max(row_w.values(), default=BOX_W)
    pos: dict[str, tuple[float, float]] = {}
    size: dict[str, tuple[float, float]] = {}
    for r, ns in rows.items():
        x = MARGIN + (total_w - row_w[r]) / 2
        y = MARGIN + LEGEND_H + r * (BOX_H + V_GAP)
        for n in ns:
            w = width_of(n)
            pos[n] = (x, y)
            size[n] = (w, BOX_H)
            x += w + H_GAP
    routes = []
    for e, pts in chains:
        points = []
        for j, n in enumerate(pts):
            x, y = pos[n]
            w, h = size[n]
            if j == 0:
                points.append((x + w / 2, y + h))
            elif j == len(pts) - 1:
                points.append((x + w / 2, y))
            else:
                points += [(x + w / 2, y), (x + w / 2, y + h)]
        routes.append((e, points))
    return Layout(pos, size, routes, total_w + 2 * MARGIN, MARGIN * 2 + LEGEND_H + (depth + 1) * (BOX_H + V_GAP))


# ----------------------------------------------------------------------------- SVG / HTML / DOT


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def _counts(part: Partition) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for d in part.decisions:
        counts[d.provider or "unassigned"] += 1
    return counts


def to_svg(part: Partition, max_boxes: int = MAX_BOXES) -> str:
    """The partition as a standalone SVG image: boxes filled with their provider's colour, copies as
    thick dashed red edges, every refusal and note in the boxes' tooltips."""
    view = PartitionView(part, max_boxes)
    lay = layout(view)
    counts = _counts(part)
    legend = [(p, f"{p} ({counts[p]})") for p in part.providers if counts.get(p)]
    copies_label = f"device copy ({len(part.copies)} per run)"
    legend_w = sum(30 + 7 * len(label) for _, label in legend) + 40 + 7 * len(copies_label)
    width = max(lay.width, legend_w + 2 * MARGIN)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{lay.height:.0f}" '
           f'viewBox="0 0 {width:.0f} {lay.height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           "<defs>",
           '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>',
           f'<marker id="arrow-copy" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="4" markerHeight="4" '
           f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{COPY_COLOR}"/></marker>',
           "</defs>",
           f'<rect x="0" y="0" width="{width:.0f}" height="{lay.height:.0f}" fill="#ffffff"/>']
    x = MARGIN
    for p, label in legend:
        out.append(f'<g class="legend"><rect x="{x}" y="{MARGIN - 4}" width="14" height="14" rx="3" '
                   f'fill="{view.colors[p]}"/><text x="{x + 19}" y="{MARGIN + 7}">{_esc(label)}</text></g>')
        x += 30 + 7 * len(label)
    out.append(f'<g class="legend"><line x1="{x}" y1="{MARGIN + 3}" x2="{x + 26}" y2="{MARGIN + 3}" '
               f'stroke="{COPY_COLOR}" stroke-width="2.5" stroke-dasharray="6,3"/>'
               f'<text x="{x + 32}" y="{MARGIN + 7}">{_esc(copies_label)}</text></g>')
    for e, pts in lay.routes:
        copied = bool(e.copies)
        path = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        style = (f'stroke="{COPY_COLOR}" stroke-width="2.5" stroke-dasharray="6,3" marker-end="url(#arrow-copy)"'
                 if copied else 'stroke="#777" stroke-width="1.2" marker-end="url(#arrow)"')
        title = ", ".join(e.values)
        if copied:
            title = "copied: " + ", ".join(e.copies) + ("; also: " + ", ".join(v for v in e.values if v not in e.copies)
                                                         if len(e.copies) < len(e.values) else "")
        out.append(f'<g class="{"edge copy" if copied else "edge"}"><title>{_esc(title)}</title>'
                   f'<path d="{path}" fill="none" {style}/></g>')
        if copied:  # labelled halfway along the edge's last segment
            (ax, ay), (bx, by) = pts[-2], pts[-1]
            mx, my = (ax + bx) / 2, (ay + by) / 2
            out.append(f'<text x="{mx + 6:.1f}" y="{my + 3:.1f}" fill="{COPY_COLOR}" font-size="10" '
                       f'font-weight="bold">copy {_esc(_short(e.copies[0], 18))}</text>')
    for bid, box in view.boxes.items():
        bx, by = lay.pos[bid]
        w, h = lay.size[bid]
        fill = view.color(box)
        dark = box.kind in ("node", "group")
        text_color = "#ffffff" if dark else "#222222"
        rx = 18 if not dark else 6
        stroke = "#333" if dark else "#999"
        out.append(f'<g class="box {box.kind}" data-provider="{_esc(box.provider or "")}">'
                   f"<title>{_esc(box.tooltip)}</title>"
                   f'<rect x="{bx:.1f}" y="{by:.1f}" width="{w}" height="{h}" rx="{rx}" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{2 if box.kind == "group" else 1}"/>'
                   f'<text x="{bx + w / 2:.1f}" y="{by + 17:.1f}" text-anchor="middle" fill="{text_color}" '
                   f'font-weight="bold">{_esc(_short(box.label, 24 if dark else 17))}</text>'
                   f'<text x="{bx + w / 2:.1f}" y="{by + 32:.1f}" text-anchor="middle" fill="{text_color}" '
                   f'font-size="10">{_esc(_short(box.sublabel, 28 if dark else 20))}</text>')
        if box.refused:
            out.append(f'<circle cx="{bx + w - 8:.1f}" cy="{by + 8:.1f}" r="6" fill="#ffffff" stroke="#333"/>'
                       f'<text x="{bx + w - 8:.1f}" y="{by + 12:.1f}" text-anchor="middle" font-size="10" '
                       f'font-weight="bold" fill="#333">!</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def to_html(part: Partition, title: str = "ep-runtime partition", max_boxes: int = MAX_BOXES) -> str:
    """A self-contained HTML page (no script, nothing fetched): the SVG picture, then tables of the
    refusals and notes per node and of the planned device copies."""
    counts = _counts(part)
    rows = []
    for d in part.decisions:
        why = [f"{p}: {r}" for p, r in d.refusals.items()] + list(d.notes)
        if why:
            rows.append(f"<tr><td>{_esc(_key(d))}</td><td>{_esc(d.node.op_type)}</td>"
                        f"<td>{_esc(d.provider or '-')}</td><td>{_esc('; '.join(why))}</td></tr>")
    copies = [f"<tr><td>{_esc(c.value)}</td><td>{_esc(c.src)}</td><td>{_esc(c.dst)}</td>"
              f"<td>{c.before_subgraph}</td></tr>" for c in part.copies]
    view_note = ""
    if len(part.decisions) > max_boxes:
        view_note = (f"<p>{len(part.decisions)} nodes: runs of one provider are drawn as one box with their count; "
                     "hover a box for its nodes.</p>")
    summary = ", ".join(f"{_esc(p)}: {n}" for p, n in counts.items())
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{_esc(title)}</title>",
        "<style>body{font-family:Helvetica,Arial,sans-serif;margin:16px;color:#222;background:#fff}"
        "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
        "font-size:13px}.picture{overflow:auto;border:1px solid #ddd}g.box:hover rect{stroke:#000;stroke-width:3}"
        "</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f"<p>Nodes per provider: {summary}. Subgraphs: {len(part.subgraphs)}. Device copies per run: "
        f"{len(part.copies)}. Hover a box for its node, provider and every refusal.</p>",
        view_note,
        f'<div class="picture">{to_svg(part, max_boxes)}</div>',
        "<h2>Refusals and notes</h2>",
        ("<table><tr><th>node</th><th>op</th><th>provider</th><th>refused by (reason); notes</th></tr>"
         + "".join(rows) + "</table>") if rows else "<p>None.</p>",
        "<h2>Device copies</h2>",
        ("<table><tr><th>value</th><th>from</th><th>to</th><th>before subgraph</th></tr>" + "".join(copies)
         + "</table>") if copies else "<p>None.</p>",
        "</body></html>",
    ])


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(part: Partition, max_boxes: int = MAX_BOXES) -> str:
    """The partition as a graphviz DOT graph: one cluster per subgraph, boxes filled with their
    provider's colour, copies as thick dashed red edges labelled with the value, refusals as tooltips."""
    view = PartitionView(part, max_boxes)
    out = ["digraph partition {",
           '  graph [rankdir=TB, fontname="Helvetica", labelloc=t, label="ep-runtime partition"];',
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontcolor=white, color="#333333"];',
           '  edge [color="#777777", fontname="Helvetica", fontsize=10];']
    clusters: dict[int, list[Box]] = defaultdict(list)
    for box in view.boxes.values():
        if box.kind in ("input", "output"):
            out.append(f"  {_dot_str(box.id)} [shape=ellipse, fillcolor=\"{IO_COLOR}\", fontcolor=black, "
                       f"label={_dot_str(box.label)}, tooltip={_dot_str(box.tooltip)}];")
        else:
            clusters[box.subgraph if box.subgraph is not None else -1].append(box)
    for sg, boxes in sorted(clusters.items()):
        provider = boxes[0].provider or "unassigned"
        out.append(f"  subgraph cluster_{sg if sg >= 0 else 'none'} {{")
        out.append(f"    label={_dot_str(f'subgraph {sg}: {provider}' if sg >= 0 else 'unassigned')}; "
                   f"style=dashed; color={_dot_str(view.colors.get(provider, UNASSIGNED_COLOR))};")
        for box in boxes:
            extra = ", penwidth=2" if box.kind == "group" else ""
            mark = " (!)" if box.refused else ""
            out.append(f"    {_dot_str(box.id)} [label={_dot_str(box.label + mark + chr(10) + box.sublabel)}, "
                       f"fillcolor={_dot_str(view.color(box))}, tooltip={_dot_str(box.tooltip)}{extra}];")
        out.append("  }")
    for e in view.edges:
        if e.copies:
            label = "copy " + ", ".join(e.copies)
            out.append(f"  {_dot_str(e.src)} -> {_dot_str(e.dst)} [color=\"{COPY_COLOR}\", style=dashed, "
                       f"penwidth=2.5, fontcolor=\"{COPY_COLOR}\", label={_dot_str(label)}, "
                       f"tooltip={_dot_str(', '.join(e.values))}];")
        else:
            out.append(f"  {_dot_str(e.src)} -> {_dot_str(e.dst)} [tooltip={_dot_str(', '.join(e.values))}];")
    out.append("}")
    return "\n".join(out) + "\n"
