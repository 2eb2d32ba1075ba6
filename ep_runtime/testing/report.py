"""The kit's results: per case, per light model, and the coverage table per op, version and dtype."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("passed", "failed", "refused", "skipped")


@dataclass(frozen=True)
class CaseResult:
    """One case on the provider: passed, failed (detail: the first mismatch or the error), refused
    (detail: the provider's refusal) or skipped (detail: why the case could not be judged)."""

    case: str
    source: str
    op: str
    version: int
    dtype: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class ModelResult:
    """One light model with the provider first: result check and copy check."""

    model: str
    status: str
    nodes_on_provider: int
    nodes: int
    copies: int
    detail: str = ""


@dataclass
class CoverageRow:
    """The cases of one (op, version, dtype): counts per status and the first failure and refusal."""

    op: str
    version: int
    dtype: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    first_failure: str = ""
    first_refusal: str = ""

    @property
    def claimed(self) -> int:
        """Cases the provider took (passed or failed)."""
        return self.counts["passed"] + self.counts["failed"]

    @property
    def cases(self) -> int:
        """All cases of the row, whatever their status."""
        return sum(self.counts.values())


@dataclass
class SelftestReport:
    """What `run_selftest` found; `ok` when no case and no model failed."""

    provider: str
    options: dict[str, Any]
    cases: list[CaseResult]
    models: list[ModelResult]
    #: ops the provider has kernels for that no case exercised
    untested_ops: list[str] = field(default_factory=list)
    #: light models asked for that are not installed
    missing_models: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[CaseResult]:
        """The failed cases, in run order."""
        return [r for r in self.cases if r.status == "failed"]

    @property
    def ok(self) -> bool:
        """No case and no model failed (refusals are not failures)."""
        return not self.failures and all(m.status == "passed" for m in self.models)

    def rows(self) -> list[CoverageRow]:
        """One row per (op, version, dtype), sorted."""
        rows: dict[tuple[str, int, str], CoverageRow] = {}
        for r in self.cases:
            row = rows.setdefault((r.op, r.version, r.dtype), CoverageRow(r.op, r.version, r.dtype))
            row.counts[r.status] += 1
            if r.status == "failed" and not row.first_failure:
                row.first_failure = f"{r.case}: {r.detail}"
            if r.status == "refused" and not row.first_refusal:
                row.first_refusal = r.detail
        return [rows[k] for k in sorted(rows)]

    def totals(self) -> dict[str, int]:
        """Cases per status."""
        counts = dict.fromkeys(STATUSES, 0)
        for r in self.cases:
            counts[r.status] += 1
        return counts

    def summary(self) -> str:
        """One line: counts per status, models passed, OK or FAILED."""
        t = self.totals()
        claimed = t["passed"] + t["failed"]
        models = f"; models: {sum(m.status == 'passed' for m in self.models)} of {len(self.models)} passed" \
            if self.models else ""
        return (f"{self.provider}: {len(self.cases)} cases, {claimed} claimed, {t['passed']} passed, "
                f"{t['failed']} failed, {t['refused']} refused, {t['skipped']} skipped{models}: "
                f"{'OK' if self.ok else 'FAILED'}")

    def table(self) -> str:
        """The coverage table as text: claimed rows in full, then the ops refused entirely, one line each."""
        head = ("op", "ver", "dtype", "claimed", "passed", "failed", "refused", "first failure / refusal")
        lines = [f"provider {self.provider}" + (f" with options {self.options}" if self.options else "")]
        table = [head]
        refused_only: dict[str, list[CoverageRow]] = {}
        for row in self.rows():
            if row.claimed == 0:
                refused_only.setdefault(row.op, []).append(row)
                continue
            note = row.first_failure or (f"refused: {row.first_refusal}" if row.first_refusal else "")
            table.append((row.op, str(row.version), row.dtype, str(row.claimed), str(row.counts["passed"]),
                          str(row.counts["failed"]), str(row.counts["refused"]), note))
        widths = [max(len(r[i]) for r in table) for i in range(7)]
        for r in table:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r[:7], widths)) + "  " + r[7])
        if refused_only:
            lines.append("")
            lines.append(f"not claimed for any case ({sum(map(len, refused_only.values()))} op/version/dtype "
                         f"combinations of {len(refused_only)} ops):")
            for op, rows in refused_only.items():
                for r in rows:
                    reason = f"refused: {r.first_refusal}" if r.first_refusal else "skipped"
                    lines.append(f"  {op} v{r.version} {r.dtype}: {reason}")
        if self.untested_ops:
            lines.append("")
            lines.append(f"kernels without a test case: {', '.join(self.untested_ops)}")
        if self.models or self.missing_models:
            lines.append("")
            lines.append("light models (provider first, CPU fallback on):")
            for m in self.models:
                lines.append(f"  {m.model}: {m.status}, {m.nodes_on_provider}/{m.nodes} nodes on the provider, "
                             f"{m.copies} device copies per run" + (f": {m.detail}" if m.detail else ""))
            for name in self.missing_models:
                lines.append(f"  {name}: not installed, skipped")
        lines.append("")
        lines.append(self.summary())
        return "\n".join(lines)

    def markdown(self) -> str:
        """The full report as Markdown: every row, every failure, every model."""
        out = [f"# ep-runtime selftest: {self.provider}", ""]
        if self.options:
            out += [f"Options: `{self.options}`", ""]
        out += [self.summary(), "", "| op | version | dtype | cases | claimed | passed | failed | refused | skipped "
                "| first failure / refusal |", "|---|---|---|---|---|---|---|---|---|---|"]
        for row in self.rows():
            note = row.first_failure or row.first_refusal
            c = row.counts
            out.append(f"| {row.op} | {row.version} | {row.dtype} | {row.cases} | {row.claimed} | {c['passed']} | "
                       f"{c['failed']} | {c['refused']} | {c['skipped']} | {_cell(note)} |")
        if self.failures:
            out += ["", "## Failures", ""]
            out += [f"- `{r.case}` ({r.op} v{r.version} {r.dtype}): {_cell(r.detail)}" for r in self.failures]
        if self.models or self.missing_models:
            out += ["", "## Light models", "", "| model | status | nodes on provider | copies | detail |",
                    "|---|---|---|---|---|"]
            out += [f"| {m.model} | {m.status} | {m.nodes_on_provider}/{m.nodes} | {m.copies} | {_cell(m.detail)} |"
                    for m in self.models]
            out += [f"| {name} | not installed | | | |" for name in self.missing_models]
        if self.untested_ops:
            out += ["", f"Kernels without a test case: {', '.join(self.untested_ops)}"]
        return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
