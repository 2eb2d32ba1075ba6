"""Verdicts of a fuzz case from its raw results, and the signatures that group failures.

Raw statuses come from the worker (ok, refused, unclear) or the supervisor (crash, hang). A
provider that ran where the CPU reference or onnxruntime (the oracle) refused the same model is
`accepted_but_should_refuse`; one that ran but whose outputs differ from the oracle's (or, when
the oracle could not run it, the CPU provider's) is `wrong_output`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .worker import ORACLE

VERDICTS = ("ok", "refused", "unclear", "crash", "hang", "accepted_but_should_refuse", "wrong_output")
#: verdicts the fast test subset must never see
FORBIDDEN = ("crash", "hang", "accepted_but_should_refuse")
RTOL, ATOL = 1e-3, 1e-4


@dataclass(frozen=True)
class Verdict:
    """What happened to one provider on one case, and the key that groups it with similar failures."""

    provider: str
    verdict: str
    detail: str  # exception type / signal / who refused
    where: str  # innermost ep-runtime frame, when known
    message: str

    def core(self) -> tuple[str, str, str, str]:
        """What must stay the same for a smaller case to reproduce this failure."""
        return self.provider, self.verdict, self.detail, self.where

    def signature(self, op: str, mutation: str) -> str:
        """Provider, verdict, op, and what distinguishes this failure (exception type/signal and location)."""
        if self.verdict in ("accepted_but_should_refuse", "wrong_output"):
            return f"{self.provider} | {self.verdict} | {op} | {mutation} | {self.detail}"
        return f"{self.provider} | {self.verdict} | {op} | {self.detail} | {self.where}"


def outputs_differ(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> str:
    """Why two output lists differ ('' when they agree): count, shape, dtype, or values beyond tolerance."""
    if len(got) != len(want):
        return f"{len(got)} outputs, reference has {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if tuple(g["shape"]) != tuple(w["shape"]):
            return f"output {k} shape {tuple(g['shape'])}, reference {tuple(w['shape'])}"
        if g["dtype"] != w["dtype"]:
            return f"output {k} dtype {g['dtype']}, reference {w['dtype']}"
        if g["values"] is None or w["values"] is None:
            continue
        a, b = np.asarray(g["values"]), np.asarray(w["values"])
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            same = np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True)
        else:
            same = np.array_equal(a, b)
        if not same:
            return f"output {k} values differ"
    return ""


def judge(provider: str, results: dict[str, dict[str, Any]]) -> Verdict:
    """The verdict of `provider` given every provider's (and the oracle's) raw result on the same case."""
    mine = results[provider]
    status = mine["status"]
    if status != "ok":
        detail = mine.get("exc_type", "")
        if status == "crash" and not mine.get("confirmed", True):
            detail += " (not repeated in a fresh worker)"
        return Verdict(provider, status, detail, mine.get("where", "?"), mine.get("message", ""))
    cpu, oracle = results.get("cpu", {}), results.get(ORACLE, {})
    if provider != "cpu" and cpu.get("status") in ("refused", "unclear"):
        return Verdict(provider, "accepted_but_should_refuse", f"cpu refused ({cpu.get('exc_type')})", "?",
                       cpu.get("message", ""))
    if oracle.get("status") == "refused":
        return Verdict(provider, "accepted_but_should_refuse", "onnxruntime refused", "?", oracle.get("message", ""))
    reference, ref_name = None, ""
    if oracle.get("status") == "ok":
        reference, ref_name = oracle["outputs"], "onnxruntime"
    elif provider != "cpu" and cpu.get("status") == "ok":
        reference, ref_name = cpu["outputs"], "cpu"
    if reference is not None:
        why = outputs_differ(mine["outputs"], reference)
        if why:
            return Verdict(provider, "wrong_output", f"differs from {ref_name}", "?", why)
    return Verdict(provider, "ok", "", "", "")


def judge_case(providers: list[str], results: dict[str, dict[str, Any]]) -> dict[str, Verdict]:
    """Verdicts of every fuzzed provider of a case (the oracle has no verdict of its own)."""
    return {p: judge(p, results) for p in providers if p != ORACLE and p in results}
