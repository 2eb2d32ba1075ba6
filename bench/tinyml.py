"""The two TensorFlow Lite Micro example models, rebuilt as ONNX with random weights and quantized to
int8 by onnxruntime's own tool (quantize_static, QOperator format: QLinearConv / QLinearMatMul), so the
embedded C export's footprint can stand beside the numbers TFLite Micro publishes for them.

- `micro_speech`: the keyword spotter of TFLite Micro's micro_speech example ("tiny_conv"): a 49x40
  spectrogram, one 10x8 convolution of 8 filters at stride 2, ReLU, a fully connected layer to 4
  classes, softmax. The example's README gives about 20 kB of model, 22 kB of code (Cortex-M3) and
  10 kB of RAM for working memory.
- `person_detection`: the MobileNet v1 (width 0.25) of the person_detection example: a 96x96
  grayscale image, 13 depthwise-separable blocks, global average pooling, 2 classes. The example
  reserves a 136 kB tensor arena (`kTensorArenaSize = 136 * 1024`).

The architectures follow those examples; the weights are random (the footprint does not depend on
them) and calibration uses random inputs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: what TFLite Micro publishes for its own examples (bytes), where it publishes it
PUBLISHED = {
    "micro_speech": {"model": 20 * 1024, "code": 22 * 1024, "ram": 10 * 1024,
                     "source": "micro_speech example README: ~20 kB model, ~22 kB code on a Cortex-M3, ~10 kB RAM"},
    "person_detection": {"ram": 136 * 1024,
                         "source": "person_detection example: kTensorArenaSize = 136 * 1024"},
}


def _const(rng: np.random.Generator, name: str, *shape: int) -> onnx.TensorProto:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)


def micro_speech_model(seed: int = 0) -> onnx.ModelProto:
    """tiny_conv: [1, 1, 49, 40] -> Conv 8x1x10x8 s2 (same padding) -> Relu -> FC 4000x4 -> Softmax."""
    rng = np.random.default_rng(seed)
    mk = helper.make_node
    inits = [_const(rng, "w", 8, 1, 10, 8), _const(rng, "b", 8), _const(rng, "fc", 25 * 20 * 8, 4),
             _const(rng, "fb", 4), numpy_helper.from_array(np.array([1, -1], np.int64), "flat")]
    nodes = [mk("Conv", ["x", "w", "b"], ["c"], strides=[2, 2], pads=[4, 3, 5, 3]), mk("Relu", ["c"], ["r"]),
             mk("Reshape", ["r", "flat"], ["f"]), mk("MatMul", ["f", "fc"], ["m"]), mk("Add", ["m", "fb"], ["l"]),
             mk("Softmax", ["l"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "micro_speech",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 49, 40])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


#: MobileNet v1's depthwise-separable blocks at width 0.25: (output channels, stride)
_MOBILENET_V1_BLOCKS = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1), (128, 1),
                        (128, 1), (128, 1), (256, 2), (256, 1)]


def person_detection_model(seed: int = 0) -> onnx.ModelProto:
    """MobileNet v1 0.25 on a [1, 1, 96, 96] image: Conv 3x3 s2 (8), 13 depthwise + pointwise blocks with
    ReLU6, GlobalAveragePool, FC to 2 classes, Softmax."""
    rng = np.random.default_rng(seed)
    mk = helper.make_node
    inits = [_const(rng, "w0", 8, 1, 3, 3), _const(rng, "b0", 8)]
    nodes = [mk("Conv", ["x", "w0", "b0"], ["c0"], strides=[2, 2], pads=[0, 0, 1, 1]),
             mk("Clip", ["c0"], ["a0"], min=0.0, max=6.0)]
    prev, ch = "a0", 8
    for k, (out, stride) in enumerate(_MOBILENET_V1_BLOCKS, 1):
        inits += [_const(rng, f"dw{k}", ch, 1, 3, 3), _const(rng, f"db{k}", ch),
                  _const(rng, f"pw{k}", out, ch, 1, 1), _const(rng, f"pb{k}", out)]
        pads = [1, 1, 1, 1] if stride == 1 else [0, 0, 1, 1]
        nodes += [mk("Conv", [prev, f"dw{k}", f"db{k}"], [f"d{k}"], group=ch, strides=[stride, stride], pads=pads),
                  mk("Clip", [f"d{k}"], [f"da{k}"], min=0.0, max=6.0),
                  mk("Conv", [f"da{k}", f"pw{k}", f"pb{k}"], [f"p{k}"]),
                  mk("Clip", [f"p{k}"], [f"pa{k}"], min=0.0, max=6.0)]
        prev, ch = f"pa{k}", out
    inits += [_const(rng, "fc", ch, 2), _const(rng, "fb", 2),
              numpy_helper.from_array(np.array([1, -1], np.int64), "flat")]
    nodes += [mk("GlobalAveragePool", [prev], ["gap"]), mk("Reshape", ["gap", "flat"], ["f"]),
              mk("MatMul", ["f", "fc"], ["m"]), mk("Add", ["m", "fb"], ["l"]), mk("Softmax", ["l"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "person_detection",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 96, 96])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    # opset 11+: Clip's bounds are inputs; this builder writes them as attributes, so opset 10
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 10)])


def quantized(model: onnx.ModelProto, seed: int = 0, batches: int = 8) -> onnx.ModelProto:
    """`model` quantized to int8 by onnxruntime's quantize_static (QOperator format, int8 activations and
    per-tensor int8 weights, as TFLite Micro's int8 models are), calibrated on random inputs. Conv and
    MatMul are quantized (QLinearConv, QLinearMatMul; ReLU and ReLU6 fold into their output ranges), and
    a Reshape between two of them stays int8 (as in TFLite Micro's models; else onnxruntime leaves a float
    DequantizeLinear -> Reshape -> QuantizeLinear island there); the small Add, pooling and Softmax at the
    end stay float after a DequantizeLinear, since onnxruntime would otherwise write them as com.microsoft
    ops."""
    from onnxruntime import quantization

    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    name = model.graph.input[0].name

    class Calibration(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(seed)
            self.feeds = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(batches)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="ep_tinyml_") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, src)
        quantization.quantize_static(str(src), str(dst), Calibration(), quant_format=quantization.QuantFormat.QOperator,
                                     activation_type=quantization.QuantType.QInt8,
                                     weight_type=quantization.QuantType.QInt8,
                                     op_types_to_quantize=["Conv", "MatMul", "Relu", "Clip", "Reshape"])
        return onnx.load(str(dst))


#: the int8 models, by name
MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "micro_speech": lambda: quantized(micro_speech_model()),
    "person_detection": lambda: quantized(person_detection_model()),
}
