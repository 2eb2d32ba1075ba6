"""The C kernel gate: a swapped-in C kernel must pass the kit's cases of every op running it, against the
reference CPU provider (TFLite Micro's rule, on ep_runtime.testing.gate). A correct vendor Relu passes; the
clamping relu6 fails with the first mismatching index and values, through the function and the CLI."""

from __future__ import annotations

import os

import pytest

from ep_runtime.cli import main
from ep_runtime.errors import InvalidArgument
from ep_runtime.testing import edge_cases, onnx_cases
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.gate import check_kernel, ops_sharing_kernel
from providers.embedded_c.lowering import OP_SOURCES

needs_c = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

HERE = os.path.join(os.path.dirname(__file__), "embedded_c")
RELU_FAST = os.path.join(HERE, "relu_fast.c")
RELU6 = os.path.join(HERE, "relu6.c")


@needs_c
def test_correct_vendor_relu_passes_the_gate_on_the_kits_edge_cases():
    report = check_kernel("Relu", RELU_FAST)
    assert report.passed, report.report()
    ran = {r.case for r in report.selftest.cases if r.status == "passed"}
    assert {"kit_Relu_float32_1001", "kit_Relu_float32_scalar", "kit_Relu_float32_nan_inf_large",
            "kit_Relu_float32_noncontiguous", "test_relu"} <= ran


@needs_c
def test_clamping_relu6_fails_the_gate_with_the_first_mismatching_index_and_values():
    report = check_kernel("Relu", RELU6)
    assert not report.passed
    failed = {r.case: r.detail for r in report.failures}
    assert "got 6.0, want" in failed["kit_Relu_float32_nan_inf_large"]  # +inf clamped at 6
    assert "FAIL:" in report.report() and "first mismatch at index" in report.report()


@needs_c
def test_check_kernel_cli_exit_status(capsys):
    assert main(["check-kernel", f"Relu={RELU_FAST}"]) == 0
    assert "PASS:" in capsys.readouterr().out
    assert main(["check-kernel", f"Relu={RELU6}"]) == 1
    out = capsys.readouterr().out
    assert "FAIL:" in out and "kit_Relu_float32_nan_inf_large" in out


@needs_c
def test_a_source_that_does_not_compile_fails_the_gate(tmp_path):
    bad = tmp_path / "bad_relu.c"
    bad.write_text('#include "relu.h"\nint ep_relu(const ep_tensor *x, ep_tensor *y) { return oops; }\n')
    report = check_kernel("Relu", bad)
    assert not report.passed and "compiling" in report.failures[0].detail


def test_the_gate_of_a_shared_kernel_runs_every_op_sharing_it():
    assert ops_sharing_kernel("Squeeze")[0] == "Squeeze"
    assert set(ops_sharing_kernel("Squeeze")) == set(ops_sharing_kernel("Identity")) >= {"Reshape", "Flatten"}
    with pytest.raises(InvalidArgument, match="'Resize2' has no C kernel"):
        ops_sharing_kernel("Resize2")


def test_every_c_kernel_has_kit_cases():
    stems: dict[str, list[str]] = {}
    for op, stem in OP_SOURCES.items():
        stems.setdefault(stem, []).append(op)
    missing = [stem for stem, ops in stems.items() if not onnx_cases(ops) and not edge_cases(ops)]
    assert not missing
