"""The vendor kernel gate: a swapped-in C kernel must pass the default kernel's operator cases within
the stated tolerance (TFLite Micro's rule). A correct vendor Relu passes (bit-exact); the clamping
relu6 fails with its largest error reported, through the function and the `check-kernel` CLI."""

from __future__ import annotations

import os

import pytest

from ep_runtime.cli import main
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.gate import GATE_CASES, cases_for, check_kernel
from providers.embedded_c.lowering import OP_SOURCES

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

HERE = os.path.join(os.path.dirname(__file__), "embedded_c")
RELU_FAST = os.path.join(HERE, "relu_fast.c")
RELU6 = os.path.join(HERE, "relu6.c")


def test_correct_vendor_relu_passes_the_gate_bit_exact():
    report = check_kernel("Relu", RELU_FAST)
    assert report.passed, report.report()
    assert all(c.bit_exact and c.max_abs == 0.0 for c in report.cases)


def test_clamping_relu6_fails_the_gate_with_its_largest_error():
    report = check_kernel("Relu", RELU6)
    assert not report.passed
    assert report.max_abs > 1.0
    assert "FAIL" in report.report() and "largest abs error" in report.report()


def test_check_kernel_cli_exit_status(capsys):
    assert main(["check-kernel", f"Relu={RELU_FAST}"]) == 0
    assert "PASS: 1 of 1 cases pass" in capsys.readouterr().out
    assert main(["check-kernel", f"Relu={RELU6}"]) == 1
    assert "FAIL relu" in capsys.readouterr().out


def test_a_source_that_does_not_compile_fails_the_gate(tmp_path):
    bad = tmp_path / "bad_relu.c"
    bad.write_text('#include "relu.h"\nint ep_relu(const ep_tensor *x, ep_tensor *y) { return oops; }\n')
    report = check_kernel("Relu", bad)
    assert not report.passed and "compiling" in report.cases[0].error


def test_every_kernel_has_gate_cases():
    stems = {OP_SOURCES[op] for op, *_ in GATE_CASES.values()}
    assert stems == set(OP_SOURCES.values())
    assert set(cases_for("Squeeze")) == set(cases_for("Identity"))
