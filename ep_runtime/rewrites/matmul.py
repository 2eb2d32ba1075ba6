"""Matrix-product rewrites (EXTENDED level), all to standard ops:

- `MatMul(A, B) -> Add(bias)` with A of rank 2, B a 2-D constant and a constant bias of shape
  (N,), (1, N) or (M, N) becomes one Gemm (onnxruntime's MatMulAddFusion);
- a Gemm with `transB=1` and a constant B gets B stored transposed (contiguous) and `transB=0`:
  numpy's GEMM on a contiguous (K, N) weight is 1.1-1.4x faster than through a transposed view;
- a constant weight of MatMul or Gemm that is not C-contiguous (a folded Transpose of an
  initializer is a transposed view) is stored contiguous, for the same reason.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .editor import GraphEdit, fused_name

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def fuse_matmul_add(edit: GraphEdit) -> None:
    """MatMul + Add(constant bias) -> Gemm when A is 2-D and B a 2-D constant."""
    for mm in edit.graph.nodes:
        if mm.op_type != "MatMul" or mm.domain or mm.index in edit.removed or mm.opset < 9:
            continue
        a, b_name = mm.inputs[0], mm.inputs[1]
        b = edit.const(b_name)
        if b is None or b.ndim != 2 or b.dtype not in _FLOATS or edit.rank(a) != 2 or edit.dtype(a) != b.dtype:
            continue
        add = edit.only_consumer(mm.outputs[0], "Add")
        bias_name = None if add is None else edit.other(add, mm.outputs[0])
        bias = None if bias_name is None else edit.const(bias_name)
        if bias is None or bias.dtype != b.dtype or add.opset < 7:
            continue
        n = b.shape[1]
        m = edit.graph.value(a).shape[0]
        if bias.shape not in ((n,), (1, n)) and not (isinstance(m, int) and bias.shape == (m, n)):
            continue
        chain = [mm, add]
        if not edit.closed(chain, add.outputs[0]):
            continue
        edit.replace(chain, [helper.make_node("Gemm", [a, b_name, bias_name], [add.outputs[0]],
                                              name=fused_name(chain))])


def pretranspose_gemm_weights(edit: GraphEdit) -> None:
    """Gemm(transB=1) with a constant 2-D B -> Gemm(transB=0) over B stored transposed."""
    done: dict[str, str] = {}
    for gemm in edit.graph.nodes:
        if gemm.op_type != "Gemm" or gemm.domain or gemm.index in edit.removed or not gemm.attrs.get("transB", 0):
            continue
        b_name = gemm.inputs[1]
        b = edit.const(b_name)
        if b is None or b.ndim != 2 or b.dtype not in _FLOATS:
            continue
        if b_name not in done:
            done[b_name] = edit.add_initializer(b_name + "_transposed", np.ascontiguousarray(b.T))
        proto = onnx.NodeProto()
        proto.CopyFrom(gemm.proto)
        proto.input[1] = done[b_name]
        for attr in proto.attribute:
            if attr.name == "transB":
                attr.i = 0
        edit.replace([gemm], [proto])


def store_weights_contiguous(edit: GraphEdit) -> None:
    """Constant B inputs of MatMul and Gemm stored C-contiguous (same name, same values)."""
    for node in edit.graph.nodes:
        if node.op_type not in ("MatMul", "Gemm") or node.domain or len(node.inputs) < 2:
            continue
        name = node.inputs[1]
        b = edit.const(name)
        if b is not None and b.ndim >= 1 and not b.flags.c_contiguous:
            edit.new_initializers[name] = b.copy(order="C")
