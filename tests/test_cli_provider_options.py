"""Provider options on the command line (`-p NAME -o KEY=VALUE`) for run, partition and selftest, and
`ep-runtime providers` saying why a provider is unavailable."""

from __future__ import annotations

import os
import types

import pytest

from ep_runtime import ExecutionProvider, hookimpl
from ep_runtime.cli import build_parser, main, parse_option_value, provider_list
from tests.helpers.plugins import registered_plugin

MODEL = os.path.join(os.path.dirname(__file__), "..", "examples", "models", "tiny_cnn.onnx")


def test_option_values_are_json_when_they_parse_else_text():
    assert parse_option_value("1") == 1 and parse_option_value("true") is True
    assert parse_option_value('{"Relu": "r.c"}') == {"Relu": "r.c"} and parse_option_value("[1, 2]") == [1, 2]
    assert parse_option_value("tiled") == "tiled" and parse_option_value('"7"') == "7"
    assert parse_option_value("a=b") == "a=b"


def test_each_option_applies_to_the_provider_before_it():
    args = build_parser().parse_args(["partition", MODEL, "-p", "embedded_c", "-o", "fused=true", "-o",
                                      'kernels={"Relu": "r.c"}', "-p", "cpu", "-p", "opencl",
                                      "--provider-option", "platform_id=0"])
    assert provider_list(args) == [("embedded_c", {"fused": True, "kernels": {"Relu": "r.c"}}), "cpu",
                                   ("opencl", {"platform_id": 0})]


def test_an_option_before_any_provider_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["partition", MODEL, "-o", "fused=true", "-p", "cpu"])
    assert exc.value.code == 2
    assert "must follow the -p it applies to" in capsys.readouterr().err


def test_an_option_without_a_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["partition", MODEL, "-p", "cpu", "-o", "fused"])
    assert "expects KEY=VALUE" in capsys.readouterr().err


def test_partition_passes_options_to_the_provider(capsys):
    assert main(["partition", MODEL, "-p", "cpu", "-o", "use_arena=1", "--json"]) == 0
    assert main(["partition", MODEL, "-p", "cpu", "-o", "no_such_option=1"]) == 1
    err = capsys.readouterr().err
    assert "does not understand option(s) 'no_such_option'" in err


def test_run_takes_provider_options_with_capital_o_and_keeps_o_for_the_output_folder(tmp_path, capsys):
    assert main(["run", MODEL, "-p", "cpu", "-O", "use_arena=1", "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "probabilities.npy").exists()
    assert main(["run", MODEL, "-p", "cpu", "--provider-option", "bogus=1"]) == 1
    assert "does not understand option(s) 'bogus'" in capsys.readouterr().err


class _AbsentProvider(ExecutionProvider):
    name = "AbsentTestExecutionProvider"
    aliases = ("absent_test",)

    @classmethod
    def unavailable_reason(cls):
        return "the absent-test accelerator is not plugged in"


def test_providers_command_prints_why_a_provider_is_unavailable(capsys):
    plugin = types.SimpleNamespace(ep_runtime_providers=hookimpl(lambda: [_AbsentProvider]))
    with registered_plugin(plugin, "test-absent"):
        assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "AbsentTestExecutionProvider: not available: the absent-test accelerator is not plugged in" in out
    assert "CPUExecutionProvider: available" in out
