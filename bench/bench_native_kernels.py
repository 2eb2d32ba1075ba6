"""Micro-benchmark of the CPU provider's native kernels: one-node models, single-threaded.

For each case it times, interleaved in one process (the order alternating every round), the
median `session.run` of ep-runtime with its native kernels, of ep-runtime with the numpy kernels
only (the native library hidden while that session is built), and of onnxruntime
(`intra_op_num_threads=1`, `session.intra_op.allow_spinning=0`). BLAS threads are limited to
one before numpy loads. It prints milliseconds, the native GFLOP/s where a FLOP count is
meaningful, and the ratios; nothing is asserted.

    python bench/bench_native_kernels.py [--repeat 15] [--only dw3x3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import ep_runtime as ep  # noqa: E402
from providers.cpu.native import library  # noqa: E402

RNG = np.random.default_rng(0)


def model(op: str, x_shape: list[int], attrs: dict | None = None, inits: dict[str, np.ndarray] | None = None,
          extra_inputs: list[str] = (), opset: int = 20):
    inits = inits or {}
    node = helper.make_node(op, ["x", *extra_inputs], ["y"], **(attrs or {}))
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv_case(x_shape, w_shape, group, **attrs):
    w = RNG.standard_normal(w_shape).astype(np.float32)
    b = RNG.standard_normal(w_shape[0]).astype(np.float32)
    m = model("Conv", x_shape, dict(group=group, **attrs), {"w": w, "b": b}, ["w", "b"])
    return m, x_shape


def flops_conv(x_shape, w_shape, out_elems):
    return 2 * out_elems * int(np.prod(w_shape[1:]))


CASES = {
    "dw3x3 [1,96,112,112]": (lambda: conv_case([1, 96, 112, 112], [96, 1, 3, 3], 96, pads=[1, 1, 1, 1]), 9),
    "dw3x3 s2 [1,96,112,112]": (lambda: conv_case([1, 96, 112, 112], [96, 1, 3, 3], 96, pads=[1, 1, 1, 1],
                                                  strides=[2, 2]), 9),
    "dw5x5 [1,240,28,28]": (lambda: conv_case([1, 240, 28, 28], [240, 1, 5, 5], 240, pads=[2, 2, 2, 2]), 25),
    "dw3x3 [1,576,14,14]": (lambda: conv_case([1, 576, 14, 14], [576, 1, 3, 3], 576, pads=[1, 1, 1, 1]), 9),
    "dw5x5 [1,576,7,7]": (lambda: conv_case([1, 576, 7, 7], [576, 1, 5, 5], 576, pads=[2, 2, 2, 2]), 25),
    "group3x3 cg4 [1,128,56,56]": (lambda: conv_case([1, 128, 56, 56], [128, 4, 3, 3], 32, pads=[1, 1, 1, 1]), 36),
    "stft k256 s128 [1,1,16000]": (lambda: conv_case([1, 1, 16000], [258, 1, 256], 1, strides=[128],
                                                     pads=[128, 128]), 256),
    # dense convolutions: the packed GEMM of csrc/sgemm.c (3x3, stem, 1x1 pointwise, SE-block 1x1 on one pixel)
    "dense3x3 [1,64,56,56]->64": (lambda: conv_case([1, 64, 56, 56], [64, 64, 3, 3], 1, pads=[1, 1, 1, 1]), 576),
    "dense3x3 s2 [1,32,160,160]->64": (lambda: conv_case([1, 32, 160, 160], [64, 32, 3, 3], 1, pads=[1, 1, 1, 1],
                                                         strides=[2, 2]), 288),
    "dense3x3 [1,128,28,28]->128": (lambda: conv_case([1, 128, 28, 28], [128, 128, 3, 3], 1, pads=[1, 1, 1, 1]),
                                    1152),
    "dense3x3 [1,16,80,80]->32": (lambda: conv_case([1, 16, 80, 80], [32, 16, 3, 3], 1, pads=[1, 1, 1, 1]), 144),
    "dense3x3 [1,512,7,7]->512": (lambda: conv_case([1, 512, 7, 7], [512, 512, 3, 3], 1, pads=[1, 1, 1, 1]), 4608),
    "stem3x3 s2 [1,3,224,224]->16": (lambda: conv_case([1, 3, 224, 224], [16, 3, 3, 3], 1, pads=[1, 1, 1, 1],
                                                       strides=[2, 2]), 27),
    "1x1 [1,32,112,112]->16": (lambda: conv_case([1, 32, 112, 112], [16, 32, 1, 1], 1), 32),
    "1x1 [1,24,56,56]->144": (lambda: conv_case([1, 24, 56, 56], [144, 24, 1, 1], 1), 24),
    "1x1 [1,64,80,80]->64": (lambda: conv_case([1, 64, 80, 80], [64, 64, 1, 1], 1), 64),
    "1x1 [1,384,14,14]->64": (lambda: conv_case([1, 384, 14, 14], [64, 384, 1, 1], 1), 384),
    "1x1 [1,576,7,7]->96": (lambda: conv_case([1, 576, 7, 7], [96, 576, 1, 1], 1), 576),
    "1x1 SE [1,200,1,1]->50": (lambda: conv_case([1, 200, 1, 1], [50, 200, 1, 1], 1), 200),
    "SiLU(Swish) [1,64,160,160]": (lambda: (model("Swish", [1, 64, 160, 160], opset=24), [1, 64, 160, 160]), None),
    "Sigmoid [1,64,160,160]": (lambda: (model("Sigmoid", [1, 64, 160, 160]), [1, 64, 160, 160]), None),
    "HardSwish [1,64,160,160]": (lambda: (model("HardSwish", [1, 64, 160, 160]), [1, 64, 160, 160]), None),
    "HardSigmoid [1,64,160,160]": (lambda: (model("HardSigmoid", [1, 64, 160, 160]), [1, 64, 160, 160]), None),
    "Clip(0,6) [1,64,160,160]": (lambda: (model("Clip", [1, 64, 160, 160], inits={
        "lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}, extra_inputs=["lo", "hi"]),
        [1, 64, 160, 160]), None),
    "LeakyRelu [1,64,160,160]": (lambda: (model("LeakyRelu", [1, 64, 160, 160], {"alpha": 0.1}),
                                          [1, 64, 160, 160]), None),
    "Gelu erf [1,128,768]": (lambda: (model("Gelu", [1, 128, 768]), [1, 128, 768]), None),
    "Gelu tanh [1,128,768]": (lambda: (model("Gelu", [1, 128, 768], {"approximate": "tanh"}), [1, 128, 768]),
                              None),
    "MaxPool 3x3 s2 [1,64,112,112]": (lambda: (model("MaxPool", [1, 64, 112, 112], dict(
        kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])), [1, 64, 112, 112]), None),
    "MaxPool 3x3 s2 [1,96,109,109]": (lambda: (model("MaxPool", [1, 96, 109, 109], dict(
        kernel_shape=[3, 3], strides=[2, 2])), [1, 96, 109, 109]), None),
    "MaxPool 5x5 s1 [1,128,20,20]": (lambda: (model("MaxPool", [1, 128, 20, 20], dict(
        kernel_shape=[5, 5], pads=[2, 2, 2, 2])), [1, 128, 20, 20]), None),
    "AvgPool 3x3 s1 [1,64,56,56]": (lambda: (model("AveragePool", [1, 64, 56, 56], dict(
        kernel_shape=[3, 3], pads=[1, 1, 1, 1])), [1, 64, 56, 56]), None),
    "AvgPool 3x3 s2 [1,136,28,28]": (lambda: (model("AveragePool", [1, 136, 28, 28], dict(
        kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])), [1, 136, 28, 28]), None),
    "AvgPool 7x7 [1,544,7,7]": (lambda: (model("AveragePool", [1, 544, 7, 7], dict(kernel_shape=[7, 7])),
                                        [1, 544, 7, 7]), None),
    "GlobalAvgPool [1,1280,7,7]": (lambda: (model("GlobalAveragePool", [1, 1280, 7, 7]), [1, 1280, 7, 7]), None),
}


def dw_case(c: int, h: int, k: int, s: int):
    """A depthwise k x k convolution of stride s, "same" pads, on [1, c, h, h]."""
    return conv_case([1, c, h, h], [c, 1, k, k], c, pads=[k // 2] * 4, strides=[s, s])


# the depthwise shapes of mobilenet_v2/v3 and ppocr_cls (small maps: per-plane overhead dominates)
CASES.update({f"dwsweep {k}x{k} s{s} [1,{c},{h},{h}]": ((lambda c=c, h=h, k=k, s=s: dw_case(c, h, k, s)), k * k)
              for c, h in ((240, 28), (576, 14), (576, 7), (96, 56), (144, 56)) for k in (3, 5) for s in (1, 2)})


def ep_single_thread() -> ep.SessionOptions:
    """ep-runtime's options for a single-threaded comparison: the native kernels on one thread."""
    opts = ep.SessionOptions()
    opts.intra_op_num_threads = 1
    return opts


def numpy_only_session(m) -> ep.InferenceSession:
    """An ep-runtime session compiled while the native library is hidden: the numpy kernels."""
    saved = library.LIB
    library.LIB = None
    try:
        return ep.InferenceSession(m.SerializeToString(), ep_single_thread(), providers=["cpu"])
    finally:
        library.LIB = saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", default="", help="run the cases whose name contains this text")
    args = ap.parse_args(argv)
    if library.LIB is None:
        print(f"native kernels unavailable: {library.UNAVAILABLE_REASON}", file=sys.stderr)
        return 1
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    print(f"{'case':32} {'numpy ms':>9} {'native ms':>9} {'ort ms':>8} {'GFLOP/s':>8} {'np/nat':>7} {'nat/ort':>7}")
    for name, (build, taps) in CASES.items():
        if args.only not in name:
            continue
        m, x_shape = build()
        x = RNG.standard_normal(x_shape).astype(np.float32)
        runners = {
            "native": ep.InferenceSession(m.SerializeToString(), ep_single_thread(), providers=["cpu"]),
            "numpy": numpy_only_session(m),
            "ort": ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]),
        }
        outs = {k: r.run(None, {"x": x})[0] for k, r in runners.items()}
        diff = max(float(np.max(np.abs(outs[k] - outs["ort"]), initial=0)) for k in ("native", "numpy"))
        times: dict[str, list[float]] = {k: [] for k in runners}
        order = list(runners)
        for i in range(args.warmup + args.repeat):
            for k in (order if i % 2 else order[::-1]):
                t0 = time.perf_counter()
                runners[k].run(None, {"x": x})
                if i >= args.warmup:
                    times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        gflops = f"{2 * outs['native'].size * taps / med['native'] / 1e6:8.1f}" if taps else f"{'':8}"
        print(f"{name:32} {med['numpy']:9.3f} {med['native']:9.3f} {med['ort']:8.3f} {gflops} "
              f"{med['numpy'] / med['native']:7.2f} {med['native'] / med['ort']:7.2f}   max|diff| {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
