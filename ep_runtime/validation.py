"""Validation mode: every subgraph a provider other than the reference runs is also run on the reference
CPU provider with the same inputs, and the largest differences are recorded per subgraph and per node.

Turned on by session config entries:

- `ep_runtime.validate` = "1": validate every run;
- `ep_runtime.validate_tolerance` = T: an element is out of tolerance when |got - want| > T * (1 + |want|)
  (T absolute for small values, relative for large ones); NaN against a number, or a shape or dtype that
  differs, is always out;
- `ep_runtime.validate_strict` = "1" (needs a tolerance): a run whose values go out of tolerance fails with
  a KernelError naming the subgraph, the first node (in run order) whose output is out, its provider and
  the output.

Per node, the error is that of the node's outputs in a run of the whole subgraph on each side (the
device subgraph compiled a second time to return every node's output, the reference subgraph run on
the reference's own values), so an error shows first at the node that makes it and is carried by the
nodes after it. The per-subgraph error is that of the outputs the session actually used.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidArgument, KernelError
from .graph import Node, SubGraph
from .partition import ANY, HOST, Partition
from .provider import CompileOptions, ExecutionProvider, KernelProvider, compile_subgraph
from .registry import reference_provider

VALIDATE_KEY = "ep_runtime.validate"
TOLERANCE_KEY = "ep_runtime.validate_tolerance"
STRICT_KEY = "ep_runtime.validate_strict"
#: ops whose outputs are random: not compared
RANDOM_OPS = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
                        "Bernoulli"})


@dataclass(frozen=True)
class ValidationSettings:
    """Whether to validate, the tolerance (None: record only) and whether exceeding it fails the run."""

    enabled: bool = False
    tolerance: float | None = None
    strict: bool = False

    @classmethod
    def from_config(cls, entry: Callable[[str], str | None]) -> ValidationSettings:
        """Read the config entries through `entry(key) -> value or None`; a bad value is an InvalidArgument."""
        enabled = _flag(entry, VALIDATE_KEY)
        strict = _flag(entry, STRICT_KEY)
        text = entry(TOLERANCE_KEY)
        tolerance = None
        if text is not None:
            try:
                tolerance = float(text)
            except ValueError:
                tolerance = math.nan
            if not tolerance >= 0 or math.isinf(tolerance):
                raise InvalidArgument(f"session config entry {TOLERANCE_KEY} must be a finite number >= 0, "
                                      f"got {text!r}")
        if strict and tolerance is None:
            raise InvalidArgument(f"session config entry {STRICT_KEY} needs a tolerance: set {TOLERANCE_KEY} too")
        return cls(enabled or strict, tolerance, strict)


def _flag(entry: Callable[[str], str | None], key: str) -> bool:
    text = entry(key)
    if text is None:
        return False
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise InvalidArgument(f"session config entry {key} must be 0 or 1, got {text!r}")


@dataclass
class ErrorStat:
    """The largest differences seen for one value over the runs so far."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    #: the element of the largest absolute error (flat index) and both values there, from the run that set it
    worst: str = ""
    #: a difference that is not numeric (shape, dtype, NaN against a number); the first one seen
    problem: str = ""
    out_of_tolerance: bool = False

    def merge(self, other: ErrorStat) -> None:
        """Keep the larger of each error (and the first problem seen)."""
        if other.max_abs > self.max_abs or (other.max_abs == self.max_abs and not self.worst):
            self.max_abs, self.worst = other.max_abs, other.worst
        self.max_rel = max(self.max_rel, other.max_rel)
        self.problem = self.problem or other.problem
        self.out_of_tolerance = self.out_of_tolerance or other.out_of_tolerance

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data (infinities as strings)."""
        return {"max_abs": _num(self.max_abs), "max_rel": _num(self.max_rel), "worst": self.worst,
                "problem": self.problem, "out_of_tolerance": self.out_of_tolerance}

    def __str__(self) -> str:
        text = f"max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g}"
        if self.problem:
            text += f" ({self.problem})"
        elif self.worst and self.max_abs > 0:
            text += f" (worst {self.worst})"
        return text + (" OUT OF TOLERANCE" if self.out_of_tolerance else "")


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def measure(got: Any, want: Any, tolerance: float | None) -> ErrorStat | None:
    """The differences between a provider's value and the reference's, None when not comparable (not tensors)."""
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        if len(got) != len(want):
            return ErrorStat(math.inf, math.inf, problem=f"{len(got)} sequence elements, the reference has "
                             f"{len(want)}", out_of_tolerance=tolerance is not None)
        stat = ErrorStat()
        for g, w in zip(got, want):
            one = measure(g, w, tolerance)
            if one is not None:
                stat.merge(one)
        return stat
    if not (hasattr(got, "shape") and hasattr(got, "dtype") and isinstance(want, (np.ndarray, np.generic))):
        return None
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return ErrorStat(math.inf, math.inf, problem=f"got {got.dtype}{list(got.shape)}, the reference "
                         f"{want.dtype}{list(want.shape)}", out_of_tolerance=tolerance is not None)
    if got.size == 0:
        return ErrorStat()
    if want.dtype.kind == "O" or want.dtype.kind in "USV":
        same = np.vectorize(lambda a, b: a == b, otypes=[bool])(got, want)
        bad = int(np.count_nonzero(~same))
        return ErrorStat(math.inf if bad else 0.0, math.inf if bad else 0.0,
                         problem=f"{bad} of {got.size} elements differ" if bad else "",
                         out_of_tolerance=bool(bad) and tolerance is not None)
    g, w = got.astype(np.float64).ravel(), want.astype(np.float64).ravel()
    with np.errstate(all="ignore"):
        diff = np.abs(g - w)
        same = (g == w) | (np.isnan(g) & np.isnan(w))
        diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
        rel = np.where(diff == 0, 0.0, diff / np.abs(w))
        rel = np.where(np.isnan(rel), np.inf, rel)
    k = int(np.argmax(diff))
    nan_mismatch = bool(np.any(np.isnan(g) != np.isnan(w)))
    out = tolerance is not None and bool(np.any(diff > tolerance * (1 + np.nan_to_num(np.abs(w), posinf=0.0))))
    where = tuple(int(i) for i in np.unravel_index(k, got.shape)) if got.ndim else "()"
    worst = f"at {where}: {got.ravel()[k]!s} vs {want.ravel()[k]!s}" if diff[k] > 0 else ""
    return ErrorStat(float(diff[k]), float(rel.max()), worst=worst,
                     problem="NaN where the reference has a number (or the other way)" if nan_mismatch else "",
                     out_of_tolerance=out)


@dataclass
class SubgraphValidation:
    """What validation found for one subgraph: its outputs' errors and every node output's."""

    index: int
    provider: str
    nodes: list[Node]
    #: None while it is validated; else why it is not (no reference kernel, a failing reference...)
    skipped: str | None = None
    #: why per-node values are missing (the provider could not return every node's output), or None
    no_node_values: str | None = None
    runs: int = 0
    outputs: dict[str, ErrorStat] = field(default_factory=dict)
    values: dict[str, ErrorStat] = field(default_factory=dict)

    def node_errors(self) -> list[tuple[Node, dict[str, ErrorStat]]]:
        """(node, {output: error}) in run order, for the nodes with compared outputs."""
        rows = []
        for node in self.nodes:
            outs = {o: self.values[o] for o in node.outputs if o in self.values}
            if outs:
                rows.append((node, outs))
        return rows

    def first_out_of_tolerance(self) -> tuple[Node, str, ErrorStat] | None:
        """(node, output, error) of the first node in run order with an output out of tolerance, or None."""
        for node, outs in self.node_errors():
            for name, stat in outs.items():
                if stat.out_of_tolerance:
                    return node, name, stat
        return None


class ValidationReport:
    """Errors of every validated subgraph against the reference CPU provider, kept up to date by runs
    (`session.get_validation_report()`, and the `validation` part of `session.get_partition()`)."""

    def __init__(self, settings: ValidationSettings, subgraphs: Sequence[SubgraphValidation]) -> None:
        self.settings = settings
        self.subgraphs = {s.index: s for s in subgraphs}
        self._lock = threading.Lock()

    def record(self, index: int, outputs: dict[str, ErrorStat], values: dict[str, ErrorStat],
               failure: str | None = None) -> None:
        """Add one run's errors of subgraph `index` (or, with `failure`, why it could not be validated)."""
        with self._lock:
            entry = self.subgraphs[index]
            if failure is not None:
                entry.skipped = failure
                return
            entry.runs += 1
            for into, found in ((entry.outputs, outputs), (entry.values, values)):
                for name, stat in found.items():
                    into.setdefault(name, ErrorStat()).merge(stat)

    def out_of_tolerance(self) -> list[tuple[SubgraphValidation, Node, str, ErrorStat]]:
        """(subgraph, node, output, error) of the first out-of-tolerance node output of each subgraph."""
        with self._lock:
            found = [(s, *hit) for s in self.subgraphs.values() if (hit := s.first_out_of_tolerance()) is not None]
        return found

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (JSON-serialisable)."""
        with self._lock:
            return {
                "tolerance": self.settings.tolerance, "strict": self.settings.strict,
                "subgraphs": [
                    {"index": s.index, "provider": s.provider, "runs": s.runs, "skipped": s.skipped,
                     "no_node_values": s.no_node_values,
                     "outputs": {n: e.to_dict() for n, e in s.outputs.items()},
                     "nodes": [{"node": _key(node), "op_type": node.op_type,
                                "outputs": {n: e.to_dict() for n, e in outs.items()}}
                               for node, outs in s.node_errors()]}
                    for s in self.subgraphs.values()
                ],
            }

    def explain(self) -> str:
        """A readable summary: per validated subgraph its outputs' errors and each node's."""
        tol = "no tolerance" if self.settings.tolerance is None else f"tolerance {self.settings.tolerance:g}" + (
            ", strict" if self.settings.strict else "")
        lines = [f"validation against the reference CPU provider ({tol}):"]
        with self._lock:
            if not self.subgraphs:
                lines.append("  nothing to validate: every subgraph runs on the reference CPU provider")
            for s in self.subgraphs.values():
                head = f"  [{s.index}] {s.provider}"
                if s.skipped is not None:
                    lines.append(f"{head}: not validated: {s.skipped}")
                    continue
                if s.runs == 0:
                    lines.append(f"{head}: no run yet")
                    continue
                lines.append(f"{head}: {s.runs} run(s)")
                for name, stat in s.outputs.items():
                    lines.append(f"    output {name}: {stat}")
                if s.no_node_values is not None:
                    lines.append(f"    per node: only subgraph outputs ({s.no_node_values})")
                for node, outs in s.node_errors():
                    for name, stat in outs.items():
                        lines.append(f"    node {node.label} -> {name}: {stat}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()


def _key(node: Node) -> str:
    return node.name or f"#{node.index}"


def node_outputs(nodes: Sequence[Node]) -> list[str]:
    """Every output name the nodes produce, in order."""
    return [o for n in nodes for o in n.outputs if o]


def comparable(node: Node) -> bool:
    """Whether a node's outputs can be held to the reference's (random ops' cannot)."""
    return node.op_type not in RANDOM_OPS or node.domain not in ("", "ai.onnx")


def validating(part: Partition, providers: Sequence[ExecutionProvider], compiled: Sequence[Callable[..., tuple]],
               settings: ValidationSettings, is_reference: Callable[[ExecutionProvider], bool],
               reference: ExecutionProvider, optimization_level: int = 99
               ) -> tuple[list[Callable[..., tuple]], ValidationReport]:
    """The compiled subgraphs with those of non-reference providers wrapped to be validated on
    `reference` at every run, and the report they fill in. `optimization_level` is the session's: each
    subgraph is compiled again with it to return every node's output."""
    by_name = {p.name: p for p in providers}
    out = list(compiled)
    entries = []
    for sg, fn in zip(part.subgraphs, compiled):
        prov = by_name[sg.provider]
        if is_reference(prov):
            continue
        entry = SubgraphValidation(sg.index, prov.name, list(sg.nodes))
        entries.append(entry)
        ref_fn = _reference_compile(sg, reference, entry)
        if ref_fn is None:
            continue
        probe = _probe_compile(sg, prov, entry, optimization_level)
        out[sg.index] = _Validator(sg, prov, fn, probe, ref_fn, part.placement[sg.index], entry, settings)
    report = ValidationReport(settings, entries)
    for v in out:
        if isinstance(v, _Validator):
            v.report = report
    return out, report


def _reference_compile(sg: SubGraph, reference: ExecutionProvider,
                       entry: SubgraphValidation) -> Callable[..., tuple] | None:
    cap = reference.get_capability(sg.graph, sg.nodes)
    claimed = {n.index for n in cap.claimed}
    refused = [n for n in sg.nodes if n.index not in claimed]
    if refused:
        why = cap.refused.get(refused[0].index)
        entry.skipped = f"the reference CPU provider cannot run node {refused[0].label}" + (f": {why}" if why else "")
        return None
    ref_sg = SubGraph(sg.index, reference.name, sg.nodes, sg.inputs, node_outputs(sg.nodes), sg.constants, set(),
                      sg.graph)
    try:
        return compile_subgraph(reference, ref_sg, CompileOptions(optimization_level=0))
    except Exception as exc:
        entry.skipped = f"the reference CPU provider failed to compile it: {type(exc).__name__}: {exc}"
        return None


def _probe_compile(sg: SubGraph, provider: ExecutionProvider, entry: SubgraphValidation,
                   optimization_level: int) -> Callable[..., tuple] | None:
    """The subgraph compiled again on its provider to return every node's output (None when it cannot)."""
    every = node_outputs(sg.nodes)
    if every == list(sg.outputs):
        return None  # the production outputs are every node output already
    probe_sg = SubGraph(sg.index, sg.provider, sg.nodes, sg.inputs, every, sg.constants, sg.host_inputs, sg.graph)
    try:
        return compile_subgraph(provider, probe_sg, CompileOptions(optimization_level))
    except Exception as exc:
        entry.no_node_values = f"{provider.name} could not compile it to return every node's output: " \
                               f"{type(exc).__name__}: {exc}"
        return None


class _Validator:
    """A compiled subgraph that, after each call, runs the reference on the same inputs and records the errors."""

    def __init__(self, sg: SubGraph, provider: ExecutionProvider, fn: Callable[..., tuple],
                 probe: Callable[..., tuple] | None, reference: Callable[..., tuple], place: dict[str, str],
                 entry: SubgraphValidation, settings: ValidationSettings) -> None:
        self.sg, self.provider, self.fn, self.probe, self.reference = sg, provider, fn, probe, reference
        self.entry, self.settings = entry, settings
        self.report: ValidationReport | None = None
        on_device = provider.device != HOST
        self.host_args = [_to_reference(place.get(v), on_device, provider) for v in sg.inputs]
        self.every = node_outputs(sg.nodes)
        self.skip = {o for n in sg.nodes if not comparable(n) for o in n.outputs if o}

    def __call__(self, *args: Any) -> tuple:
        outs = self.fn(*args)
        assert self.report is not None
        tol = self.settings.tolerance
        try:
            want = dict(zip(self.every, self.reference(*[conv(a) for conv, a in zip(self.host_args, args)])))
            got = dict(zip(self.sg.outputs, (self._host(v) for v in outs)))
            values = dict(got)
            if self.probe is not None:
                values.update(zip(self.every, (self._host(v) for v in self.probe(*args))))
        except Exception as exc:
            self.report.record(self.sg.index, {}, {}, f"validating a run failed: {type(exc).__name__}: {exc}")
            return outs
        per_output = {n: s for n in self.sg.outputs if n not in self.skip
                      and (s := measure(got[n], want.get(n), tol)) is not None}
        per_value = {n: s for n, v in values.items() if n not in self.skip
                     and (s := measure(v, want.get(n), tol)) is not None}
        self.report.record(self.sg.index, per_output, per_value)
        if self.settings.strict:
            self._fail_if_out(per_output, per_value)
        return outs

    def _fail_if_out(self, per_output: dict[str, ErrorStat], per_value: dict[str, ErrorStat]) -> None:
        for node in self.sg.nodes:
            for name in node.outputs:
                stat = per_value.get(name)
                if stat is not None and stat.out_of_tolerance:
                    raise KernelError(
                        f"validation: node {node.label} on {self.provider.name} (subgraph {self.sg.index}) gives "
                        f"output {name!r} out of tolerance {self.settings.tolerance:g} against the reference CPU "
                        f"provider: {stat}", node=node.label, op_type=node.op_type, provider=self.provider.name)

    def _host(self, value: Any) -> Any:
        if self.provider.device == HOST or isinstance(value, np.ndarray) or not hasattr(value, "shape"):
            return value
        return self.provider.to_host(value)


def _to_reference(where: str | None, on_device: bool, provider: ExecutionProvider) -> Callable[[Any], Any]:
    """How one subgraph input reaches the reference: through `to_host` when it is on the provider's device; a
    shape-only input on any device as a host stand-in of its shape (the reference reads nothing else)."""
    if where == ANY:
        return _shape_stand_in
    if where == HOST or not on_device:
        return _same
    return provider.to_host


def _same(value: Any) -> Any:
    return value


def _shape_stand_in(value: Any) -> Any:
    if isinstance(value, np.ndarray) or not hasattr(value, "shape"):
        return value
    return np.broadcast_to(np.zeros((), np.dtype(value.dtype)), tuple(int(d) for d in value.shape))


def reference_for_validation() -> ExecutionProvider:
    """The reference CPU provider with its default (numpy) kernels: no plugin kernels, no named
    implementations (as the provider developer kit's reference)."""
    provider = reference_provider()
    if isinstance(provider, KernelProvider):
        provider.kernels = provider.kernels.defaults()
    return provider
