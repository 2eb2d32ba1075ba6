"""Hooks are called the way pluggy calls them: each implementation gets only the arguments it declares,
so a plugin may leave out the ones it does not need (docs/writing-a-provider.md, section 2)."""

from __future__ import annotations

import argparse
import types
import warnings

import numpy as np
from onnx import TensorProto, helper

from ep_runtime import InferenceSession, KernelRegistry, hookimpl
from ep_runtime.cli import build_parser
from ep_runtime.plugins import PluginWarning, get_plugin_manager

TWICE = KernelRegistry()


@TWICE.kernel("Twice", since=1, domain="com.test.hooks")
def twice(x):
    return x * x.dtype.type(2)


def _registered(name: str, **hooks):
    pm = get_plugin_manager()
    pm.register(types.SimpleNamespace(**{k: hookimpl(v) for k, v in hooks.items()}), name=name)
    return pm


def test_a_kernels_hook_without_provider_name_is_called_and_its_kernels_used():
    calls = []

    def ep_runtime_kernels():  # declares no argument: serves every kernel provider
        calls.append(True)
        return TWICE

    pm = _registered("test-kernels-no-args", ep_runtime_kernels=ep_runtime_kernels)
    try:
        model = helper.make_model(
            helper.make_graph([helper.make_node("Twice", ["x"], ["y"], domain="com.test.hooks")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])]),
            opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.test.hooks", 1)])
        with warnings.catch_warnings():
            warnings.simplefilter("error", PluginWarning)
            out = InferenceSession(model, providers=["cpu"]).run(None, {"x": np.arange(3, dtype=np.float32)})
        assert calls and out[0].tolist() == [0.0, 2.0, 4.0]
        assert pm.get_plugin("test-kernels-no-args") is not None  # not skipped
    finally:
        pm.unregister(name="test-kernels-no-args")


def test_an_add_commands_hook_without_subparsers_is_called_without_arguments():
    seen = []
    pm = _registered("test-commands-no-args", ep_runtime_add_commands=lambda: seen.append("called"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PluginWarning)
            assert isinstance(build_parser(), argparse.ArgumentParser)
        assert seen == ["called"]
    finally:
        pm.unregister(name="test-commands-no-args")
