"""The `ep-runtime` command: run on random or given inputs, print the partition, list providers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from ep_runtime.cli import main

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
    from ep_runtime.plugins import get_plugin_manager

    class Plugin:
        @hookimpl
        def ep_runtime_add_commands(self, subparsers):
            cmd = subparsers.add_parser("hello", help="say hello")
            cmd.add_argument("name")
            cmd.set_defaults(fn=lambda args: print(f"hello {args.name}") or 0)

    pm = get_plugin_manager()
    pm.register(Plugin(), name="test-hello")
    try:
        assert main(["hello", "world"]) == 0
    finally:
        pm.unregister(name="test-hello")
    assert capsys.readouterr().out == "hello world\n"
