"""Session profiling: Chrome trace events for nodes (body-graph nodes nested under their control-flow
node), subgraph calls and device copies, each naming its provider; and the per-provider / per-op summary.

Event categories: `Node` (one kernel call; `args.provider`, `args.op_name`, `args.subgraph`, and for
a node of an If/Loop/Scan body `args.parent`, the path of the node that ran the body; its name is then
the path `<parent>/<body>/<node>`), `Subgraph` (one call of a compiled subgraph: everything its provider
did for it) and `Copy` (one planned copy: `args.from`, `args.to`, `args.bytes`, `args.direct`,
`args.before_subgraph`). The timer calls the provider's `synchronize()` before it takes each time.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .graph import Node

_OP_IN_LABEL = re.compile(r"\(([^()]*)\)$")


class Profiler:
    """Collects timed events while profiling is on (`SessionOptions.enable_profiling`)."""

    def __init__(self, prefix: str = "ep_runtime_profile") -> None:
        self.prefix = prefix
        self.start = time.perf_counter()
        self._events: list[tuple[str, str, float, float, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def record(self, label: str, seconds: float) -> None:
        """A Node event without provider information (steps compiled outside a ProfileScope)."""
        self.add("Node", label, seconds, {})

    def add(self, cat: str, name: str, seconds: float, args: dict[str, Any]) -> None:
        """One event of category `cat` that ended now and lasted `seconds`."""
        end = time.perf_counter()
        with self._lock:
            self._events.append((cat, name, end - seconds, seconds, args))

    def records(self) -> list[tuple[str, float]]:
        """(name, seconds) of every Node event so far."""
        with self._lock:
            return [(name, dur) for cat, name, _, dur, _ in self._events if cat == "Node"]

    def events(self) -> list[dict[str, Any]]:
        """Every event so far as a Chrome trace event (like onnxruntime's profile)."""
        with self._lock:
            return [{"name": name, "ph": "X", "ts": (t0 - self.start) * 1e6, "dur": dur * 1e6,
                     "pid": os.getpid(), "tid": 0, "cat": cat, "args": dict(args)}
                    for cat, name, t0, dur, args in self._events]

    def write(self) -> str:
        """Write the events as a Chrome trace JSON file and return its path."""
        path = f"{self.prefix}_{time.strftime('%Y-%m-%d_%H-%M-%S')}.json"
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.events(), fh)
        return path


class ProfileScope:
    """The profiler as the steps of one compiled (sub)graph see it: every record names the provider, the
    subgraph, the node's op type and, inside a body graph, the node that runs the body."""

    def __init__(self, profiler: Profiler, provider: str, subgraph: int, nodes: Sequence[Node],
                 prefix: str = "", parent: str | None = None) -> None:
        self.profiler = profiler
        self.provider = provider
        self.subgraph = subgraph
        self.prefix = prefix
        self.parent = parent
        self._ops = {n.label: n.op_type for n in nodes}

    def record(self, label: str, seconds: float) -> None:
        """A Node event for the step labelled `label` (a node's label) that lasted `seconds`."""
        op = self._ops.get(label)
        if op is None:  # a node the provider made while compiling (a fusion)
            m = _OP_IN_LABEL.search(label)
            op = m.group(1).rsplit(".", 1)[-1] if m else label
        args: dict[str, Any] = {"provider": self.provider, "op_name": op, "node": label, "subgraph": self.subgraph}
        if self.parent is not None:
            args["parent"] = self.parent
        self.profiler.add("Node", self.prefix + label, seconds, args)

    def nested(self, owner: Node | None, body: str, nodes: Sequence[Node]) -> ProfileScope:
        """The scope of a body graph run by `owner` (a node of this scope)."""
        parent = self.prefix + (owner.label if owner is not None else "?")
        return ProfileScope(self.profiler, self.provider, self.subgraph, nodes, f"{parent}/{body}/", parent)


def timed(fn: Callable[..., Any], profiler: Profiler, cat: str, name: str, args: dict[str, Any],
          synchronize: Callable[[], None] | None = None, count_bytes: bool = False) -> Callable[..., Any]:
    """`fn` recording one event per call; with `count_bytes`, `args["bytes"]` is the size of its argument."""
    pc = time.perf_counter

    def run(*values: Any) -> Any:
        t = pc()
        out = fn(*values)
        if synchronize is not None:
            synchronize()
        event = dict(args, bytes=value_bytes(values[0])) if count_bytes else args
        profiler.add(cat, name, pc() - t, event)
        return out

    return run


def value_bytes(value: Any) -> int:
    """The size of a tensor value in bytes (any array type exposing nbytes, or shape and dtype)."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    try:
        return int(np.prod(value.shape, dtype=np.int64)) * np.dtype(value.dtype).itemsize
    except Exception:
        return 0


def summary(events: Sequence[dict[str, Any]]) -> str:
    """Per-provider and per-op tables (count, total ms, % of the profiled time) of a profile's events.

    Provider rows add up the subgraph calls (all a provider did) and the copies; op rows add up the
    top-level node events (a body-graph node's time is inside its If/Loop/Scan node's)."""
    providers: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    ops: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    nested = 0
    for ev in events:
        args, ms = ev.get("args", {}), ev.get("dur", 0.0) / 1e3
        if ev.get("cat") == "Subgraph":
            row = providers[args.get("provider", "?")]
        elif ev.get("cat") == "Copy":
            row = providers["device copies"]
            route = ops[("Copy", f"{args.get('from')} -> {args.get('to')}")]
            route[0] += 1
            route[1] += ms
        elif ev.get("cat") == "Node":
            if "parent" in args:
                nested += 1
                continue
            row = ops[(args.get("op_name", ev.get("name", "?")), args.get("provider", "?"))]
        else:
            continue
        row[0] += 1
        row[1] += ms
    total = sum(r[1] for r in providers.values()) or sum(r[1] for r in ops.values()) or 1.0

    def table(head: tuple[str, ...], rows: list[tuple[tuple[str, ...], list[float]]]) -> list[str]:
        widths = [max([len(h)] + [len(labels[k]) for labels, _ in rows]) for k, h in enumerate(head)]
        left = "  ".join(f"{h:<{w}}" for h, w in zip(head, widths))
        out = [f"{left}  {'count':>7}  {'total ms':>10}  {'%':>6}"]
        for labels, (n, ms) in sorted(rows, key=lambda r: -r[1][1]):
            left = "  ".join(f"{a:<{w}}" for a, w in zip(labels, widths))
            out.append(f"{left}  {int(n):>7}  {ms:>10.3f}  {100 * ms / total:>6.1f}")
        return out

    lines = table(("provider",), [((p,), r) for p, r in providers.items()])
    lines.append("")
    lines += table(("op", "provider"), [((op, prov), r) for (op, prov), r in ops.items()])
    if nested:
        lines.append(f"({nested} body-graph node events are counted in their If/Loop/Scan node)")
    return "\n".join(lines)
