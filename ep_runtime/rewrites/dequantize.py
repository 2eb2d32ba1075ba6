"""DequantizeLinear of moved constant integers folded into the constant (EXTENDED level).

A per-tensor `DequantizeLinear(move_k(...move_1(W_q)...), scale, zero_point)` — W_q an 8- or 16-bit integer
constant, scale a float32 constant of one value, zero_point a constant of one value of W_q's type (or
absent), and each move_i an op that only moves, selects or repeats elements of its data input (Gather's
embedding lookup, Transpose, Reshape, Squeeze, Slice, ...) — becomes the same moves over one float32
constant `W = (float32(W_q) - float32(zero_point)) * scale`, computed once here. Dequantizing is elementwise
and moving elements does not change them, so every output element has the bits of the unrewritten graph's
(the DequantizeLinear kernel's float32 arithmetic, exact for 8- and 16-bit integers); the run then skips the
DequantizeLinear pass over every lookup. The integer moves, once nothing else reads them, go.

Shared chains are shared: the quantized value a DequantizeLinear reads and each move's output map to one
float value, so `DequantizeLinear(Gather(W_q, ids))` beside `DequantizeLinear(Transpose(Gather(W_q, ids)))`
becomes `Gather(W, ids)` and `Transpose` of it; a chain may also start at another DequantizeLinear's input,
whose output then is its float value. No constant's float32 copy exceeds `MAX_FOLDED_BYTES` (a huge
embedding table is not blown up fourfold: its lookups keep their DequantizeLinear). Left alone: per-axis or
blocked scales (a move can relocate the axis), other output types, and DequantizeLinear of a constant alone
(constant folding's).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from ..graph import Node
from .editor import GraphEdit

#: ops whose output holds only elements of their data input (input 0), whatever their values
MOVES = frozenset({
    "Gather", "GatherElements", "GatherND", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
    "Slice", "Identity", "Expand", "Tile", "DepthToSpace", "SpaceToDepth",
})
#: integer types whose difference from the zero point float32 holds exactly
_INTS = frozenset(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16))
_F32 = np.dtype(np.float32)
#: the largest float32 constant the fold creates (bytes)
MAX_FOLDED_BYTES = 16 << 20

#: a per-tensor DequantizeLinear's (scale as float32 bytes, zero point, zero point type or None when absent)
_Params = tuple[bytes, int, "np.dtype | None"]
#: (quantized value, parameters) -> the float value equal to its dequantization
_Key = tuple[str, _Params]


def _params(edit: GraphEdit, dq: Node) -> _Params | None:
    """The parameters of a per-tensor float32 DequantizeLinear of an 8- or 16-bit integer input, or None."""
    if dq.op_type != "DequantizeLinear" or dq.domain or len(dq.outputs) != 1 or not 2 <= len(dq.inputs) <= 3:
        return None
    if dq.attrs.get("block_size", 0) or dq.attrs.get("output_dtype", 0) not in (0, TensorProto.FLOAT):
        return None
    dtype = edit.dtype(dq.inputs[0])
    scale = edit.const(dq.inputs[1])
    if (dtype is not None and dtype not in _INTS) or scale is None or scale.dtype != _F32 or scale.size != 1 \
            or scale.ndim > 1:
        return None
    zp_name = dq.inputs[2] if len(dq.inputs) == 3 else ""
    zp = edit.const(zp_name)
    if zp_name and (zp is None or zp.dtype not in _INTS or zp.size != 1 or zp.ndim > 1):
        return None
    if zp is None:
        return scale.reshape(()).tobytes(), 0, None
    return scale.reshape(()).tobytes(), int(zp.reshape(())), zp.dtype


def _dequantized(q: np.ndarray, params: _Params) -> np.ndarray:
    """The DequantizeLinear kernel's float32 arithmetic on a constant: (float32(q) - float32(zp)) * scale."""
    with np.errstate(invalid="ignore", over="ignore"):  # a NaN or infinite scale: as the kernel, silently
        return (q.astype(_F32) - np.float32(params[1])) * np.frombuffer(params[0], _F32)[0]


def _chain(edit: GraphEdit, x: str, known: dict[_Key, str], params: _Params) -> tuple[list[Node], str] | None:
    """The moves from `x` down to a value with a known float equal or to a foldable constant (innermost
    last), and that value; None when `x` comes from anything else."""
    chain: list[Node] = []
    while True:
        if chain and ((x, params) in known or edit.const(x) is not None):
            return chain, x
        node = edit.producer(x, *MOVES)
        if node is None or not node.inputs or node.outputs != [x]:
            return None
        chain.append(node)
        x = node.inputs[0]


def _float_constant(edit: GraphEdit, name: str, params: _Params) -> str | None:
    """A new float32 constant: the dequantized integer constant `name`, or None when it is not one the
    kernel takes (another type than the zero point's) or too large."""
    q = edit.const(name)
    if q is None or q.dtype not in _INTS or params[2] not in (None, q.dtype) \
            or q.size * _F32.itemsize > MAX_FOLDED_BYTES:
        return None
    folded = edit.add_initializer(name + "_dequantized", _dequantized(q, params))
    # typed, so that a provider choosing by dtype sees the float32 input of the moves it is asked to take
    edit.value_info.append(onnx.helper.make_tensor_value_info(folded, TensorProto.FLOAT, q.shape))
    return folded


def _moved(node: Node, data: str, out: str) -> onnx.NodeProto:
    """A copy of `node` reading `data` as its data input and writing `out`."""
    proto = onnx.NodeProto()
    proto.CopyFrom(node.proto)
    proto.input[0] = data
    del proto.output[:]
    proto.output.append(out)
    proto.name = node.name + "_dequantized" if node.name else ""
    return proto


def _float_value(edit: GraphEdit, like: str) -> str:
    """A fresh float32 value shaped as the integer value `like`."""
    name = edit.fresh(like + "_dequantized")
    shape = edit.graph.value(like).shape
    dims = None if shape is None else [d if isinstance(d, (int, str)) else None for d in shape]
    edit.value_info.append(onnx.helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    return name


def fold_dequantize_linear(edit: GraphEdit) -> None:
    """Fold per-tensor DequantizeLinear of moved integer constants into float32 constants (module docstring)."""
    targets: list[tuple[Node, _Params]] = []
    known: dict[_Key, str] = {}
    for dq in edit.graph.nodes:
        params = _params(edit, dq)
        if params is None or dq.index in edit.removed or edit.const(dq.inputs[0]) is not None:
            continue
        key = (dq.inputs[0], params)
        if key in known:
            continue  # a duplicate DequantizeLinear: left as it is
        known[key] = dq.outputs[0]
        targets.append((dq, params))
    moved: dict[int, Node] = {}
    for dq, params in targets:
        found = _chain(edit, dq.inputs[0], known, params)
        if found is None:
            continue
        chain, base = found
        made: list[onnx.NodeProto] = []
        named: dict[_Key, str] = {}
        constant, typed = None, len(edit.value_info)
        data = known.get((base, params))
        if data is None:
            data = constant = _float_constant(edit, base, params)
            if data is None:
                continue
        for node in reversed(chain):
            out = dq.outputs[0] if node is chain[0] else _float_value(edit, node.outputs[0])
            made.append(_moved(node, data, out))
            named[(node.outputs[0], params)] = data = out
        if edit.replace([dq], made):
            known.update(named)
            moved.update((n.index, n) for n in chain)
            continue
        del edit.value_info[typed:]
        if constant is not None:
            del edit.new_initializers[constant]
    _drop_unread(edit, moved)


def _drop_unread(edit: GraphEdit, candidates: dict[int, Node]) -> None:
    """Remove the integer moves among `candidates` whose outputs nothing reads any more."""
    read = {i for p in edit.added for i in p.input if i}
    read.update(i for n in edit.graph.nodes for i in n.implicit_inputs)
    for _, node in sorted(candidates.items(), reverse=True):  # readers first: a chain goes in one sweep
        out = node.outputs[0]
        if out in edit.graph_outputs or out in read or any(c.index not in edit.removed for c in edit.consumers(out)):
            continue
        edit.replace([node], [])
