"""Kernel gates (`ep-runtime check-kernel`, ep_runtime.testing.gate): a C kernel or a Python kernel held to
the reference CPU provider on the kit's cases. The wrong kernels of issue 12 fail it (a C Relu that skips
the last n mod 8 elements, a Softmax override that overflows), also when a plugin package ships them; the
correct ones pass; a plugin's kernel override shows in the partition and in validation mode."""

from __future__ import annotations

import json
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

import ep_runtime
from ep_runtime import KernelRegistry, hookimpl
from ep_runtime.cli import main
from ep_runtime.errors import InvalidArgument
from ep_runtime.testing.gate import check_kernel
from providers.embedded_c import EmbeddedCExecutionProvider
from tests.helpers.plugins import registered_plugin
from tests.plugin_packaging import run_python, write_distribution
from tests.test_selftest import RELU_SKIPPING_TAIL

ROOT = Path(__file__).resolve().parents[1]
RELU_FAST = ROOT / "tests" / "embedded_c" / "relu_fast.c"
needs_c = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

#: a Softmax that forgets to subtract the maximum: right on small inputs, NaN on large ones
CARELESS_SOFTMAX = """
import numpy as np


def softmax(x, *, axis=-1):
    e = np.exp(x)
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)
"""

STABLE_SOFTMAX = """
import numpy as np


def softmax(x, *, axis=-1):
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(axis=axis, keepdims=True)) if x.size else x
        return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)
"""


@pytest.fixture
def kernel_modules(tmp_path, monkeypatch):
    """Modules `careless_softmax` and `stable_softmax` importable as module:function."""
    (tmp_path / "careless_softmax.py").write_text(CARELESS_SOFTMAX)
    (tmp_path / "stable_softmax.py").write_text(STABLE_SOFTMAX)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("careless_softmax", "stable_softmax"):
        sys.modules.pop(name, None)


@pytest.fixture
def relu_skipping_tail(tmp_path):
    src = tmp_path / "relu_skip_tail.c"
    src.write_text(RELU_SKIPPING_TAIL)
    return src


# --------------------------------------------------------------------------- C kernels


@needs_c
def test_c_relu_that_skips_the_last_n_mod_8_elements_fails_the_gate_at_the_tail(relu_skipping_tail):
    report = check_kernel("Relu", relu_skipping_tail)
    assert not report.passed
    failed = {r.case: r.detail for r in report.failures}
    assert "first mismatch at index (1000,)" in failed["kit_Relu_float32_1001"]  # 125 * 8 + 1: only the last
    assert "(1 of 1001 elements differ)" in failed["kit_Relu_float32_1001"]
    assert "kit_Relu_float32_0" not in failed  # an empty tensor has no tail


@needs_c
def test_check_kernel_cli_fails_the_c_relu_with_index_and_values_and_passes_the_correct_one(
        relu_skipping_tail, capsys):
    assert main(["check-kernel", f"Relu={relu_skipping_tail}"]) == 1
    out = capsys.readouterr().out
    assert "on EmbeddedCExecutionProvider" in out  # a source file goes to the provider that takes sources
    assert "FAIL:" in out and "first mismatch at index" in out and "got " in out and "want " in out
    assert main(["check-kernel", f"Relu={RELU_FAST}", "-p", "embedded_c", "-o", "fused=true"]) == 0
    out = capsys.readouterr().out
    assert "PASS:" in out and "'fused': True" in out


def test_check_kernel_names_a_missing_source_file(capsys):
    assert main(["check-kernel", "Relu=no_such_relu.c"]) == 1
    assert "kernel source 'no_such_relu.c' for Relu does not exist" in capsys.readouterr().err


def test_a_source_file_for_a_provider_that_takes_none_is_refused_not_ignored():
    with pytest.raises(InvalidArgument, match="CPUExecutionProvider does not take kernel source files"):
        check_kernel("Relu", RELU_FAST, provider="cpu")


# --------------------------------------------------------------------------- Python kernels


def test_wrong_python_softmax_fails_the_gate_with_the_first_mismatch(kernel_modules):
    report = check_kernel("Softmax", "careless_softmax:softmax")
    assert not report.passed and report.selftest.provider == "CPUExecutionProvider"
    failed = {r.case: r.detail for r in report.failures}
    assert "first mismatch at index (0, 0): got nan" in failed["kit_Softmax_float32_large"]
    assert "kit_Softmax_float32_13_axis-1" not in failed  # ordinary inputs pass: the edge cases catch it
    assert "FAIL:" in report.report()


def test_correct_python_softmax_passes_the_gate_through_the_cli(kernel_modules, capsys):
    assert main(["check-kernel", "Softmax=stable_softmax:softmax", "-p", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "PASS:" in out and "Softmax = stable_softmax:softmax on CPUExecutionProvider" in out
    assert main(["check-kernel", "Softmax=careless_softmax:softmax"]) == 1
    assert "first mismatch at index (0, 0): got nan" in capsys.readouterr().out


def test_a_python_kernel_refusing_an_attribute_is_refused_not_run_by_the_kernel_it_replaces(tmp_path, monkeypatch):
    (tmp_path / "axisless_softmax.py").write_text("import numpy as np\n\n\ndef softmax(x):\n"
                                                  "    e = np.exp(x - x.max(-1, keepdims=True))\n"
                                                  "    return e / e.sum(-1, keepdims=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    report = check_kernel("Softmax", "axisless_softmax:softmax", dtypes=["float32"], with_onnx_cases=False)
    refused = [r for r in report.selftest.cases if r.status == "refused"]
    assert refused and all("attribute 'axis' not supported" in r.detail for r in refused)
    assert report.claimed == 0 and not report.passed  # nothing ran the kernel: the gate does not pass
    assert "ran none of the" in report.report()
    sys.modules.pop("axisless_softmax", None)


def test_python_kernel_errors_name_the_culprit(capsys):
    with pytest.raises(InvalidArgument, match="cannot import the kernel's module 'no_such_module'"):
        check_kernel("Softmax", "no_such_module:softmax")
    with pytest.raises(InvalidArgument, match="module 'numpy' has no 'no_such_function'"):
        check_kernel("Softmax", "numpy:no_such_function")
    if EmbeddedCExecutionProvider.is_available():
        with pytest.raises(InvalidArgument, match="EmbeddedCExecutionProvider is not a kernel provider"):
            check_kernel("Relu", "numpy:maximum", provider="embedded_c")
    assert main(["check-kernel", "Softmax=no_such_module:softmax"]) == 1
    assert "ep-runtime: error: cannot import the kernel's module 'no_such_module'" in capsys.readouterr().err


# --------------------------------------------------------------------------- plugin overrides are not silent


@pytest.fixture
def careless_plugin(kernel_modules):
    """A plugin replacing the CPU provider's Softmax with the careless one, registered as `impl` "default"."""
    import careless_softmax

    kernels = KernelRegistry()
    kernels.kernel("Softmax", since=13)(careless_softmax.softmax)
    plugin = types.SimpleNamespace(
        ep_runtime_kernels=hookimpl(lambda provider_name: kernels if provider_name == "CPUExecutionProvider"
                                    else None))
    with registered_plugin(plugin, "test-careless-softmax"):
        yield


def _softmax_model():
    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["y"])], "sm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_gate_of_the_installed_kernel_fails_a_plugin_override(careless_plugin, capsys):
    assert main(["check-kernel", "Softmax", "-p", "cpu", "--no-onnx-cases"]) == 1
    out = capsys.readouterr().out
    assert "Softmax = the installed kernel on CPUExecutionProvider" in out and "got nan" in out


def test_plugin_kernel_override_shows_in_the_partition_and_in_validation_mode(careless_plugin):
    opts = ep_runtime.SessionOptions()
    opts.add_session_config_entry("ep_runtime.validate", "1")
    sess = ep_runtime.InferenceSession(_softmax_model(), opts, providers=["cpu"])
    part = sess.get_partition()
    note = "CPUExecutionProvider: kernel careless_softmax:softmax from a plugin"
    assert note in part.explain()
    assert part.to_dict()["nodes"][0]["notes"] == [note]
    sess.run(None, {"x": np.array([[1e30, 0, 1], [1, 2, 3]], np.float32)})
    outputs = sess.get_validation_report().to_dict()["subgraphs"][0]["outputs"]["y"]
    assert outputs["max_abs"] == "inf" or outputs["problem"], outputs


def test_reference_cpu_provider_has_no_plugin_note():
    sess = ep_runtime.InferenceSession(_softmax_model(), providers=["cpu"])
    notes = sess.get_partition().to_dict()["nodes"][0]["notes"]
    assert not [n for n in notes if "plugin" in n], notes  # "kernel native" is the CPU's own


# --------------------------------------------------------------------------- a plugin package shipping wrong kernels

PACKAGE_PROVIDER = """
import numpy as np
from ep_runtime import KernelProvider, KernelRegistry

KERNELS = KernelRegistry()


@KERNELS.kernel("Softmax", since=13, dtypes=[np.float32])
def softmax(x, *, axis=-1):
    e = np.exp(x)  # no maximum subtracted: overflows on large inputs
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


@KERNELS.kernel("Relu", since=14, dtypes=[np.float32])
def relu(x):
    return np.maximum(x, np.float32(0))


class CarelessExecutionProvider(KernelProvider):
    name = "CarelessExecutionProvider"
    aliases = ("careless",)
    registry = KERNELS
"""

PACKAGE_PLUGIN = """
from ep_runtime import hookimpl

from .provider import KERNELS, CarelessExecutionProvider


@hookimpl
def ep_runtime_providers():
    return [CarelessExecutionProvider]


@hookimpl
def ep_runtime_kernels(provider_name):
    return KERNELS if provider_name == "CPUExecutionProvider" else None
"""

CHILD = """
import contextlib, io, json
from ep_runtime.cli import main

results = {}
for key, argv in ARGS.items():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    results[key] = [code, out.getvalue()]
print(json.dumps(results))
"""


def test_a_plugin_package_shipping_wrong_kernels_fails_check_kernel_and_selftest(tmp_path):
    site = tmp_path / "site"
    write_distribution(site, "careless-vendor", {"careless_vendor.__init__": "", "careless_vendor.provider":
                                                 PACKAGE_PROVIDER, "careless_vendor.plugin": PACKAGE_PLUGIN},
                       {"careless": "careless_vendor.plugin"})
    shipped_c = site / "careless_vendor" / "relu_skip_tail.c"
    shipped_c.write_text(RELU_SKIPPING_TAIL)
    args = {
        "own_provider_gate": ["check-kernel", "Softmax", "-p", "careless", "--no-onnx-cases"],
        "own_provider_correct_relu": ["check-kernel", "Relu", "-p", "careless", "--no-onnx-cases"],
        "own_provider_selftest": ["selftest", "-q", "-p", "careless", "--ops", "Softmax", "--models", "none",
                                  "--no-onnx-cases"],
        "cpu_override_gate": ["check-kernel", "Softmax", "-p", "cpu", "--no-onnx-cases"],
        "cpu_override_selftest": ["selftest", "-q", "-p", "cpu", "--ops", "Softmax", "--models", "none",
                                  "--no-onnx-cases"],
        "python_kernel_gate": ["check-kernel", "Softmax=careless_vendor.provider:softmax", "--no-onnx-cases"],
    }
    if EmbeddedCExecutionProvider.is_available():
        args["shipped_c_gate"] = ["check-kernel", f"Relu={shipped_c}", "--no-onnx-cases"]
    results = run_python(f"ARGS = {json.dumps(args)}\n" + textwrap.dedent(CHILD), site=site)
    for key in args:
        code, out = results[key]
        if key == "own_provider_correct_relu":
            assert code == 0 and "PASS:" in out, out
            continue
        assert code == 1, (key, out)
        assert "first mismatch at index" in out, (key, out)
    assert "CarelessExecutionProvider" in results["own_provider_gate"][1]
    assert "got nan" in results["cpu_override_gate"][1]
    if "shipped_c_gate" in results:
        assert "kit_Relu_float32_1001 (Relu v14 float32): output 'y0': first mismatch at index (1000,)" \
            in results["shipped_c_gate"][1]
