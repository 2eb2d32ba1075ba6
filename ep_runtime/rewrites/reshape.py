"""A Reshape whose shape is computed from its own input's shape -> a Reshape by a constant (EXTENDED
level), as onnxruntime's ReshapeFusion does.

Exporters write a flatten as `Reshape(x, Concat(Slice(Shape(x), 0, 1), [-1]))` (Paddle) or
`Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))` (PyTorch): four small nodes that each cost a
kernel call on every run. Where every piece of the Concat is a constant or dimensions of x taken at
the very positions they land on, Reshape's own rule says the same thing with a constant: a 0 copies
the input's dimension at its position (allowzero 0). So the shape becomes `[0, ..., 0] + constants`
and the shape nodes go, when nothing else reads what they make.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..graph import Node
from .editor import GraphEdit


def _dims_of(edit: GraphEdit, value: str, x: str, rank: int) -> tuple[list[int], list[Node]] | None:
    """(the positions of x's dimensions, in order, and the nodes computing them) when `value` is a piece
    of x's shape: Shape(x)[a:b] by Slice, Shape(x)[i] by Gather (with Unsqueeze for a scalar index), or
    Shape(x) itself; Shape's own start and end are taken into account."""
    nodes: list[Node] = []
    unsqueeze = edit.producer(value, "Unsqueeze")
    if unsqueeze is not None:
        axes = edit.const(unsqueeze.inputs[1]) if len(unsqueeze.inputs) > 1 else unsqueeze.attrs.get("axes")
        if axes is None or np.asarray(axes).reshape(-1).tolist() not in ([0], [-1]):
            return None
        nodes.append(unsqueeze)
        value = unsqueeze.inputs[0]
    pick = edit.producer(value, "Slice", "Gather")
    if pick is not None:
        nodes.append(pick)
        value = pick.inputs[0]
    shape = edit.producer(value, "Shape")
    if shape is None or shape.inputs[0] != x:
        return None
    nodes.append(shape)
    start, end = _bound(shape.attrs.get("start", 0), rank), _bound(shape.attrs.get("end", rank), rank)
    dims = list(range(start, max(start, end)))
    if pick is None:
        return (dims, nodes) if unsqueeze is None else None
    picked = _pick(edit, pick, len(dims), scalar_ok=unsqueeze is not None)
    if picked is None or (unsqueeze is not None) != (pick.op_type == "Gather" and picked[1]):
        return None
    return [dims[k] for k in picked[0]], nodes


def _bound(v: int, rank: int) -> int:
    """A Shape start or end clamped to [0, rank] as the op does (negative counts from the end)."""
    v = int(v) + rank if int(v) < 0 else int(v)
    return min(max(v, 0), rank)


def _pick(edit: GraphEdit, node: Node, size: int, scalar_ok: bool) -> tuple[list[int], bool] | None:
    """(the indices of a size-`size` vector a constant Slice (axis 0, step 1) or Gather (axis 0) takes,
    whether the Gather index is a scalar)."""
    if node.op_type == "Gather":
        idx = edit.const(node.inputs[1]) if len(node.inputs) > 1 else None
        if idx is None or node.attrs.get("axis", 0) != 0 or idx.ndim > 1 or (idx.ndim == 0 and not scalar_ok):
            return None
        picks = [int(i) + size if int(i) < 0 else int(i) for i in idx.reshape(-1)]
        return (picks, idx.ndim == 0) if all(0 <= i < size for i in picks) else None
    if node.opset < 10 or len(node.inputs) < 3:
        return None
    params = [edit.const(n) if n else None for n in node.inputs[1:5]]
    if any(p is None for p, n in zip(params, node.inputs[1:5]) if n):
        return None
    starts, ends = params[0].reshape(-1), params[1].reshape(-1)
    axes = params[2].reshape(-1) if len(params) > 2 and params[2] is not None else np.zeros(1, np.int64)
    steps = params[3].reshape(-1) if len(params) > 3 and params[3] is not None else np.ones(1, np.int64)
    if not len(starts) == len(ends) == len(axes) == len(steps) == 1 or int(axes[0]) not in (0, -1) \
            or int(steps[0]) != 1:
        return None
    return list(range(size))[slice(int(starts[0]), int(ends[0]))], False


def fuse_reshape_shape(edit: GraphEdit) -> None:
    """Replace each Reshape whose shape is built from its input's own dimensions (at their positions)
    and constants by a Reshape with a constant shape."""
    for reshape in edit.graph.nodes:
        if reshape.op_type != "Reshape" or reshape.domain or reshape.index in edit.removed or reshape.opset < 5:
            continue
        if reshape.attrs.get("allowzero", 0) or len(reshape.inputs) != 2:
            continue
        x, shape = reshape.inputs
        rank = edit.rank(x)
        concat = edit.producer(shape, "Concat")
        if rank is None or concat is None or concat.attrs.get("axis") not in (0, -1):
            continue
        target: list[int] = []
        nodes = [reshape, concat]
        for piece in concat.inputs:
            const = edit.const(piece)
            if const is not None:
                if const.dtype != np.int64 or const.ndim != 1:
                    break
                target.extend(int(v) for v in const)
                continue
            found = _dims_of(edit, piece, x, rank)
            if found is None or found[0] != list(range(len(target), len(target) + len(found[0]))):
                break
            target.extend([0] * len(found[0]))
            nodes.extend(n for n in found[1] if n.index not in {m.index for m in nodes})
        else:
            if not any(n.op_type == "Shape" for n in nodes) or target.count(-1) > 1 \
                    or not edit.closed(nodes, reshape.outputs[0]):
                continue
            name = edit.add_initializer(f"{shape}_constant", np.array(target, np.int64))
            edit.replace(nodes, [helper.make_node("Reshape", [x, name], list(reshape.outputs), name=reshape.name)])
