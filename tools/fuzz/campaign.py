"""A fuzz campaign: cases run on every provider through worker lanes, verdicts, signatures,
minimized repros of each distinct failure, and the figures of the run."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from .classify import VERDICTS, Verdict, judge_case
from .mutate import Case, build_case, make_case
from .supervisor import Lane
from .worker import ORACLE

#: verdicts that count as failures (get a signature and a repro)
FAILURES = ("unclear", "crash", "hang", "accepted_but_should_refuse", "wrong_output")


@dataclass
class Options:
    """Everything that shapes a campaign; the same options give the same cases."""

    seed: int = 1
    cases: int = 100
    providers: list[str] = field(default_factory=lambda: ["cpu", "embedded_c", "embedded_c_fused"])
    seed_names: list[str] = field(default_factory=list)
    jobs: int = 2
    timeout: float = 20.0
    memory_gib: float = 4.0
    time_limit: float = 0.0  # seconds; 0 = none (stop starting cases after it)
    minimize: bool = True
    repro_dir: Path | None = None
    recycle: int = 200
    first_case: int = 0
    progress: bool = False


@dataclass
class CaseRecord:
    """One case's description, raw statuses and verdicts."""

    case: Case
    results: dict[str, dict[str, Any]]
    verdicts: dict[str, Verdict]

    def first_mutation(self) -> str:
        """The kind of the case's first mutation ('none' for an unmutated seed)."""
        return self.case.mutations[0].kind if self.case.mutations else "none"

    def failed(self) -> bool:
        """Whether any provider's verdict is a failure."""
        return any(v.verdict in FAILURES for v in self.verdicts.values())

    def compact(self) -> None:
        """Drop what a long run need not keep: outputs, and the model and feed of a case that did not fail
        (`make_case` rebuilds any case from its number)."""
        for result in self.results.values():
            result.pop("outputs", None)
        if not self.failed():
            self.case.model, self.case.feed = b"", {}


def case_tasks(case: Case, providers: list[str]) -> list[dict[str, Any]]:
    """The tasks of a case: the oracle and the CPU reference first, then every other provider."""
    order = [ORACLE, "cpu"] + [p for p in providers if p != "cpu"]
    return [{"provider": p, "model": case.model, "feed": case.feed, "label": f"{case.case_id}/{p}"} for p in order]


def run_case(lane: Lane, case: Case, providers: list[str]) -> CaseRecord:
    """Run a case on `lane` and judge it."""
    results = {t["provider"]: lane.run(t) for t in case_tasks(case, providers)}
    return CaseRecord(case, results, judge_case(providers, results))


class Campaign:
    """Runs the cases of `options` on `options.jobs` lanes, then minimizes one repro per failure signature."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.records: list[CaseRecord] = []
        self.lock = threading.Lock()
        self.counter = itertools.count(options.first_case)
        self.lanes: list[Lane] = []
        self.started = 0.0
        self.repros: dict[str, str] = {}
        self.minimized: dict[str, CaseRecord] = {}
        self.repro_errors: list[str] = []

    # ------------------------------------------------------------------ running

    def run(self) -> dict[str, Any]:
        """Run the campaign and return its summary (see `summary`)."""
        self.started = time.monotonic()
        cache = Path(tempfile.mkdtemp(prefix="ep-runtime-fuzz-cache-"))
        opts = self.options
        self.lanes = [Lane(opts.timeout, opts.memory_gib, opts.recycle, env={"EP_RUNTIME_CACHE": str(cache)})
                      for _ in range(max(1, opts.jobs))]
        try:
            self._in_lanes(self._case_loop)
            if self.options.minimize:
                self._minimize_all()
            if self.options.repro_dir is not None:
                self._write_repros(self.options.repro_dir)
        finally:
            for lane in self.lanes:
                lane.close()
            shutil.rmtree(cache, ignore_errors=True)
        return self.summary()

    def _in_lanes(self, loop: Callable[[Lane], None]) -> None:
        """Run `loop(lane)` on every lane at once; re-raise the first error a lane hit."""
        errors: list[BaseException] = []

        def guarded(lane: Lane) -> None:
            try:
                loop(lane)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread below
                errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(lane,), daemon=True) for lane in self.lanes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def _out_of_time(self) -> bool:
        limit = self.options.time_limit
        return bool(limit) and time.monotonic() - self.started > limit

    def _case_loop(self, lane: Lane) -> None:
        opts = self.options
        while not self._out_of_time():
            with self.lock:
                index = next(self.counter)
            if index >= opts.first_case + opts.cases:
                return
            record = run_case(lane, make_case(opts.seed, index, opts.seed_names), opts.providers)
            record.compact()
            with self.lock:
                self.records.append(record)
                done = len(self.records)
            if opts.progress and done % 50 == 0:
                print(f"  {done} cases, {time.monotonic() - self.started:.0f} s, cases with a failure so far: "
                      f"{sum(1 for r in self.records if r.failed())}", flush=True)

    # ------------------------------------------------------------------ signatures and minimization

    def failures(self) -> dict[str, list[tuple[CaseRecord, Verdict]]]:
        """Failing (record, verdict) pairs grouped by signature, each group in case order."""
        groups: dict[str, list[tuple[CaseRecord, Verdict]]] = {}
        for record in sorted(self.records, key=lambda r: case_number(r.case.case_id)):
            for verdict in record.verdicts.values():
                if verdict.verdict in FAILURES:
                    key = verdict.signature(record.case.target_op, record.first_mutation())
                    groups.setdefault(key, []).append((record, verdict))
        return groups

    def _minimize_all(self) -> None:
        todo = [(sig, items[0]) for sig, items in self.failures().items()]
        queue = iter(todo)

        def loop(lane: Lane) -> None:
            while True:
                with self.lock:
                    item = next(queue, None)
                if item is None:
                    return
                sig, (record, verdict) = item
                self.minimized[sig] = minimize(lane, record, verdict)

        self._in_lanes(loop)

    # ------------------------------------------------------------------ output

    def _write_repros(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        for n, (sig, items) in enumerate(self.failures().items(), 1):
            record, verdict = items[0]
            best = self.minimized.get(sig, record)
            folder = root / f"{n:03d}-{slug(sig)}"
            try:
                write_repro(folder, best, best.verdicts.get(verdict.provider, verdict), sig)
            except (OSError, TypeError, ValueError) as exc:
                self.repro_errors.append(f"{folder}: {type(exc).__name__}: {exc}")
                continue
            self.repros[sig] = str(folder)

    def summary(self) -> dict[str, Any]:
        """Figures of the run: cases, tasks, verdict counts per provider, oracle statuses, signatures."""
        per_provider: dict[str, Counter] = {p: Counter() for p in self.options.providers}
        oracle, late = Counter(), Counter()
        only: dict[str, Counter] = {p: Counter() for p in self.options.providers}
        for record in self.records:
            for p, v in record.verdicts.items():
                per_provider[p][v.verdict] += 1
                result = record.results[p]
                if v.verdict == "refused" and result.get("exc_type") == "KernelError" and result.get("cause"):
                    late[f"{result.get('op') or '?'}: {result['cause']}"] += 1
                if v.verdict == "refused" and p != "cpu" and record.results["cpu"]["status"] == "ok":
                    only[p][f"{result['exc_type']}: {message_shape(result['message'])}"] += 1
            oracle[record.results.get(ORACLE, {}).get("status", "missing")] += 1
        signatures = []
        for sig, items in self.failures().items():
            record, verdict = items[0]
            best = self.minimized.get(sig, record)
            signatures.append({
                "signature": sig, "count": len(items), "provider": verdict.provider, "verdict": verdict.verdict,
                "op": record.case.target_op, "detail": verdict.detail, "where": verdict.where,
                "message": verdict.message[:600], "example_case": record.case.case_id,
                "minimized_case": describe_case(best.case), "repro": self.repros.get(sig, ""),
                "cases": [r.case.case_id for r, _ in items[:50]],
            })
        totals = Counter()
        for counts in per_provider.values():
            totals.update(counts)
        return {
            "seed": self.options.seed, "cases_asked": self.options.cases, "cases_run": len(self.records),
            "tasks": sum(len(r.results) for r in self.records),
            "seconds": round(time.monotonic() - self.started, 1),
            "worker_restarts": sum(lane.restarts for lane in self.lanes),
            "providers": self.options.providers, "seeds": self.options.seed_names,
            "totals": {v: totals[v] for v in VERDICTS},
            "per_provider": {p: {v: c[v] for v in VERDICTS} for p, c in per_provider.items()},
            "repro_errors": self.repro_errors, "oracle": dict(oracle), "late_refusals": dict(late.most_common()),
            "refused_where_cpu_ran": {p: dict(c.most_common(20)) for p, c in only.items() if c},
            "signatures": signatures,
        }


def minimize(lane: Lane, record: CaseRecord, verdict: Verdict) -> CaseRecord:
    """The smallest subset of the case's mutations that still fails the same way (same `Verdict.core`)."""
    mutations = record.case.mutations
    providers = sorted({verdict.provider, "cpu"})
    for size in range(1, len(mutations)):
        for subset in combinations(mutations, size):
            case = build_case(record.case.case_id + "-min", record.case.seed_name, subset)
            candidate = run_case(lane, case, providers)
            again = candidate.verdicts.get(verdict.provider)
            if again is not None and again.core() == verdict.core():
                return candidate
    return record


def message_shape(message: str, size: int = 110) -> str:
    """A message with names and numbers blanked, so messages of one kind compare equal."""
    return re.sub(r"'[^']*'|\d+", "_", message.splitlines()[0] if message else "")[:size]


def case_number(case_id: str) -> int:
    """The case index in an id like '1-42' or '1-42-min'."""
    parts = case_id.split("-")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def slug(text: str, size: int = 80) -> str:
    """A file-name-safe short form of a signature."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:size]


def describe_case(case: Case) -> dict[str, Any]:
    """The JSON description of a case: id, seed model, mutations and what they did."""
    return {"case": case.case_id, "seed_model": case.seed_name, "mutations": [m.kind for m in case.mutations],
            "mutation_seeds": [m.seed for m in case.mutations], "notes": case.notes, "op": case.target_op}


def write_repro(folder: Path, record: CaseRecord, verdict: Verdict, signature: str) -> None:
    """Save model.onnx, feed.npz and case.json (what failed, how, and the command that reruns it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(record.case.model)
    names = list(record.case.feed)
    np.savez(folder / "feed.npz", *[record.case.feed[n] for n in names])
    result = record.results.get(verdict.provider, {})
    info = {
        "feed_names": [n.hex() if isinstance(n, bytes) else n for n in names],
        "feed_names_hex": [isinstance(n, bytes) for n in names],
        "signature": signature, "provider": verdict.provider, "verdict": verdict.verdict, "detail": verdict.detail,
        "where": verdict.where, "message": verdict.message, **describe_case(record.case),
        "traceback": result.get("traceback", ""), "statuses": {p: r.get("status") for p, r in record.results.items()},
        "rerun": f"python tools/fuzz_models.py --repro {folder}",
    }
    (folder / "case.json").write_text(json.dumps(info, indent=2, default=str))
