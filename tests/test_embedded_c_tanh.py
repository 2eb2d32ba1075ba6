"""ONNX Tanh on the embedded C provider (csrc/ops/tanh.c through csrc/ep_tanh.h's rational ep_tanhf, the cpu
provider's native approximation): within 4e-7 relative of tanh over the whole float range, +-0, NaN and
infinities as tanh gives them."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from providers.embedded_c import EmbeddedCExecutionProvider
from tests.embedded_c_helpers import strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")


def tanh_model(n: int):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])
    graph = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "tanh", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_tanh_is_within_4e7_relative_of_tanh_and_keeps_signed_zeros_nan_and_infinities(fused):
    bits = np.arange(0x00800000, 0x41300000, 97, dtype=np.uint32)  # every binade from the smallest normal to 11
    positive = bits.view(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 7.9, -7.9, 8.0], np.float32)
    x = np.concatenate([positive, -positive, special])
    got = strict_session(tanh_model(x.size), fused=fused).run(None, {"x": x})[0]
    want = np.tanh(x.astype(np.float64))
    finite = np.isfinite(x) & (x != 0)
    assert np.max(np.abs(got[finite] - want[finite]) / np.abs(want[finite])) < 4e-7
    tail = got[-special.size:]
    assert np.array_equal(np.signbit(tail[:2]), [False, True]) and np.all(tail[:2] == 0)
    np.testing.assert_array_equal(tail[2:4], [1.0, -1.0])
    assert np.isnan(tail[4])
    np.testing.assert_array_equal(tail[5:7], [1.0, -1.0])
