"""Rewrite tests/conformance_expected_failures.txt from a fresh run of the conformance suite.

Run it after making cases pass (the list must only shrink; new failures are bugs to fix, not
lines to add). Each failing case gets a one-line reason taken from its error; edit a reason by
hand when a better one is known (hand-written reasons of cases still failing are kept).

    python tools/update_conformance_expectations.py
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_conformance import EXPECTED_FAILURES_FILE, expected_failures  # noqa: E402

HEADER = """\
# ONNX backend test cases that fail on the CPU provider, one `case: reason` per line.
# tests/test_conformance.py fails if a listed case passes (remove its line) or an unlisted
# case fails. Regenerate with `python tools/update_conformance_expectations.py`.
"""


def reason_of(text: str) -> str:
    """A one-line reason from a failure's message and traceback text."""
    m = re.search(r"no kernel for (\S+)", text)
    if m:
        return f"no kernel for {m.group(1).rstrip(';,')}"
    m = re.search(r"version (\d+) not implemented", text)
    if m:
        op = re.search(r"op (\S+), opset", text)
        return f"{op.group(1) if op else 'op'} version {m.group(1)} not implemented"
    if "Mismatched elements" in text or "Not equal to tolerance" in text:
        return "values differ from the expected outputs"
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if re.match(r"^E\s+\S", ln)]
    line = (errs[0][1:].strip() if errs else lines[-1] if lines else "failed")
    return re.sub(r"\s+", " ", line)[:160]


def kept_reason(old: str | None, fresh: str) -> str:
    """The old reason when it was written by hand and still applies, else the fresh one."""
    if not old or old.startswith(("no kernel for", "ai.onnx", "values differ")) or "not implemented" in old:
        return fresh
    return old


def main() -> int:
    old = expected_failures()
    EXPECTED_FAILURES_FILE.write_text(HEADER)  # run with nothing expected, to see every failure
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "report.xml")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_conformance.py",
                        f"--junitxml={xml}"], cwd=ROOT, capture_output=True, text=True)
        failures: dict[str, str] = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            for tag in ("failure", "error"):
                el = case.find(tag)
                if el is not None:
                    name = case.get("name", "")
                    name = name[: -len("_cpu")] if name.endswith("_cpu") else name
                    fresh = reason_of((el.get("message") or "") + "\n" + (el.text or ""))
                    failures[name] = kept_reason(old.get(name), fresh)
    lines = [HEADER] + [f"{name}: {reason}" for name, reason in sorted(failures.items())]
    EXPECTED_FAILURES_FILE.write_text("\n".join(lines) + "\n")
    gone = sorted(set(old) - set(failures))
    print(f"{len(failures)} expected failures written; {len(gone)} listed cases now pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
