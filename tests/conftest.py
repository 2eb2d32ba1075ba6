"""Shared fixtures: the simulated-device plugin, small model builders."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ep_runtime.plugins import get_plugin_manager


@pytest.fixture
def sim_plugin():
    """Register the simulated-device provider plugin for one test."""
    from tests import sim_device

    pm = get_plugin_manager()
    pm.register(sim_device, name="test-sim-device")
    try:
        yield sim_device
    finally:
        pm.unregister(name="test-sim-device")


def make_model(nodes, inputs, outputs, initializers=(), opset=17, **kwargs) -> onnx.ModelProto:
    """A model from nodes; inputs/outputs are (name, elem_type, shape) triples."""
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)


def const(name: str, array) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(np.asarray(array), name)


F = TensorProto.FLOAT
I64 = TensorProto.INT64
