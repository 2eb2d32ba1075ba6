"""Fusions of quantize_dynamic's integer matmuls (EXTENDED level), as onnxruntime's
MatMulIntegerToFloatFusion and DynamicQuantizeMatMulFusion:

- `MatMulInteger(A_q, B, a_zp, b_zp) -> Cast(to float32) -> Mul(by Mul(a_scale, b_scale))
  [-> Add(bias)]` becomes com.microsoft `MatMulIntegerToFloat(A_q, B, a_scale, b_scale, a_zp, b_zp
  [, bias])`, when B is a 2-D 8-bit constant, b_scale a float32 constant and b_zp a constant of B's
  type (each a scalar or one value per column of B), a_scale is a DynamicQuantizeLinear's scale and
  a_zp its zero point, a constant scalar or absent, and the bias a float32 constant of one value per
  column (the Add is left apart otherwise). Operands of each Mul and of the Add may come in either order.
- `DynamicQuantizeLinear(x)` whose three outputs are read only by one MatMulIntegerToFloat (as its A,
  a_scale and a_zp) becomes, with it, one com.microsoft `DynamicQuantizeMatMul(x, B, b_scale, b_zp
  [, bias])`. A DynamicQuantizeLinear shared by several MatMulIntegerToFloat stays, as in onnxruntime:
  its input is then quantized once for all of them.

The fused kernels compute the same exact integer product and scale it by the same float32
a_scale * b_scale (then add the same float32 bias), so the results are the unfused graph's bits.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from ..graph import Node
from .editor import GraphEdit, fused_name

MS = "com.microsoft"
_BYTES = (np.dtype(np.uint8), np.dtype(np.int8))
_F32 = np.dtype(np.float32)


def _per_column(value: np.ndarray | None, n: int, dtype: np.dtype) -> bool:
    """Whether a constant is of `dtype` and holds one value (rank 0 or 1) or one per column (n,)."""
    return value is not None and value.dtype == dtype and value.ndim <= 1 and value.size in (1, n)


def _dql_output(edit: GraphEdit, name: str, index: int) -> Node | None:
    """The DynamicQuantizeLinear whose output `index` is `name`."""
    node = edit.producer(name, "DynamicQuantizeLinear")
    return node if node is not None and node.outputs.index(name) == index else None


def _a_zero_point_ok(edit: GraphEdit, name: str) -> bool:
    """A's zero point is per tensor: absent, a DynamicQuantizeLinear's, or a one-value 8-bit constant."""
    if not name or _dql_output(edit, name, 2) is not None:
        return True
    v = edit.const(name)
    return v is not None and v.dtype in _BYTES and v.ndim <= 1 and v.size == 1


def _scales(edit: GraphEdit, mul: Node, cast_out: str, n: int) -> tuple[Node, str, str] | None:
    """(the scales Mul, a_scale, b_scale) when `mul` multiplies `cast_out` by Mul(a_scale, b_scale)."""
    product = edit.other(mul, cast_out)
    scales = None if product is None else edit.producer(product, "Mul")
    if scales is None or scales.opset < 7 or len(scales.present_inputs) != 2:
        return None
    for a_scale, b_scale in (scales.inputs, scales.inputs[::-1]):
        if _dql_output(edit, a_scale, 1) is not None and _per_column(edit.const(b_scale), n, _F32):
            return scales, a_scale, b_scale
    return None


def _bias(edit: GraphEdit, add: Node | None, product: str, n: int) -> str | None:
    """The constant float32 bias of one value per column that `add` adds to `product`."""
    name = None if add is None or add.opset < 7 else edit.other(add, product)
    bias = None if name is None else edit.const(name)
    return name if bias is not None and bias.dtype == _F32 and bias.shape == (n,) else None


def fuse_matmul_integer_to_float(edit: GraphEdit) -> None:
    """MatMulInteger -> Cast(float32) -> Mul(a_scale * b_scale) [-> Add(bias)] -> com.microsoft
    MatMulIntegerToFloat."""
    for mmi in edit.graph.nodes:
        if mmi.op_type != "MatMulInteger" or mmi.domain or mmi.index in edit.removed or mmi.opset < 10:
            continue
        a, b_name = mmi.inputs[0], mmi.inputs[1]
        a_zp = mmi.inputs[2] if len(mmi.inputs) > 2 else ""
        b_zp = mmi.inputs[3] if len(mmi.inputs) > 3 else ""
        b = edit.const(b_name)
        if b is None or b.ndim != 2 or b.dtype not in _BYTES:
            continue
        if _dql_output(edit, a, 0) is None and edit.dtype(a) not in _BYTES:
            continue
        n = b.shape[1]
        if (b_zp and not _per_column(edit.const(b_zp), n, b.dtype)) or not _a_zero_point_ok(edit, a_zp):
            continue
        cast = edit.only_consumer(mmi.outputs[0], "Cast")
        if cast is None or cast.attrs.get("to") != TensorProto.FLOAT:
            continue
        mul = edit.only_consumer(cast.outputs[0], "Mul")
        found = None if mul is None or mul.opset < 7 else _scales(edit, mul, cast.outputs[0], n)
        if found is None:
            continue
        scales, a_scale, b_scale = found
        chain = [mmi, cast, scales, mul]
        add = edit.only_consumer(mul.outputs[0], "Add")
        bias = _bias(edit, add, mul.outputs[0], n)
        if bias is not None:
            chain.append(add)
        out = chain[-1].outputs[0]
        if not edit.closed(chain, out):
            continue
        inputs = [a, b_name, a_scale, b_scale, a_zp, b_zp] + ([bias] if bias is not None else [])
        while not inputs[-1]:
            inputs.pop()
        new = helper.make_node("MatMulIntegerToFloat", inputs, [out], name=fused_name(chain), domain=MS)
        edit.replace(chain, [new], {MS: 1})


def _sole_reader(edit: GraphEdit, dql: Node) -> Node | None:
    """The one MatMulIntegerToFloat reading all of `dql`'s outputs, as its A, a_scale and a_zp and
    nowhere else; None when another node, a body or the graph's outputs read any of them."""
    q, scale, zero = dql.outputs[:3]
    users = edit.consumers(q)
    node = users[0] if len(users) == 1 else None
    if node is not None and node.op_type == "MatMulIntegerToFloat" and node.domain == MS and \
            node.index not in edit.removed and edit.closed([dql, node], node.outputs[0]):
        ins = node.inputs
        if len(ins) >= 5 and (ins[0], ins[2], ins[4]) == (q, scale, zero) and \
                sum(i in dql.outputs for i in ins) == 3:
            return node
    return None


def fuse_dynamic_quantize_matmul(edit: GraphEdit) -> None:
    """DynamicQuantizeLinear + its one MatMulIntegerToFloat -> com.microsoft DynamicQuantizeMatMul."""
    for dql in edit.graph.nodes:
        if dql.op_type != "DynamicQuantizeLinear" or dql.domain or dql.index in edit.removed or len(dql.outputs) != 3:
            continue
        x = dql.inputs[0]
        if edit.dtype(x) not in (None, _F32):
            continue
        mm = _sole_reader(edit, dql)
        if mm is None:
            continue
        b, b_scale = mm.inputs[1], mm.inputs[3]
        b_zp = mm.inputs[5] if len(mm.inputs) > 5 else ""
        bias = mm.inputs[6] if len(mm.inputs) > 6 else ""
        inputs = [x, b, b_scale, b_zp, bias]
        while not inputs[-1]:
            inputs.pop()
        chain = [dql, mm]
        new = helper.make_node("DynamicQuantizeMatMul", inputs, [mm.outputs[0]], name=fused_name(chain), domain=MS)
        edit.replace(chain, [new], {MS: 1})
