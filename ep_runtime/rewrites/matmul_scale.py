"""A MatMul scaled by a constant scalar (EXTENDED level), as onnxruntime's MatMulScaleFusion:

`Mul(MatMul(A, B), s)`, `Div(MatMul(A, B), s)`, `MatMul(Mul(A, s), B)` or `MatMul(Div(A, s), B)` (either
operand of the MatMul; the scaling read only by the MatMul, or the MatMul read only by the scaling), s a
float constant of one value and of no higher rank than the tensor it scales:

- when the other operand (B in `MatMul(A * s, B)` and `MatMul(A, B) * s`) or the scaled operand itself is
  a float constant, the scale is folded into a new copy of that constant (computed in float64, stored in
  its dtype) and the MatMul stays a standard MatMul (so the native kernels' packed constant B still
  applies);
- otherwise (attention's `Q K^T / sqrt(d)`) the pair becomes com.microsoft `FusedMatMul(A, B, alpha)`,
  where a provider claims it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..graph import Node
from .editor import GraphEdit, fused_name

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _scale(edit: GraphEdit, node: Node, value: str, rank: int | None) -> float | None:
    """The factor `node` (Mul or Div by a constant scalar) applies to `value`, or None."""
    if node.op_type not in ("Mul", "Div") or node.domain or node.opset < 7 or len(node.inputs) != 2:
        return None
    if node.op_type == "Div" and node.inputs[0] != value:
        return None
    other = edit.other(node, value)
    s = None if other is None else edit.const(other)
    if s is None or s.size != 1 or s.dtype != edit.dtype(value) or s.dtype not in _FLOATS:
        return None
    if s.ndim > 0 and (rank is None or s.ndim > rank):
        return None
    f = float(s.reshape(()))
    if node.op_type == "Div":
        if f == 0.0 or not np.isfinite(f):
            return None
        return 1.0 / f
    return f if np.isfinite(f) else None


def _scaled_constant(edit: GraphEdit, name: str, factor: float) -> str | None:
    """A new constant `name * factor`, or None when `name` is no float constant."""
    v = edit.const(name)
    if v is None or v.dtype not in _FLOATS or v.size == 0:
        return None
    return edit.add_initializer(name + "_scaled", (v.astype(np.float64) * factor).astype(v.dtype))


def _replace(edit: GraphEdit, mm: Node, chain: list[Node], a: str, b: str, factor: float, out: str,
             fold_into: tuple[int, ...]) -> None:
    """MatMul(a, b) * factor written to `out`: folded into a constant operand (positions `fold_into`
    tried in order), else FusedMatMul."""
    for pos in fold_into:
        operands = [a, b]
        scaled = _scaled_constant(edit, operands[pos], factor)
        if scaled is None:
            continue
        operands[pos] = scaled
        proto = onnx.NodeProto()
        proto.CopyFrom(mm.proto)
        del proto.input[:]
        proto.input.extend(operands)
        del proto.output[:]
        proto.output.append(out)
        proto.name = fused_name(chain)
        if not edit.replace(chain, [proto]):
            del edit.new_initializers[scaled]
        return
    if edit.dtype(a) != np.float32 or edit.dtype(b) != np.float32:
        return
    edit.replace(chain, [helper.make_node("FusedMatMul", [a, b], [out], name=fused_name(chain),
                                          domain="com.microsoft", alpha=factor)], {"com.microsoft": 1})


def fuse_matmul_scale(edit: GraphEdit) -> None:
    """Fold constant scalar scalings around MatMul nodes (see the module docstring)."""
    for mm in edit.graph.nodes:
        if mm.op_type != "MatMul" or mm.domain or mm.index in edit.removed or len(mm.inputs) != 2:
            continue
        a, b = mm.inputs
        if not a or not b or a == b or edit.dtype(a) not in _FLOATS or edit.dtype(a) != edit.dtype(b):
            continue
        y = mm.outputs[0]
        after = edit.only_consumer(y, "Mul", "Div")
        factor = None if after is None else _scale(edit, after, y, edit.rank(y))
        if factor is not None and edit.closed([mm, after], after.outputs[0]):
            # (A B) s: fold s into B, else into A
            _replace(edit, mm, [mm, after], a, b, factor, after.outputs[0], (1, 0))
            continue
        for pos, operand in ((0, a), (1, b)):
            before = edit.producer(operand, "Mul", "Div")
            if before is None or before.index in edit.removed or edit.only_consumer(operand) is not mm:
                continue
            variable = [i for i in before.inputs if i and edit.const(i) is None]
            if len(variable) != 1 or (before.op_type == "Div" and variable[0] != before.inputs[0]):
                continue
            x = variable[0]
            factor = _scale(edit, before, x, edit.rank(x))
            if factor is None or not edit.closed([before, mm], y):
                continue
            operands = [a, b]
            operands[pos] = x
            # (A s) B = A (B s): fold s into the other operand, else into the scaled one
            _replace(edit, mm, [before, mm], operands[0], operands[1], factor, y, (1 - pos, pos))
            break
