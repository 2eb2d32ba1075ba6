"""Models, rows and a worker-killing preprocess the batch-inference tests of both engines share."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession


def mlp_model() -> onnx.ModelProto:
    """x [n, 8] -> y = relu(x W1 + b) W2 [n, 4] and m = max(y, axis 1) [n]."""
    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w1", (8, 16)), ("b1", (16,)), ("w2", (16, 4)))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["y"]),
             helper.make_node("ReduceMax", ["y"], ["m"], axes=[1], keepdims=0)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4]),
                               helper.make_tensor_value_info("m", TensorProto.FLOAT, ["n"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def gather_model() -> onnx.ModelProto:
    """y[n] = x[n, idx[n]]: a row whose index is out of range fails in the kernel."""
    graph = helper.make_graph([helper.make_node("GatherElements", ["x", "idx"], ["y"], axis=1)], "gather",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4]),
                               helper.make_tensor_value_info("idx", TensorProto.INT64, ["n", 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)


def per_row(model: Path | bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Each output of running the rows one by one with session.run, stacked."""
    sess = InferenceSession(model if isinstance(model, bytes) else str(model))
    n = len(next(iter(feeds.values())))
    outs = [sess.run(None, {k: v[i:i + 1] for k, v in feeds.items()}) for i in range(n)]
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def kill_once_when_armed(armed: str, fired: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A preprocess that kills its worker process or Ray actor (SIGKILL) once, on its first batch after
    `armed` exists."""
    if os.path.exists(armed):
        try:
            os.close(os.open(fired, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return feeds
        os.kill(os.getpid(), signal.SIGKILL)
    return feeds


def assert_every_row_equals_session_run(result, model: Path, x: np.ndarray) -> None:
    """A predict() result over the MLP's rows `x` holds every row once, in row-id order, with the outputs
    of session.run on each row alone."""
    want_y, want_m = per_row(model, {"x": x})
    assert result.rows_ok == len(x) and not result.errors
    np.testing.assert_array_equal(result.row_ids, np.arange(len(x)))
    np.testing.assert_allclose(result.outputs["y"], want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.outputs["m"], want_m, rtol=1e-5, atol=1e-6)
