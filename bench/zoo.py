"""A generated model zoo for the real-model benchmark: edge architectures written with onnx.helper.

Each builder returns an `onnx.ModelProto` shaped the way torch.onnx.export (opset 17, eval mode)
writes the architecture: BatchNormalization folded into the Conv weights, ReLU6 as Clip with
constant bounds, HardSwish/HardSigmoid as their ONNX ops, SiLU as Sigmoid + Mul, GELU as the
erf formula, LayerNormalization as one op, attention as MatMul/Softmax, LSTMs as ONNX LSTM nodes,
and a symbolic batch dimension on every input. Weights are random (seeded) at the real layer
sizes, scaled by 1/sqrt(fan-in) so activations stay in a sane range through the whole depth.

    from bench.zoo import ZOO, build, example_feed
    model = build("yolov8", image=320)          # ModelProto
    feed = example_feed(model, seed=0)          # {input name: array}

The zoo (input sizes for edge use): mobilenet_v2 and mobilenet_v3_small (224x224), yolov5 (Focus,
C3, SPPF) and yolov8 (C2f, SPPF, DFL head) at 320x320, crnn (32x128 grey, two bidirectional LSTMs),
transformer (6 post-LN encoder layers, d=256, 4 heads, sequence 128), streaming_audio (an If on the
sample rate choosing a branch with a one-channel STFT conv, kernel 256 stride 128, and an LSTM
carrying state) and unet (Resize and ConvTranspose upsampling, 256x256).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
BATCH = "batch"


class GraphBuilder:
    """Accumulates nodes and seeded random initializers; names every value uniquely."""

    def __init__(self, seed: int, prefix: str = "") -> None:
        self.rng = np.random.default_rng(seed)
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{self.prefix}{prefix}_{self._count}"

    def const(self, value: Any, prefix: str = "c", dtype: Any = None) -> str:
        """An initializer holding `value` (np.float32 unless `dtype` or an ndarray's own dtype)."""
        arr = np.asarray(value, dtype=dtype if dtype is not None else getattr(value, "dtype", np.float32))
        name = self.fresh(prefix)
        self.initializers.append(numpy_helper.from_array(arr, name=name))
        return name

    def ints(self, values: list[int], prefix: str = "shape") -> str:
        return self.const(np.asarray(values, np.int64), prefix)

    def weight(self, shape: tuple[int, ...], fan_in: int, prefix: str = "w", gain: float = 1.0) -> str:
        std = gain / math.sqrt(max(fan_in, 1))
        return self.const(self.rng.standard_normal(shape).astype(np.float32) * std, prefix)

    def bias(self, n: int, prefix: str = "b") -> str:
        return self.const(self.rng.uniform(-0.1, 0.1, n).astype(np.float32), prefix)

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, domain: str = "", **attrs: Any) -> Any:
        """Append a node; returns its output name (or the list of names when `outputs` > 1)."""
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.fresh(op_type), domain=domain, **attrs))
        return names[0] if outputs == 1 else names

    # layers ---------------------------------------------------------------------------------------

    def conv(self, x: str, cin: int, cout: int, k: int | tuple[int, int], stride: int | tuple[int, int] = 1,
             groups: int = 1, pad: int | tuple[int, int] | None = None, dilation: int = 1, bias: bool = True,
             gain: float = 1.4) -> str:
        """A 2-D Conv (BatchNorm folded in: a bias) with 'same'-style symmetric padding by default."""
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        if pad is None:
            pad = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
        ph, pw = (pad, pad) if isinstance(pad, int) else pad
        w = self.weight((cout, cin // groups, kh, kw), cin // groups * kh * kw, gain=gain)
        inputs = [x, w] + ([self.bias(cout)] if bias else [])
        return self.op("Conv", inputs, kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                       dilations=[dilation, dilation], group=groups)

    def relu6(self, x: str) -> str:
        return self.op("Clip", [x, self.const(np.float32(0.0), "min"), self.const(np.float32(6.0), "max")])

    def silu(self, x: str) -> str:
        return self.op("Mul", [x, self.op("Sigmoid", [x])])

    def hardswish(self, x: str) -> str:
        return self.op("HardSwish", [x])

    def gelu(self, x: str) -> str:
        """GELU as torch exports it at opset 17: x * 0.5 * (1 + erf(x / sqrt(2)))."""
        e = self.op("Erf", [self.op("Div", [x, self.const(np.float32(math.sqrt(2.0)))])])
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [e, self.const(np.float32(1.0))])]),
                               self.const(np.float32(0.5))])

    def linear(self, x: str, din: int, dout: int) -> str:
        """torch.nn.Linear on a 3-D tensor: MatMul by the transposed weight, then Add of the bias."""
        return self.op("Add", [self.op("MatMul", [x, self.weight((din, dout), din)]), self.bias(dout)])

    def gemm(self, x: str, din: int, dout: int) -> str:
        """torch.nn.Linear on a 2-D tensor: Gemm with transB=1, as the exporter writes it."""
        return self.op("Gemm", [x, self.weight((dout, din), din), self.bias(dout)], transB=1)

    def maxpool(self, x: str, k: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                pad: int = 0) -> str:
        kh, kw = (k, k) if isinstance(k, int) else k
        stride = stride if stride is not None else (kh, kw)
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        return self.op("MaxPool", [x], kernel_shape=[kh, kw], strides=[sh, sw], pads=[pad] * 4)

    def upsample2x(self, x: str, mode: str = "nearest") -> str:
        """nn.Upsample(scale_factor=2) as exported: Resize with empty roi and constant scales."""
        scales = self.const(np.asarray([1, 1, 2, 2], np.float32), "scales")
        attrs: dict[str, Any] = {"mode": mode}
        if mode == "nearest":
            attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        else:
            attrs.update(coordinate_transformation_mode="pytorch_half_pixel")
        return self.op("Resize", [x, "", scales], **attrs)

    def lstm(self, x: str, din: int, hidden: int, bidirectional: bool = False,
             initial_h: str = "", initial_c: str = "") -> tuple[str, str, str]:
        """An ONNX LSTM (gates i, o, f, c) with random W, R and bias; returns (Y, Y_h, Y_c)."""
        dirs = 2 if bidirectional else 1
        w = self.weight((dirs, 4 * hidden, din), din)
        r = self.weight((dirs, 4 * hidden, hidden), hidden)
        b = self.const(self.rng.uniform(-0.1, 0.1, (dirs, 8 * hidden)).astype(np.float32), "lstm_b")
        inputs = [x, w, r, b, "", initial_h, initial_c]
        while inputs and inputs[-1] == "":
            inputs.pop()
        y, yh, yc = self.op("LSTM", inputs, outputs=3, hidden_size=hidden,
                            direction="bidirectional" if bidirectional else "forward")
        return y, yh, yc

    def graph(self, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]
              ) -> onnx.GraphProto:
        return helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ep-runtime bench zoo")
    model.ir_version = IR_VERSION
    return model


def _image_input(name: str, channels: int, h: int, w: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH, channels, h, w])


def _out(name: str, shape: list[Any] | None = None, elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _rename_output(b: GraphBuilder, value: str, name: str) -> str:
    b.nodes.append(helper.make_node("Identity", [value], [name], name=b.fresh("Identity")))
    return name


def _divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _classifier_head(b: GraphBuilder, x: str, channels: int, hidden: list[int], act: Callable[[str], str]) -> str:
    """GlobalAveragePool, Flatten, then Gemm layers (activation between them)."""
    y = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    for k, (din, dout) in enumerate(zip([channels, *hidden[:-1]], hidden)):
        y = b.gemm(y, din, dout)
        if k < len(hidden) - 1:
            y = act(y)
    return y


# MobileNets -------------------------------------------------------------------------------------

def mobilenet_v2(image: int = 224, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """torchvision's MobileNetV2 (width 1.0): inverted residuals with depthwise 3x3 convs and ReLU6."""
    b = GraphBuilder(seed)
    x = b.relu6(b.conv("input", 3, 32, 3, 2))
    cin = 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x if t == 1 else b.relu6(b.conv(x, cin, hidden, 1))
            y = b.relu6(b.conv(y, hidden, hidden, 3, stride, groups=hidden))
            y = b.conv(y, hidden, c, 1)
            x = b.op("Add", [x, y]) if stride == 1 and cin == c else y
            cin = c
    x = b.relu6(b.conv(x, cin, 1280, 1))
    y = _rename_output(b, _classifier_head(b, x, 1280, [classes], b.relu6), "logits")
    return _model(b.graph("mobilenet_v2", [_image_input("input", 3, image, image)], [_out(y, [BATCH, classes])]))


def mobilenet_v3_small(image: int = 224, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """torchvision's MobileNetV3-small: depthwise 3x3/5x5, HardSwish, squeeze-excite with HardSigmoid."""
    b = GraphBuilder(seed)

    def act(name: str, v: str) -> str:
        return b.hardswish(v) if name == "HS" else b.op("Relu", [v])

    def squeeze_excite(v: str, c: int) -> str:
        s = _divisible(c // 4)
        g = b.op("GlobalAveragePool", [v])
        g = b.op("Relu", [b.conv(g, c, s, 1)])
        g = b.op("HardSigmoid", [b.conv(g, s, c, 1)], alpha=1.0 / 6, beta=0.5)
        return b.op("Mul", [g, v])

    x = b.hardswish(b.conv("input", 3, 16, 3, 2))
    cin = 16
    for k, exp, c, se, a, s in ((3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2),
                                (3, 88, 24, False, "RE", 1), (5, 96, 40, True, "HS", 2),
                                (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
                                (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1),
                                (5, 288, 96, True, "HS", 2), (5, 576, 96, True, "HS", 1),
                                (5, 576, 96, True, "HS", 1)):
        y = x if exp == cin else act(a, b.conv(x, cin, exp, 1))
        y = act(a, b.conv(y, exp, exp, k, s, groups=exp))
        if se:
            y = squeeze_excite(y, exp)
        y = b.conv(y, exp, c, 1)
        x = b.op("Add", [x, y]) if s == 1 and cin == c else y
        cin = c
    x = b.hardswish(b.conv(x, cin, 576, 1))
    y = _rename_output(b, _classifier_head(b, x, 576, [1024, classes], b.hardswish), "logits")
    return _model(b.graph("mobilenet_v3_small", [_image_input("input", 3, image, image)],
                          [_out(y, [BATCH, classes])]))


# YOLO detectors --------------------------------------------------------------------------------

def _conv_silu(b: GraphBuilder, x: str, cin: int, cout: int, k: int = 1, s: int = 1) -> str:
    """ultralytics' Conv: Conv2d (BatchNorm folded) + SiLU, exported as Sigmoid + Mul."""
    return b.silu(b.conv(x, cin, cout, k, s))


def _bottleneck(b: GraphBuilder, x: str, c: int, shortcut: bool, k1: int = 1) -> str:
    y = _conv_silu(b, _conv_silu(b, x, c, c, k1), c, c, 3)
    return b.op("Add", [x, y]) if shortcut else y


def _c3(b: GraphBuilder, x: str, c1: int, c2: int, n: int, shortcut: bool = True) -> str:
    """YOLOv5's C3: two 1x1 branches, n bottlenecks on one, Concat, 1x1."""
    c_ = c2 // 2
    y = _conv_silu(b, x, c1, c_)
    for _ in range(n):
        y = _bottleneck(b, y, c_, shortcut)
    return _conv_silu(b, b.op("Concat", [y, _conv_silu(b, x, c1, c_)], axis=1), 2 * c_, c2)


def _c2f(b: GraphBuilder, x: str, c1: int, c2: int, n: int, shortcut: bool = False) -> str:
    """YOLOv8's C2f: 1x1 conv, Split in two, n bottlenecks chained on the second half, Concat all, 1x1."""
    c = c2 // 2
    ys = b.op("Split", [_conv_silu(b, x, c1, 2 * c), b.ints([c, c], "split")], outputs=2, axis=1)
    for _ in range(n):
        ys.append(_bottleneck(b, ys[-1], c, shortcut, k1=3))
    return _conv_silu(b, b.op("Concat", ys, axis=1), (2 + n) * c, c2)


def _sppf(b: GraphBuilder, x: str, c1: int, c2: int) -> str:
    """SPPF: 1x1 conv, three chained 5x5 stride-1 MaxPools, Concat of the four, 1x1 conv."""
    c_ = c1 // 2
    y = [_conv_silu(b, x, c1, c_)]
    for _ in range(3):
        y.append(b.maxpool(y[-1], 5, 1, 2))
    return _conv_silu(b, b.op("Concat", y, axis=1), 4 * c_, c2)


def _focus(b: GraphBuilder, x: str) -> str:
    """YOLOv5's Focus: four strided Slices (pixel phases) concatenated on channels."""
    parts = []
    for dy, dx in ((0, 0), (1, 0), (0, 1), (1, 1)):
        parts.append(b.op("Slice", [x, b.ints([dy, dx], "starts"), b.ints([2**62, 2**62], "ends"),
                                    b.ints([2, 3], "axes"), b.ints([2, 2], "steps")]))
    return b.op("Concat", parts, axis=1)


def yolov5(image: int = 320, classes: int = 80, seed: int = 0) -> onnx.ModelProto:
    """YOLOv5s (v5.0 layout: Focus stem, C3 blocks, SPPF, PANet head, three Detect convs)."""
    b = GraphBuilder(seed)
    x = _conv_silu(b, _focus(b, "images"), 12, 32, 3)
    x = _c3(b, _conv_silu(b, x, 32, 64, 3, 2), 64, 64, 1)
    p3 = _c3(b, _conv_silu(b, x, 64, 128, 3, 2), 128, 128, 3)
    p4 = _c3(b, _conv_silu(b, p3, 128, 256, 3, 2), 256, 256, 3)
    x = _sppf(b, _conv_silu(b, p4, 256, 512, 3, 2), 512, 512)
    x = _c3(b, x, 512, 512, 1, False)
    h10 = _conv_silu(b, x, 512, 256)
    x = _c3(b, b.op("Concat", [b.upsample2x(h10), p4], axis=1), 512, 256, 1, False)
    h14 = _conv_silu(b, x, 256, 128)
    out3 = _c3(b, b.op("Concat", [b.upsample2x(h14), p3], axis=1), 256, 128, 1, False)
    out4 = _c3(b, b.op("Concat", [_conv_silu(b, out3, 128, 128, 3, 2), h14], axis=1), 256, 256, 1, False)
    out5 = _c3(b, b.op("Concat", [_conv_silu(b, out4, 256, 256, 3, 2), h10], axis=1), 512, 512, 1, False)
    outputs = []
    no = classes + 5
    for k, (feat, ch, stride) in enumerate(((out3, 128, 8), (out4, 256, 16), (out5, 512, 32))):
        g = image // stride
        y = b.conv(feat, ch, 3 * no, 1, gain=0.5)
        y = b.op("Transpose", [b.op("Reshape", [y, b.ints([-1, 3, no, g, g])])], perm=[0, 1, 3, 4, 2])
        outputs.append(_out(_rename_output(b, b.op("Sigmoid", [y]), f"output{k}"), [BATCH, 3, g, g, no]))
    return _model(b.graph("yolov5s", [_image_input("images", 3, image, image)], outputs))


def yolov8(image: int = 320, classes: int = 80, seed: int = 0) -> onnx.ModelProto:
    """YOLOv8n: C2f blocks, SPPF, PAN head, decoupled Detect head with DFL and box decoding."""
    b = GraphBuilder(seed)
    x = _conv_silu(b, _conv_silu(b, "images", 3, 16, 3, 2), 16, 32, 3, 2)
    x = _c2f(b, x, 32, 32, 1, True)
    p3 = _c2f(b, _conv_silu(b, x, 32, 64, 3, 2), 64, 64, 2, True)
    p4 = _c2f(b, _conv_silu(b, p3, 64, 128, 3, 2), 128, 128, 2, True)
    x = _c2f(b, _conv_silu(b, p4, 128, 256, 3, 2), 256, 256, 1, True)
    p5 = _sppf(b, x, 256, 256)
    h12 = _c2f(b, b.op("Concat", [b.upsample2x(p5), p4], axis=1), 384, 128, 1)
    out3 = _c2f(b, b.op("Concat", [b.upsample2x(h12), p3], axis=1), 192, 64, 1)
    out4 = _c2f(b, b.op("Concat", [_conv_silu(b, out3, 64, 64, 3, 2), h12], axis=1), 192, 128, 1)
    out5 = _c2f(b, b.op("Concat", [_conv_silu(b, out4, 128, 128, 3, 2), p5], axis=1), 384, 256, 1)
    reg, c3 = 16, max(64, classes)
    levels, anchors, strides = [], [], []
    for feat, ch, stride in ((out3, 64, 8), (out4, 128, 16), (out5, 256, 32)):
        box = b.conv(_conv_silu(b, _conv_silu(b, feat, ch, 64, 3), 64, 64, 3), 64, 4 * reg, 1)
        cls = b.conv(_conv_silu(b, _conv_silu(b, feat, ch, c3, 3), c3, c3, 3), c3, classes, 1)
        levels.append(b.op("Reshape", [b.op("Concat", [box, cls], axis=1), b.ints([0, 4 * reg + classes, -1])]))
        g = image // stride
        gy, gx = np.meshgrid(np.arange(g, dtype=np.float32) + 0.5, np.arange(g, dtype=np.float32) + 0.5,
                             indexing="ij")
        anchors.append(np.stack([gx.ravel(), gy.ravel()]))
        strides.append(np.full((1, g * g), stride, np.float32))
    y = b.op("Concat", levels, axis=2)
    box, cls = b.op("Split", [y, b.ints([4 * reg, classes], "split")], outputs=2, axis=1)
    # DFL: softmax over 16 bins per side, expectation by a fixed 1x1 conv with weights 0..15
    d = b.op("Transpose", [b.op("Reshape", [box, b.ints([0, 4, reg, -1])])], perm=[0, 2, 1, 3])
    d = b.op("Conv", [b.op("Softmax", [d], axis=1),
                      b.const(np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1), "dfl")], kernel_shape=[1, 1])
    d = b.op("Reshape", [d, b.ints([0, 4, -1])])
    lt, rb = b.op("Split", [d, b.ints([2, 2], "split")], outputs=2, axis=1)
    anchor = b.const(np.concatenate(anchors, axis=1)[None], "anchors")
    x1y1 = b.op("Sub", [anchor, lt])
    x2y2 = b.op("Add", [anchor, rb])
    cxy = b.op("Div", [b.op("Add", [x1y1, x2y2]), b.const(np.float32(2.0))])
    wh = b.op("Sub", [x2y2, x1y1])
    dbox = b.op("Mul", [b.op("Concat", [cxy, wh], axis=1), b.const(np.concatenate(strides, axis=1)[None], "strides")])
    total = sum((image // s) ** 2 for s in (8, 16, 32))
    out = _rename_output(b, b.op("Concat", [dbox, b.op("Sigmoid", [cls])], axis=1), "output0")
    return _model(b.graph("yolov8n", [_image_input("images", 3, image, image)],
                          [_out(out, [BATCH, 4 + classes, total])]))


# sequence models -------------------------------------------------------------------------------

def crnn(height: int = 32, width: int = 128, classes: int = 37, hidden: int = 256, seed: int = 0) -> onnx.ModelProto:
    """The classic CRNN (Shi et al.): 7 convs with pooling to height 1, then two bidirectional LSTMs."""
    b = GraphBuilder(seed)
    x = b.maxpool(b.op("Relu", [b.conv("image", 1, 64, 3)]), 2)
    x = b.maxpool(b.op("Relu", [b.conv(x, 64, 128, 3)]), 2)
    x = b.op("Relu", [b.conv(x, 128, 256, 3)])
    x = b.maxpool(b.op("Relu", [b.conv(x, 256, 256, 3)]), (2, 1), (2, 1))
    x = b.op("Relu", [b.conv(x, 256, 512, 3)])
    x = b.maxpool(b.op("Relu", [b.conv(x, 512, 512, 3)]), (2, 1), (2, 1))
    x = b.op("Relu", [b.conv(x, 512, 512, (2, 1), pad=0)])
    # [N, 512, H', W'] -> [N, 512, W'] (height pooled away) -> [T=W', N, 512]
    x = b.op("Transpose", [b.op("ReduceMean", [x], axes=[2], keepdims=0)], perm=[2, 0, 1])
    din = 512
    for layer in range(2):
        y, _, _ = b.lstm(x, din, hidden, bidirectional=True)
        y = b.op("Reshape", [b.op("Transpose", [y], perm=[0, 2, 1, 3]), b.ints([0, 0, -1])])
        x = b.linear(y, 2 * hidden, hidden if layer == 0 else classes)
        din = hidden
    out = _rename_output(b, b.op("LogSoftmax", [x], axis=2), "log_probs")
    steps = width // 4
    return _model(b.graph("crnn", [_image_input("image", 1, height, width)], [_out(out, [steps, BATCH, classes])]))


def transformer(seq: int = 128, d: int = 256, heads: int = 4, layers: int = 6, ffn: int = 1024, vocab: int = 8000,
                seed: int = 0) -> onnx.ModelProto:
    """A BERT-style encoder: token + position embeddings, post-LN layers of attention and a GELU FFN."""
    b = GraphBuilder(seed)
    head = d // heads
    tok = b.op("Gather", [b.const(b.rng.standard_normal((vocab, d)).astype(np.float32) * 0.5, "tok_emb"),
                          "input_ids"])
    x = b.op("Add", [tok, b.const(b.rng.standard_normal((1, seq, d)).astype(np.float32) * 0.5, "pos_emb")])

    def layer_norm(v: str) -> str:
        gamma = b.const(1.0 + b.rng.uniform(-0.1, 0.1, d).astype(np.float32), "ln_g")
        return b.op("LayerNormalization", [v, gamma, b.bias(d)], axis=-1, epsilon=1e-5)

    x = layer_norm(x)
    split_heads = b.ints([0, 0, heads, head])
    merge_heads = b.ints([0, 0, d])
    scale = b.const(np.float32(math.sqrt(head)), "scale")
    for _ in range(layers):
        q = b.op("Transpose", [b.op("Reshape", [b.linear(x, d, d), split_heads])], perm=[0, 2, 1, 3])
        k = b.op("Transpose", [b.op("Reshape", [b.linear(x, d, d), split_heads])], perm=[0, 2, 3, 1])
        v = b.op("Transpose", [b.op("Reshape", [b.linear(x, d, d), split_heads])], perm=[0, 2, 1, 3])
        p = b.op("Softmax", [b.op("Div", [b.op("MatMul", [q, k]), scale])], axis=-1)
        ctx = b.op("Reshape", [b.op("Transpose", [b.op("MatMul", [p, v])], perm=[0, 2, 1, 3]), merge_heads])
        x = layer_norm(b.op("Add", [x, b.linear(ctx, d, d)]))
        f = b.linear(b.gelu(b.linear(x, d, ffn)), ffn, d)
        x = layer_norm(b.op("Add", [x, f]))
    out = _rename_output(b, x, "last_hidden_state")
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [BATCH, seq])
    return _model(b.graph("transformer_encoder", [ids], [_out(out, [BATCH, seq, d])]))


def _stft_basis(n_fft: int) -> np.ndarray:
    """Conv weights [2 * (n_fft/2 + 1), 1, n_fft]: Hann-windowed cos rows, then -sin rows."""
    bins = n_fft // 2 + 1
    t = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n_fft)
    angle = 2 * np.pi * np.outer(np.arange(bins), t) / n_fft
    basis = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window]).astype(np.float32)
    return basis[:, None, :]


def _vad_branch(seed: int, n_fft: int, name: str, hidden: int) -> onnx.GraphProto:
    """One sample rate's body: reflect pad, STFT as a one-channel Conv, magnitude, conv encoder,
    an LSTM over the frames carrying (h, c) from `state`, a sigmoid decoder averaged over time."""
    b = GraphBuilder(seed, prefix=f"{name}/")
    hop = n_fft // 2
    bins = n_fft // 2 + 1
    x = b.op("Unsqueeze", ["audio", b.ints([1], "axes")])
    x = b.op("Pad", [x, b.ints([0, 0, hop, 0, 0, hop], "pads")], mode="reflect")
    spec = b.op("Conv", [x, b.const(_stft_basis(n_fft), "stft")], kernel_shape=[n_fft], strides=[hop])
    re, im = b.op("Split", [spec, b.ints([bins, bins], "split")], outputs=2, axis=1)
    two = b.const(np.float32(2.0))
    mag = b.op("Sqrt", [b.op("Add", [b.op("Pow", [re, two]), b.op("Pow", [im, two])])])
    chans = [bins, 128, 64, 64, 128]
    for k, (cin, cout) in enumerate(zip(chans, chans[1:])):
        w = b.weight((cout, cin, 3), cin * 3, gain=1.4)
        mag = b.op("Relu", [b.op("Conv", [mag, w, b.bias(cout)], kernel_shape=[3], pads=[1, 1],
                                 strides=[2 if k in (1, 2) else 1])])
    # [N, 128, T] -> [T, N, 128]
    seqs = b.op("Transpose", [mag], perm=[2, 0, 1])
    h0 = b.op("Gather", ["state", b.const(np.asarray([0], np.int64), "i")], axis=0)
    c0 = b.op("Gather", ["state", b.const(np.asarray([1], np.int64), "i")], axis=0)
    y, yh, yc = b.lstm(seqs, 128, hidden, initial_h=h0, initial_c=c0)
    y = b.op("Relu", [b.op("Transpose", [b.op("Squeeze", [y, b.ints([1], "axes")])], perm=[1, 2, 0])])
    w = b.weight((1, hidden, 1), hidden)
    prob = b.op("Sigmoid", [b.op("Conv", [y, w, b.bias(1)], kernel_shape=[1])])
    prob = b.op("ReduceMean", [b.op("Squeeze", [prob, b.ints([1], "axes")])], axes=[1], keepdims=1)
    b.nodes.append(helper.make_node("Identity", [prob], [f"{name}_prob"]))
    b.nodes.append(helper.make_node("Concat", [yh, yc], [f"{name}_state"], axis=0))
    return b.graph(name, [], [_out(f"{name}_prob", [BATCH, 1]), _out(f"{name}_state", [2, BATCH, hidden])])


def streaming_audio(chunk: int = 1024, hidden: int = 128, seed: int = 0) -> onnx.ModelProto:
    """A silero-VAD-like streaming model: per call one audio chunk, the LSTM state in and out, and
    an If on the sample rate (16 kHz: STFT kernel 256 stride 128; otherwise kernel 128 stride 64)."""
    b = GraphBuilder(seed)
    is16k = b.op("Equal", ["sr", b.const(np.asarray(16000, np.int64), "sr16k")])
    prob, state = b.op("If", [is16k], outputs=2,
                       then_branch=_vad_branch(seed + 1, 256, "vad16k", hidden),
                       else_branch=_vad_branch(seed + 2, 128, "vad8k", hidden))
    prob = _rename_output(b, prob, "output")
    state = _rename_output(b, state, "stateN")
    inputs = [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [BATCH, chunk]),
              helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, BATCH, hidden]),
              helper.make_tensor_value_info("sr", TensorProto.INT64, [])]
    return _model(b.graph("streaming_audio", inputs, [_out(prob, [BATCH, 1]), _out(state, [2, BATCH, hidden])]))


# segmentation ----------------------------------------------------------------------------------

def unet(image: int = 256, channels: int = 3, classes: int = 2, base: int = 16, seed: int = 0) -> onnx.ModelProto:
    """A 4-level UNet: double 3x3 convs, MaxPool down; up by ConvTranspose 2x2 stride 2 on the two
    deepest levels and by bilinear Resize + 1x1 conv on the two shallow ones; skip Concats."""
    b = GraphBuilder(seed)

    def double_conv(v: str, cin: int, cout: int) -> str:
        return b.op("Relu", [b.conv(b.op("Relu", [b.conv(v, cin, cout, 3)]), cout, cout, 3)])

    widths = [base * 2**k for k in range(5)]
    skips = []
    x = double_conv("image", channels, widths[0])
    for k in range(1, 5):
        skips.append(x)
        x = double_conv(b.maxpool(x, 2), widths[k - 1], widths[k])
    for k in range(4, 0, -1):
        cin, cout = widths[k], widths[k - 1]
        if k >= 3:
            w = b.weight((cin, cout, 2, 2), cin, gain=1.4)
            up = b.op("ConvTranspose", [x, w, b.bias(cout)], kernel_shape=[2, 2], strides=[2, 2])
        else:
            up = b.conv(b.upsample2x(x, "linear"), cin, cout, 1)
        x = double_conv(b.op("Concat", [up, skips[k - 1]], axis=1), 2 * cout, cout)
    out = _rename_output(b, b.conv(x, widths[0], classes, 1), "mask_logits")
    return _model(b.graph("unet", [_image_input("image", channels, image, image)],
                          [_out(out, [BATCH, classes, image, image])]))


#: name -> builder; each builder's keyword defaults are the benchmark's sizes
ZOO: dict[str, Callable[..., onnx.ModelProto]] = {
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "yolov5": yolov5,
    "yolov8": yolov8,
    "crnn": crnn,
    "transformer": transformer,
    "streaming_audio": streaming_audio,
    "unet": unet,
}

#: smaller sizes of the same architectures, for quick numeric checks (tests/test_bench_zoo.py)
SMALL_SIZES: dict[str, dict[str, int]] = {
    "mobilenet_v2": {"image": 64, "classes": 10},
    "mobilenet_v3_small": {"image": 64, "classes": 10},
    "yolov5": {"image": 64, "classes": 4},
    "yolov8": {"image": 64, "classes": 4},
    "crnn": {"width": 48, "hidden": 32, "classes": 11},
    "transformer": {"seq": 16, "d": 64, "ffn": 128, "layers": 2, "vocab": 100},
    "streaming_audio": {"chunk": 512, "hidden": 32},
    "unet": {"image": 32, "base": 8},
}


def build(name: str, **sizes: int) -> onnx.ModelProto:
    """The zoo model `name` (see ZOO), with its builder's keyword arguments overridden by `sizes`."""
    if name not in ZOO:
        raise KeyError(f"unknown zoo model {name!r}; the zoo has {', '.join(ZOO)}")
    return ZOO[name](**sizes)


def example_feed(model: onnx.ModelProto, seed: int = 0, batch: int = 1) -> dict[str, np.ndarray]:
    """A seeded input for a zoo model: normal floats, token ids below the vocabulary, sr = 16000."""
    rng = np.random.default_rng(seed)
    inits = {i.name: i for i in model.graph.initializer}
    vocab = None
    for node in model.graph.node:
        if node.op_type == "Gather" and node.input[0] in inits:
            vocab = inits[node.input[0]].dims[0]
    feed: dict[str, np.ndarray] = {}
    for vi in model.graph.input:
        shape = [d.dim_value if d.HasField("dim_value") else batch for d in vi.type.tensor_type.shape.dim]
        elem = vi.type.tensor_type.elem_type
        if vi.name == "sr":
            feed[vi.name] = np.asarray(16000, np.int64)
        elif elem == TensorProto.INT64:
            feed[vi.name] = rng.integers(0, vocab or 10, size=shape).astype(np.int64)
        elif vi.name == "state":
            feed[vi.name] = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        else:
            feed[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return feed


__all__ = ["GraphBuilder", "SMALL_SIZES", "ZOO", "build", "example_feed"] + list(ZOO)
