"""A vendor swaps one C kernel: `kernels={"Relu": "relu6.c"}` compiles their source instead of the
default, the partition says which nodes use it, and the export carries it too."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ep_runtime import InferenceSession
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.export import export_model, verify
from tests.embedded_c_helpers import lenet_model, single_node_model

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

RELU6 = os.path.join(os.path.dirname(__file__), "embedded_c", "relu6.c")
X = np.array([[-3.0, 0.5, 5.0, 7.0, 100.0]], dtype=np.float32)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_vendor_relu_replaces_the_default_kernel(fused):
    model = single_node_model("Relu", {"x": (1, 5)})
    sess = InferenceSession(model, providers=[("embedded_c", {"kernels": {"Relu": RELU6}, "fused": fused})])
    np.testing.assert_array_equal(sess.run(None, {"x": X})[0], [[0.0, 0.5, 5.0, 6.0, 6.0]])
    default = InferenceSession(model, providers=["embedded_c"])
    np.testing.assert_array_equal(default.run(None, {"x": X})[0], [[0.0, 0.5, 5.0, 7.0, 100.0]])


def test_partition_names_the_vendor_kernel():
    sess = InferenceSession(lenet_model(), providers=[("embedded_c", {"kernels": {"Relu": RELU6}})])
    part = sess.get_partition()
    text = part.explain()
    assert "kernel vendor:relu6.c" in text
    relu_rows = [line for line in text.splitlines() if " Relu " in line]
    conv_rows = [line for line in text.splitlines() if " Conv " in line]
    assert relu_rows and all("vendor:relu6.c" in r for r in relu_rows)
    assert conv_rows and not any("vendor" in r for r in conv_rows)


def test_unknown_op_in_kernels_option_is_an_error():
    with pytest.raises(Exception, match="has no C kernel"):
        InferenceSession(single_node_model("Relu", {"x": (1, 5)}),
                         providers=[("embedded_c", {"kernels": {"Nope": RELU6}})])


def test_export_carries_the_vendor_kernel(tmp_path):
    model = single_node_model("Relu", {"x": (1, 5)})
    res = export_model(model, tmp_path / "out", kernels={"Relu": RELU6})
    assert "6.0f" in (tmp_path / "out" / "relu.c").read_text()
    _, _, got, _ = verify(model, res)
    assert float(got[0].max()) <= 6.0
