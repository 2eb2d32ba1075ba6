"""The one check of a CPU kernel against onnxruntime: the registered kernel is called directly on
numpy arrays and compared with onnxruntime running the same op as a one-node model."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ep_runtime.graph import attr_param_name
from providers.cpu import REGISTRY

RTOL, ATOL = 1e-3, 1e-5


def kernel_for(op: str, opset: int, domain: str = "") -> Any:
    """The registered CPU kernel covering `op`'s schema version at `opset` (for a domain onnx has no
    schemas of, such as com.microsoft, the kernel covering `opset` itself)."""
    try:
        version = onnx.defs.get_schema(op, opset, domain).since_version
    except onnx.defs.SchemaError:
        version = opset
    matches = [k for k in REGISTRY.versions(op, domain) if k.covers(version)]
    assert matches, f"no CPU kernel for {op} version {version}"
    return matches[-1]


def _trim(inputs: list) -> list:
    args = list(inputs)
    while args and args[-1] is None:
        args.pop()
    return args


def run_kernel(op: str, inputs: list, attrs: dict | None = None, opset: int = 17, n_outputs: int = 1,
               domain: str = "") -> list:
    """The outputs of the CPU kernel of `op` called on `inputs` (None for an omitted optional input)."""
    k = kernel_for(op, opset, domain)
    kwargs = {attr_param_name(a): numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v
              for a, v in (attrs or {}).items()}
    if "_num_outputs" in k.context_names:
        kwargs["_num_outputs"] = n_outputs
    if "_opset" in k.context_names:
        kwargs["_opset"] = opset
    out = k.fn(**kwargs)(*_trim(inputs)) if k.factory else k.fn(*_trim(inputs), **kwargs)
    return list(out) if k.multi_output else [out]


def _elem(arr: np.ndarray) -> int:
    return TensorProto.STRING if arr.dtype == object else helper.np_dtype_to_tensor_dtype(arr.dtype)


def run_ort(op: str, inputs: list, attrs: dict | None = None, opset: int = 17, n_outputs: int = 1) -> list:
    """The outputs of onnxruntime running `op` as a one-node model, graph optimizations off."""
    import onnxruntime as ort

    inputs = _trim(inputs)
    names = [f"i{j}" if x is not None else "" for j, x in enumerate(inputs)]
    outs = [f"o{j}" for j in range(n_outputs)]
    graph = helper.make_graph(
        [helper.make_node(op, names, outs, **(attrs or {}))], "g",
        [helper.make_tensor_value_info(n, _elem(x), x.shape) for n, x in zip(names, inputs) if x is not None],
        [helper.make_empty_tensor_value_info(o) for o in outs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {n: x for n, x in zip(names, inputs) if x is not None})


def check(op: str, inputs: list, attrs: dict | None = None, opset: int = 17, n_outputs: int = 1,
          rtol: float = RTOL, atol: float = ATOL) -> None:
    """Assert the CPU kernel's outputs equal onnxruntime's: type, dtype, shape, then values."""
    got = run_kernel(op, inputs, attrs, opset, n_outputs)
    want = run_ort(op, inputs, attrs, opset, n_outputs)
    assert len(got) >= n_outputs
    for g, w in zip(got[:n_outputs], want):
        assert type(g) is np.ndarray, f"{op} returned {type(g).__name__}, not an ndarray"
        assert g.dtype == w.dtype, f"{op}: dtype {g.dtype}, onnxruntime {w.dtype}"
        assert g.shape == w.shape, f"{op}: shape {g.shape}, onnxruntime {w.shape}"
        if g.dtype == object:
            assert g.tolist() == w.tolist()
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
