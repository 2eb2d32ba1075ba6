"""Build examples/models/tiny_cnn.onnx: a small image classifier with seeded random weights.

Conv-BatchNorm-Relu-MaxPool twice, then Flatten-Gemm-Softmax on a 1x3x32x32 input with a
symbolic batch dim. Run `python examples/models/make_tiny_cnn.py` to rebuild it.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(2026)
    inits = []

    def weight(name: str, *shape: int, scale: float = 0.2) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def positive(name: str, n: int) -> str:
        inits.append(numpy_helper.from_array((rng.random(n) + 0.5).astype(np.float32), name))
        return name

    nodes = []
    x = "image"
    for k, (cin, cout) in enumerate([(3, 8), (8, 16)]):
        w, b = weight(f"conv{k}_w", cout, cin, 3, 3), weight(f"conv{k}_b", cout)
        s, bb = positive(f"bn{k}_scale", cout), weight(f"bn{k}_bias", cout)
        m, v = weight(f"bn{k}_mean", cout), positive(f"bn{k}_var", cout)
        nodes += [
            helper.make_node("Conv", [x, w, b], [f"conv{k}"], name=f"conv{k}", pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"conv{k}", s, bb, m, v], [f"bn{k}"], name=f"bn{k}"),
            helper.make_node("Relu", [f"bn{k}"], [f"relu{k}"], name=f"relu{k}"),
            helper.make_node("MaxPool", [f"relu{k}"], [f"pool{k}"], name=f"pool{k}",
                             kernel_shape=[2, 2], strides=[2, 2]),
        ]
        x = f"pool{k}"
    fw, fb = weight("fc_w", 10, 16 * 8 * 8, scale=0.05), weight("fc_b", 10)
    nodes += [
        helper.make_node("Flatten", [x], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", fw, fb], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ep-runtime")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_cnn.onnx")
    onnx.save(build(), out)
    print(f"wrote {out}")
