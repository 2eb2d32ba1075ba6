"""pytest fixtures and hooks only; what tests share as functions is in tests/helpers/."""

from __future__ import annotations

import onnx
import pytest

from tests.helpers.batch import mlp_model
from tests.helpers.plugins import registered_plugin


@pytest.fixture
def sim_plugin():
    """Register the simulated-device provider plugin for one test."""
    from tests import sim_device

    with registered_plugin(sim_device, "test-sim-device"):
        yield sim_device


def pytest_collection_modifyitems(config, items):
    """Leave out the backend suite's CUDA-device copies of each case: the suite runs on the CPU device."""
    keep, drop = [], []
    for it in items:
        (drop if "test_conformance" in it.nodeid and it.nodeid.endswith("_cuda") else keep).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the ONNX backend conformance count of this run (when the suite ran)."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "xfailed", "xpassed"):
        for rep in terminalreporter.stats.get(outcome, []):
            if "test_conformance.py::OnnxBackendNodeModelTest" in getattr(rep, "nodeid", "") and rep.when == "call":
                counts[outcome] = counts.get(outcome, 0) + 1
    total = sum(counts.values())
    if total:
        terminalreporter.write_sep("=", "ONNX backend node conformance, CPUExecutionProvider")
        terminalreporter.write_line(
            f"{counts.get('passed', 0)} of {total} node cases pass "
            f"({counts.get('xfailed', 0)} expected failures listed, {counts.get('failed', 0)} unexpected "
            f"failures, {counts.get('xpassed', 0)} listed cases now passing)"
        )


@pytest.fixture
def mlp_path(tmp_path):
    """The batch tests' small MLP (tests/helpers/batch.py) saved as a file."""
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    return path
