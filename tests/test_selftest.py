"""The provider developer kit (`ep_runtime.testing`): `ep-runtime selftest`, the pytest plugin, and the
wrong kernels it must catch (a plugin's Softmax override, a C Relu that skips the tail)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime import KernelRegistry, hookimpl
from ep_runtime.cli import main
from ep_runtime.testing import compare_arrays, edge_cases, light_models, onnx_cases, run_selftest
from ep_runtime.testing.runner import Selftest
from providers.embedded_c import EmbeddedCExecutionProvider
from tests.cuda_support import cuda  # noqa: F401  (fixture: numpy standing in for CuPy, and CuPy on a GPU)
from tests.helpers.plugins import registered_plugin
from tests.opencl_support import REASON as OPENCL_UNAVAILABLE
from tests.opencl_support import needs_opencl

ROOT = Path(__file__).resolve().parents[1]
#: ops with kernels on the cpu, opencl and embedded_c providers that no native kernel replaces
SUBSET = ["Add", "Softmax", "MatMul", "Transpose"]
needs_c = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

#: a vendor Relu that handles only whole blocks of 8 elements: the last n mod 8 are never written
RELU_SKIPPING_TAIL = """
#include "relu.h"

int ep_relu(const ep_tensor *x, ep_tensor *y)
{
    const float *px = (const float *)x->data;
    float *py = (float *)y->data;
    int64_t n = ep_numel(x);
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; ++k) {
            py[i + k] = px[i + k] < 0.0f ? 0.0f : px[i + k];
        }
    }
    return EP_OK;
}
"""


def _rows(report):
    return {(r.op, r.dtype): r for r in report.rows()}


# --------------------------------------------------------------------------- comparison


def test_compare_reports_the_first_mismatching_index_and_both_values():
    got = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    want = got.copy()
    want[1, 1] = 7
    found = compare_arrays("y", got, want)
    assert found is not None and "index (1, 1)" in str(found) and "got 5.0, want 7.0" in str(found)


def test_compare_matches_nan_with_nan_but_not_with_a_number_or_other_infinity():
    nan = np.array([np.nan, np.inf], np.float32)
    assert compare_arrays("y", nan, nan.copy()) is None
    assert "got nan, want 0.0" in str(compare_arrays("y", np.array([np.nan], np.float32), np.zeros(1, np.float32)))
    assert compare_arrays("y", np.array([np.inf], np.float32), np.array([-np.inf], np.float32)) is not None


def test_compare_requires_equal_shapes_and_dtypes():
    assert "shape [1]" in str(compare_arrays("y", np.zeros(1, np.float32), np.zeros((), np.float32)))
    assert "dtype int64" in str(compare_arrays("y", np.zeros(1, np.int64), np.zeros(1, np.int32)))


# --------------------------------------------------------------------------- cases


def test_edge_cases_cover_odd_sizes_scalars_empty_broadcasting_specials_and_views():
    names = {c.name for c in edge_cases(["Add"])}
    for tag in ("13_13", "3x1x5_4x5", "scalar_2x3", "0x3_1x3", "noncontiguous", "nan_inf_large"):
        assert f"kit_Add_float32_{tag}" in names
    relu = {c.name: c for c in edge_cases(["Relu"])}
    assert {"kit_Relu_float32_scalar", "kit_Relu_float32_0", "kit_Relu_float32_37"} <= set(relu)
    view = relu["kit_Relu_float32_noncontiguous"].inputs[0]
    assert not view.flags.c_contiguous
    assert {c.dtype for c in relu.values()} >= {"float32", "float64", "int32"}


def test_onnx_cases_are_single_node_cases_of_the_op():
    cases = onnx_cases(["Softmax"])
    assert cases and all(c.op_type == "Softmax" and len(c.model.graph.node) == 1 for c in cases)
    assert "test_softmax_large_number" in {c.name for c in cases}


# --------------------------------------------------------------------------- built-in providers


def test_selftest_passes_the_cpu_provider_on_a_subset():
    report = run_selftest("cpu", ops=SUBSET, models=[])
    assert report.ok, report.table()
    rows = _rows(report)
    assert rows[("Softmax", "float32")].counts["passed"] >= 10  # onnx's cases and the kit's
    assert {op for op, _ in rows} == set(SUBSET)


@needs_opencl
def test_selftest_passes_the_opencl_provider_on_a_subset_and_says_why_it_refuses():
    report = run_selftest("opencl", ops=SUBSET, models=[])
    assert report.ok, report.table()
    rows = _rows(report)
    assert rows[("MatMul", "float32")].claimed > 0
    assert rows[("Add", "int8")].counts["refused"] > 0 and "dtype" in rows[("Add", "int8")].first_refusal


@needs_c
def test_selftest_passes_the_embedded_c_provider_on_a_subset_and_says_why_it_refuses():
    report = run_selftest("embedded_c", ops=SUBSET + ["Relu"], models=[])
    assert report.ok, report.table()
    rows = _rows(report)
    assert rows[("Relu", "float32")].counts["passed"] == rows[("Relu", "float32")].cases
    assert rows[("Relu", "float64")].claimed == 0
    assert "float64 not supported" in rows[("Relu", "float64")].first_refusal
    assert "not claimed for any case" in report.table()


def test_selftest_passes_the_cuda_provider_on_a_subset(cuda):  # noqa: F811
    name, options = cuda
    report = run_selftest(name, options, ops=SUBSET, models=[])
    assert report.ok, report.table()
    assert _rows(report)[("MatMul", "float32")].claimed > 0


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["cpu", "opencl", "embedded_c"])
def test_full_selftest_of_a_builtin_provider(provider):
    if provider == "opencl" and OPENCL_UNAVAILABLE is not None:
        pytest.skip(f"OpenCL unavailable: {OPENCL_UNAVAILABLE}")
    if provider == "embedded_c" and not EmbeddedCExecutionProvider.is_available():
        pytest.skip("no C compiler")
    report = run_selftest(provider, models=["squeezenet", "shufflenet"])
    assert report.ok, report.table()


# --------------------------------------------------------------------------- wrong kernels


@pytest.fixture
def wrong_softmax_plugin():
    """A plugin replacing the CPU provider's Softmax with one that forgets to subtract the maximum."""
    kernels = KernelRegistry()

    @kernels.kernel("Softmax", since=13, impl="careless-vendor")
    def softmax(x, *, axis=-1):
        e = np.exp(x)
        return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)

    plugin = types.SimpleNamespace(
        ep_runtime_kernels=hookimpl(lambda provider_name: kernels if provider_name == "CPUExecutionProvider"
                                    else None))
    with registered_plugin(plugin, "test-wrong-softmax"):
        yield


def test_selftest_catches_a_wrong_softmax_kernel_override_with_index_and_values(wrong_softmax_plugin):
    report = run_selftest("cpu", ops=["Softmax"], models=[])
    assert not report.ok
    failed = {r.case: r.detail for r in report.failures}
    assert "kit_Softmax_float32_large" in failed and "test_softmax_large_number" in failed
    assert "first mismatch at index (0, 0): got nan" in failed["kit_Softmax_float32_large"]
    assert report.rows()[0].counts["passed"] > 0  # ordinary inputs pass: only the edge cases catch it


def test_selftest_command_exits_1_and_prints_the_failure(wrong_softmax_plugin, capsys, tmp_path):
    out_md = tmp_path / "report.md"
    assert main(["selftest", "-q", "-p", "cpu", "--ops", "Softmax", "--models", "none",
                 "--report", str(out_md)]) == 1
    text = capsys.readouterr().out
    assert "FAILED" in text and "first mismatch at index" in text
    assert "## Failures" in out_md.read_text() and "kit_Softmax_float32_large" in out_md.read_text()


@needs_c
def test_selftest_catches_a_c_relu_that_skips_the_last_n_mod_8_elements(tmp_path):
    src = tmp_path / "relu_skip_tail.c"
    src.write_text(RELU_SKIPPING_TAIL)
    report = run_selftest("embedded_c", {"kernels": {"Relu": str(src)}}, ops=["Relu"], models=[])
    assert not report.ok
    failed = {r.case: r.detail for r in report.failures}
    assert "index (1000,)" in failed["kit_Relu_float32_1001"]  # 1001 = 125 * 8 + 1: only the last is missed
    assert "kit_Relu_float32_scalar" in failed and "kit_Relu_float32_7" in failed
    assert "kit_Relu_float32_0" not in failed


@needs_c
def test_selftest_passes_the_correct_vendor_relu_through_the_cli(capsys):
    relu_fast = ROOT / "tests" / "embedded_c" / "relu_fast.c"
    code = main(["selftest", "-q", "-p", "embedded_c", "-o", f'kernels={{"Relu": "{relu_fast}"}}', "--ops", "Relu",
                 "--models", "none"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "kernels" in text and "Relu" in text and "OK" in text


# --------------------------------------------------------------------------- third-party device provider, models


def test_selftest_of_a_plugin_provider_on_its_own_device(sim_plugin):
    report = run_selftest("sim", ops=["Relu", "Tanh"], models=[])
    assert report.ok, report.table()
    rows = _rows(report)
    assert rows[("Relu", "float32")].claimed > 0
    assert rows[("Tanh", "float32")].claimed == 0 and "no kernel" in rows[("Tanh", "float32")].first_refusal


def _chain_model(path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["m"]),
             helper.make_node("Add", ["m", "x"], ["y"])]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])],
                              [onnx.numpy_helper.from_array(np.eye(4, dtype=np.float32) * 2, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_model_check_counts_only_the_input_and_output_copies(sim_plugin, tmp_path):
    _chain_model(tmp_path / "chain.onnx")
    result = Selftest("sim").run_model("chain", str(tmp_path / "chain.onnx"))
    assert (result.status, result.nodes_on_provider, result.nodes, result.copies) == ("passed", 3, 3, 2), result


def test_light_models_are_found_and_run_with_the_provider_first():
    if "squeezenet" not in light_models():
        pytest.skip("onnx was installed without its light models")
    report = run_selftest("cpu", ops=["Relu"], models=["squeezenet", "no_such_model"], edge_cases=False)
    assert [m.model for m in report.models] == ["squeezenet"] and report.models[0].status == "passed"
    assert report.missing_models == ["no_such_model"] and "not installed" in report.table()


# --------------------------------------------------------------------------- pytest plugin


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_own.py").write_text("def test_own():\n    assert True\n")
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "ep_runtime.testing.pytest_plugin",
                           "-p", "no:cacheprovider", "-q", "-rs", *args, "test_own.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_pytest_plugin_adds_nothing_without_ep_provider(tmp_path):
    proc = _pytest(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "ep_selftest" not in proc.stdout


CARELESS_SOFTMAX_CONFTEST = """
import numpy as np
import ep_runtime as ep
from ep_runtime import KernelRegistry, hookimpl
from ep_runtime.plugins import get_plugin_manager

KERNELS = KernelRegistry()


@KERNELS.kernel("Softmax", since=13, impl="careless-vendor")
def softmax(x, *, axis=-1):
    e = np.exp(x)  # no maximum subtracted: overflows on large inputs
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


class Plugin:
    @hookimpl
    def ep_runtime_kernels(self, provider_name):
        return KERNELS if provider_name == "CPUExecutionProvider" else None


get_plugin_manager().register(Plugin(), name="careless-softmax")
"""


def test_pytest_plugin_runs_the_kit_and_fails_the_wrong_kernel_with_index_and_values(tmp_path):
    (tmp_path / "conftest.py").write_text(CARELESS_SOFTMAX_CONFTEST)
    proc = _pytest(tmp_path, "--ep-provider", "cpu", "--ep-ops", "Softmax,Abs", "--ep-models", "none",
                   "--ep-report", str(tmp_path / "r.md"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    # its own test and Abs in 7 dtypes pass; Softmax v13 in float16, float32 and float64 fails
    assert "3 failed, 8 passed" in out
    assert "ep_selftest[Softmax-v13-float32]" in out and "first mismatch at index (0, 0): got nan" in out
    assert "CPUExecutionProvider:" in out and "kit_Softmax_float32_large" in (tmp_path / "r.md").read_text()


def test_pytest_plugin_is_declared_as_a_pytest11_entry_point():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"ep_runtime_testing": "ep_runtime.testing.pytest_plugin"}


def test_pytest_plugin_rejects_an_unknown_provider(tmp_path):
    proc = _pytest(tmp_path, "--ep-provider", "nosuch")
    assert proc.returncode != 0
    assert "unknown execution provider 'nosuch'" in proc.stdout + proc.stderr


def test_selftest_needs_exactly_one_provider(capsys):
    assert main(["selftest", "-p", "cpu", "-p", "cpu", "--models", "none"]) == 1
    assert "exactly one -p" in capsys.readouterr().err


def test_report_markdown_lists_every_row():
    report = run_selftest("cpu", ops=["Transpose"], models=[], onnx_cases=False)
    md = report.markdown()
    assert md.count("| Transpose | 13 |") == len(report.rows()) > 3
    assert md.startswith("# ep-runtime selftest: CPUExecutionProvider")


RELU_WRITING_NOTHING = """
#include "relu.h"

int ep_relu(const ep_tensor *x, ep_tensor *y)
{
    (void)x;
    (void)y;
    return EP_OK;
}
"""


@needs_c
@pytest.mark.parametrize("fused", [False, True])
def test_poisoned_outputs_show_what_a_kernel_left_unwritten(tmp_path, fused):
    # stale memory may hold the right answer by chance; with poison_outputs (which the kit turns on)
    # every element a kernel does not write is NaN, so a gate can never pass it
    src = tmp_path / "relu_nothing.c"
    src.write_text(RELU_WRITING_NOTHING)
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])]), opset_imports=[helper.make_opsetid("", 17)])
    options = {"kernels": {"Relu": str(src)}, "fused": fused, "poison_outputs": True}
    sess = ep.InferenceSession(model, providers=[("embedded_c", options)])
    for _ in range(2):
        (y,) = sess.run(None, {"x": np.arange(5, dtype=np.float32)})
        assert np.isnan(y).all()
    assert run_selftest("embedded_c", {"kernels": {"Relu": str(src)}}, ops=["Relu"], models=[]).failures
