"""The `ep-runtime` command: run on random or given inputs, print the partition, list providers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ep_runtime import hookimpl
from ep_runtime.cli import main
from tests.helpers.plugins import registered_plugin

MODEL = os.path.join(os.path.dirname(__file__), "..", "examples", "models", "tiny_cnn.onnx")


def test_run_prints_output_shapes_and_timing(capsys):
    assert main(["run", MODEL, "-p", "cpu", "-n", "3", "--dim", "batch=2"]) == 0
    out = capsys.readouterr().out
    assert "input  image: shape [2, 3, 32, 32] float32" in out
    assert "output probabilities: shape [2, 10] float32" in out
    assert "median" in out and "over 3 run(s)" in out


def test_run_reads_given_npy_inputs_and_saves_outputs(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", MODEL, "-i", f"image={tmp_path / 'x.npy'}", "-o", str(tmp_path / "out")]) == 0
    probs = np.load(tmp_path / "out" / "probabilities.npy")
    assert probs.shape == (1, 10)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)


def test_partition_prints_the_plan_table_and_json(capsys):
    assert main(["partition", MODEL, "-p", "cpu"]) == 0
    table = capsys.readouterr().out
    assert "conv0" in table and "CPUExecutionProvider" in table and "subgraphs: 1" in table
    assert main(["partition", MODEL, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {n["provider"] for n in data["nodes"]} == {"CPUExecutionProvider"}


def test_errors_are_reported_without_a_traceback(capsys, tmp_path):
    assert main(["run", MODEL, "-p", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "unknown execution provider 'nosuch'" in err and "Traceback" not in err


def test_console_script_is_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "ep-runtime")
    result = subprocess.run([exe, "providers"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "CPUExecutionProvider: available" in result.stdout


def test_plugins_can_add_subcommands(capsys):
    from ep_runtime import hookimpl

    class Plugin:
        @hookimpl
        def ep_runtime_add_commands(self, subparsers):
            cmd = subparsers.add_parser("hello", help="say hello")
            cmd.add_argument("name")
            cmd.set_defaults(fn=lambda args: print(f"hello {args.name}") or 0)

    with registered_plugin(Plugin(), "test-hello"):
        assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"


def _write_bad_model(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"this is not a protobuf")
    return str(path)


@pytest.mark.parametrize("command", ["run", "partition", "export-c"])
def test_a_missing_or_corrupt_model_is_a_one_line_error_in_every_subcommand(command, tmp_path, capsys):
    extra = ["-o", str(tmp_path / "out")] if command == "export-c" else []
    for model, expected in ((str(tmp_path / "missing.onnx"), "missing.onnx"),
                            (_write_bad_model(tmp_path), "is not a valid ONNX model")):
        assert main([command, model, *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("ep-runtime: error: ") and expected in err, err
        assert "Traceback" not in err


def test_bad_option_values_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("not an array")
    cases = [(["--dim", "batch=x"], "--dim expects NAME=INT, got 'batch=x'"),
             (["-i", "image"], "--input expects NAME=FILE.npy"),
             (["-i", f"image={tmp_path / 'x.txt'}"], "--input image: cannot read"),
             (["-i", f"image={tmp_path / 'none.npy'}"], "--input image: cannot read"),
             (["--timeout-ms", "-1"], "ep_runtime.run_timeout_ms")]
    for extra, expected in cases:
        assert main(["run", MODEL, *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("ep-runtime: error: ") and expected in err and "Traceback" not in err, err


class _FailingPlugin:
    """Adds `fail KIND`: raises an unexpected error, or exits with a message as plugin commands do."""

    @hookimpl
    def ep_runtime_add_commands(self, subparsers):
        cmd = subparsers.add_parser("fail")
        cmd.add_argument("kind")
        cmd.set_defaults(fn=self.fail)

    @staticmethod
    def fail(args):
        if args.kind == "exit":
            raise SystemExit("fail expects a better argument")
        raise RuntimeError("something broke inside")


@pytest.fixture
def failing_plugin():

    with registered_plugin(_FailingPlugin(), "test-failing-command"):
        yield


def test_plugin_subcommand_failures_are_one_line_errors_and_debug_shows_the_traceback(failing_plugin, capsys):
    assert main(["fail", "crash"]) == 1
    err = capsys.readouterr().err
    assert err == ("ep-runtime: error: RuntimeError: something broke inside "
                   "(rerun with --debug for the traceback)\n")
    assert main(["fail", "exit"]) == 1
    assert capsys.readouterr().err == "ep-runtime: error: fail expects a better argument\n"
    assert main(["--debug", "fail", "crash"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'raise RuntimeError("something broke inside")' in err
    assert err.endswith("ep-runtime: error: RuntimeError: something broke inside "
                        "(rerun with --debug for the traceback)\n")


def test_debug_shows_the_traceback_of_an_ep_runtime_error(capsys):
    assert main(["--debug", "run", MODEL, "-p", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ProviderError" in err
    assert err.endswith("ep-runtime: error: " + err.rsplit("ep-runtime: error: ", 1)[1])


def test_run_timeout_stops_a_runaway_loop_with_a_one_line_error(tmp_path):
    from onnx import TensorProto, helper

    def vi(name, elem):
        return helper.make_tensor_value_info(name, elem, [])

    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["x", "x"], ["x_out"])], "body",
        [vi("i", TensorProto.INT64), vi("c", TensorProto.BOOL), vi("x", TensorProto.FLOAT)],
        [vi("c_out", TensorProto.BOOL), vi("x_out", TensorProto.FLOAT)])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["M", "cond", "x0"], ["x"], body=body)], "g", [vi("x0", TensorProto.FLOAT)],
        [vi("x", TensorProto.FLOAT)],
        initializer=[helper.make_tensor("M", TensorProto.INT64, [], [10**12]),
                     helper.make_tensor("cond", TensorProto.BOOL, [], [True])])
    path = tmp_path / "runaway.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    exe = os.path.join(os.path.dirname(sys.executable), "ep-runtime")
    result = subprocess.run([exe, "run", str(path), "--timeout-ms", "300"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("ep-runtime: error: run cancelled before a call of body graph 'body'")
    assert result.stderr.count("\n") == 1
    assert "longer than its timeout of 300 ms" in result.stderr and "Traceback" not in result.stderr
