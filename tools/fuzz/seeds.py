"""The valid models every fuzz case starts from.

Each seed is a small model that runs on every provider unmutated. Together they cover Conv,
Gemm, Reshape, Concat, Slice, Gather, BatchNormalization, pooling, Softmax, LSTM, If and Loop,
plus the bundled example model, the models the embedded C tests build and (on request) the
ONNX "light" zoo models shipped with onnx.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def _weights(seed: int) -> Callable[..., np.ndarray]:
    rng = np.random.default_rng(seed)

    def weight(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    return weight


def _model(nodes: list, inputs: list, outputs: list, inits: dict[str, np.ndarray], opset: int = 17,
           name: str = "seed") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def conv_bn_pool() -> onnx.ModelProto:
    """Grouped strided Conv, BatchNormalization, Relu, AveragePool, MaxPool, Flatten, Gemm, Softmax."""
    w = _weights(1)
    inits = {"w": w(4, 2, 3, 3), "b": w(4), "scale": np.abs(w(4)) + 0.5, "bias": w(4), "mean": w(4),
             "var": np.abs(w(4)) + 0.5, "fw": w(5, 16), "fb": w(5)}
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", group=2, pads=[1, 1, 1, 1], strides=[2, 2],
                         kernel_shape=[3, 3], dilations=[1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"], name="bn", epsilon=1e-5),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("AveragePool", ["r"], ["a"], name="avgpool", kernel_shape=[2, 2], strides=[1, 1],
                         pads=[0, 0, 1, 1], count_include_pad=0),
        helper.make_node("MaxPool", ["a"], ["m"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["m"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["g"], name="gemm", transB=1, alpha=1.0, beta=1.0),
        helper.make_node("Softmax", ["g"], ["y"], name="softmax", axis=-1),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [1, 4, 8, 8])],
                  [helper.make_tensor_value_info("y", F, [1, 5])], inits)


def tensor_ops() -> onnx.ModelProto:
    """Reshape, Slice, Concat, Gather, Transpose, Split, Unsqueeze, MatMul and Softmax on two inputs."""
    inits = {"shape": np.array([6, 4], np.int64), "starts": np.array([1, 0], np.int64),
             "ends": np.array([5, 4], np.int64), "axes": np.array([0, 1], np.int64),
             "steps": np.array([1, 2], np.int64), "idx": np.array([2, 0, 1, 6], np.int64),
             "uaxes": np.array([0], np.int64), "split": np.array([2, 2], np.int64)}
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["rs"], name="reshape"),
        helper.make_node("Slice", ["rs", "starts", "ends", "axes", "steps"], ["sl"], name="slice"),
        helper.make_node("Concat", ["sl", "z"], ["cat"], name="concat", axis=0),
        helper.make_node("Gather", ["cat", "idx"], ["ga"], name="gather", axis=0),
        helper.make_node("Transpose", ["ga"], ["tr"], name="transpose", perm=[1, 0]),
        helper.make_node("Split", ["tr", "split"], ["s0", "s1"], name="split", axis=1),
        helper.make_node("MatMul", ["s0", "s1"], ["mm"], name="matmul"),
        helper.make_node("Unsqueeze", ["mm", "uaxes"], ["un"], name="unsqueeze"),
        helper.make_node("Softmax", ["un"], ["y"], name="softmax", axis=1),
        helper.make_node("Add", ["s1", "s1"], ["y2"], name="add"),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [2, 3, 4]),
                          helper.make_tensor_value_info("z", F, [3, 2])],
                  [helper.make_tensor_value_info("y", F, [1, 2, 2]), helper.make_tensor_value_info("y2", F, [2, 2])],
                  inits)


def lstm() -> onnx.ModelProto:
    """A bidirectional LSTM with biases and initial states, then a Reshape of its last hidden state."""
    w = _weights(3)
    seq, batch, inp, hidden = 3, 2, 4, 5
    inits = {"W": w(2, 4 * hidden, inp), "R": w(2, 4 * hidden, hidden), "B": w(2, 8 * hidden),
             "h0": w(2, batch, hidden), "c0": w(2, batch, hidden), "shape": np.array([batch, -1], np.int64)}
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["Y", "Y_h", "Y_c"], name="lstm",
                         hidden_size=hidden, direction="bidirectional"),
        helper.make_node("Transpose", ["Y_h"], ["ht"], name="transpose", perm=[1, 0, 2]),
        helper.make_node("Reshape", ["ht", "shape"], ["y"], name="reshape"),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [seq, batch, inp])],
                  [helper.make_tensor_value_info("y", F, [batch, 2 * hidden]),
                   helper.make_tensor_value_info("Y", F, [seq, 2, batch, hidden])], inits)


def if_branches() -> onnx.ModelProto:
    """An If whose branches read outer-scope values (a Mul/Add branch and a Sub/Relu branch)."""
    then_g = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["t0"], name="then_mul"),
         helper.make_node("Add", ["t0", "x"], ["t"], name="then_add")],
        "then", [], [helper.make_tensor_value_info("t", F, [2, 3])])
    else_g = helper.make_graph(
        [helper.make_node("Sub", ["x", "k"], ["e0"], name="else_sub"),
         helper.make_node("Relu", ["e0"], ["e"], name="else_relu")],
        "else", [], [helper.make_tensor_value_info("e", F, [2, 3])])
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["cond"], name="greater"),
        helper.make_node("If", ["cond"], ["r"], name="if", then_branch=then_g, else_branch=else_g),
        helper.make_node("Sigmoid", ["r"], ["y"], name="sigmoid"),
    ]
    inits = {"k": _weights(4)(2, 3), "zero": np.array(0.0, np.float32)}
    return _model(nodes, [helper.make_tensor_value_info("x", F, [2, 3])],
                  [helper.make_tensor_value_info("y", F, [2, 3])], inits)


def loop_accumulate() -> onnx.ModelProto:
    """A Loop with a trip count and a condition, one loop-carried value and one scan output."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "x"], ["acc_out"], name="body_add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
         helper.make_node("Mul", ["acc_out", "half"], ["scan"], name="body_mul")],
        "body",
        [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", F, [2, 2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", F, [2, 2]), helper.make_tensor_value_info("scan", F, [2, 2])])
    nodes = [helper.make_node("Loop", ["trip", "cond", "init"], ["final", "scans"], name="loop", body=body)]
    inits = {"trip": np.array(3, np.int64), "cond": np.array(True), "init": np.zeros((2, 2), np.float32),
             "half": np.array(0.5, np.float32)}
    return _model(nodes, [helper.make_tensor_value_info("x", F, [2, 2])],
                  [helper.make_tensor_value_info("final", F, [2, 2]),
                   helper.make_tensor_value_info("scans", F, [3, 2, 2])], inits)


def tiny_cnn() -> onnx.ModelProto:
    """The bundled example model (examples/models/tiny_cnn.onnx), symbolic batch dim."""
    return onnx.load(str(ROOT / "examples" / "models" / "tiny_cnn.onnx"))


def mlp() -> onnx.ModelProto:
    """The MLP the embedded C tests build (MatMul, Add, Tanh, Gemm, Sigmoid, Softmax)."""
    from tests.embedded_c_helpers import mlp_model

    return mlp_model()


def lenet() -> onnx.ModelProto:
    """The LeNet-style CNN the embedded C tests build."""
    from tests.embedded_c_helpers import lenet_model

    return lenet_model()


def _light(name: str) -> Callable[[], onnx.ModelProto]:
    def load() -> onnx.ModelProto:
        return onnx.load(str(LIGHT_DIR / f"light_{name}.onnx"))

    load.__doc__ = f"The ONNX light zoo model {name}."
    return load


#: the small seeds: built here, by the tests' helpers, or bundled; milliseconds on every provider
SMALL_SEEDS: dict[str, Callable[[], onnx.ModelProto]] = {
    "conv_bn_pool": conv_bn_pool, "tensor_ops": tensor_ops, "lstm": lstm, "if_branches": if_branches,
    "loop_accumulate": loop_accumulate, "tiny_cnn": tiny_cnn, "mlp": mlp, "lenet": lenet,
}
#: the light zoo models fast enough for long runs (each runs in well under a second everywhere)
FAST_LIGHT = ("squeezenet", "shufflenet")


def default_seeds() -> list[str]:
    """The seeds used unless `--seeds` names others: the small ones and the fast light zoo models found."""
    return list(SMALL_SEEDS) + [f"light_{n}" for n in FAST_LIGHT if (LIGHT_DIR / f"light_{n}.onnx").is_file()]


def all_seeds() -> dict[str, Callable[[], onnx.ModelProto]]:
    """Every seed by name: the small ones plus `light_<name>` for each ONNX light model found."""
    seeds = dict(SMALL_SEEDS)
    for path in sorted(glob.glob(str(LIGHT_DIR / "light_*.onnx"))):
        name = os.path.basename(path)[len("light_"):-len(".onnx")]
        seeds[f"light_{name}"] = _light(name)
    return seeds


@functools.cache
def seed_bytes(name: str) -> bytes:
    """The serialized seed model `name` (built once per process)."""
    seeds = all_seeds()
    if name not in seeds:
        raise KeyError(f"unknown fuzz seed {name!r}; known: {', '.join(seeds)}")
    return seeds[name]().SerializeToString()
