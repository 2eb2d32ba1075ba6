"""YOLOv5's Focus block -> SpaceToDepth (EXTENDED level).

Focus concatenates, along channels, the four stride-2 phases of an NCHW tensor:
`Concat(x[..., h0::2, w0::2] for (h0, w0) in order, axis=1)`, each phase one Slice over both
axes or two chained Slices. SpaceToDepth(blocksize=2) writes phase (h0, w0) at channel block
`2 * h0 + w0`; YOLOv5's order (0,0), (1,0), (0,1), (1,1) is blocks 0, 2, 1, 3. When the order
differs from SpaceToDepth's, the channel permutation is folded into the input channels of the
Conv that reads the Concat (a constant weight, group 1), or else applied by a Gather.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..graph import Node
from .editor import GraphEdit, fused_name

#: a Slice end at least this large means "to the end" whatever the dimension
_OPEN_END = 1 << 30


def _slice_params(edit: GraphEdit, node: Node) -> dict[int, tuple[int, int, int]] | None:
    """axis -> (start, end, step) of a Slice with constant parameters (opset 10 and above)."""
    if node.opset < 10 or len(node.inputs) < 3:
        return None
    starts, ends = edit.const(node.inputs[1]), edit.const(node.inputs[2])
    axes = edit.const(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    steps = edit.const(node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else None
    if starts is None or ends is None or (len(node.inputs) > 3 and node.inputs[3] and axes is None) \
            or (len(node.inputs) > 4 and node.inputs[4] and steps is None):
        return None
    starts, ends = starts.reshape(-1), ends.reshape(-1)
    axes = np.arange(len(starts)) if axes is None else axes.reshape(-1)
    steps = np.ones(len(starts), np.int64) if steps is None else steps.reshape(-1)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        return None
    out = {}
    for a, s, e, st in zip(axes, starts, ends, steps):
        a = int(a) % 4 if -4 <= int(a) < 4 else -1
        if a < 0 or a in out:
            return None
        out[a] = (int(s), int(e), int(st))
    return out


def _phase(edit: GraphEdit, value: str) -> tuple[str, tuple[int, int], list[Node], tuple[int, int]] | None:
    """(x, (h0, w0), slices, (end_h, end_w)) when `value` is x[:, :, h0:end_h:2, w0:end_w:2]
    through one or two Slices."""
    found: dict[int, tuple[int, int, int]] = {}
    nodes: list[Node] = []
    while len(nodes) < 2 and set(found) != {2, 3}:
        node = edit.producer(value, "Slice")
        if node is None:
            break
        params = _slice_params(edit, node)
        if params is None or set(params) & set(found):
            return None
        found.update(params)
        nodes.append(node)
        value = node.inputs[0]
    if not nodes or set(found) != {2, 3}:
        return None
    if any(found[a][2] != 2 or found[a][0] not in (0, 1) for a in (2, 3)):
        return None
    return value, (found[2][0], found[3][0]), nodes, (found[2][1], found[3][1])


def fuse_focus(edit: GraphEdit) -> None:
    """Replace each Focus Concat (and its slices) by SpaceToDepth, permuting channels where needed."""
    for cat in edit.graph.nodes:
        if cat.op_type != "Concat" or cat.domain or cat.index in edit.removed or len(cat.inputs) != 4:
            continue
        if cat.opset < 13 or cat.attrs.get("axis") not in (1, -3):
            continue
        phases = [_phase(edit, value) for value in cat.inputs]
        if any(p is None for p in phases) or len({p[0] for p in phases}) != 1 or len({p[1] for p in phases}) != 4:
            continue
        x = phases[0][0]
        dims = edit.graph.value(x).shape
        if dims is None or len(dims) != 4 or edit.dtype(x) is None:
            continue
        if any(isinstance(d, int) and d % 2 for d in dims[2:]):
            continue
        if not all(end >= _OPEN_END or (isinstance(dim, int) and end >= dim)
                   for p in phases for end, dim in zip(p[3], dims[2:])):
            continue
        slices = list({n.index: n for p in phases for n in p[2]}.values())
        blocks = [2 * h + w for _, (h, w), _, _ in phases]
        _replace_focus(edit, cat, slices, x, blocks, dims[1])


def _replace_focus(edit: GraphEdit, cat: Node, slices: list[Node], x: str, blocks: list[int], channels) -> None:
    out = cat.outputs[0]
    chain = slices + [cat]
    name = fused_name([cat])
    if blocks == [0, 1, 2, 3]:
        if edit.closed(chain, out):
            edit.replace(chain, [helper.make_node("SpaceToDepth", [x], [out], name=name, blocksize=2)])
        return
    if not isinstance(channels, int):
        return
    # concat channel k*C + c holds SpaceToDepth channel blocks[k]*C + c
    perm = np.concatenate([np.arange(channels) + b * channels for b in blocks]).astype(np.int64)
    dims = edit.graph.value(x).shape
    s2d_shape = [dims[0], 4 * channels] + [d // 2 if isinstance(d, int) else None for d in dims[2:]]
    s2d = edit.new_value(out + "_space_to_depth", x, s2d_shape)
    first = helper.make_node("SpaceToDepth", [x], [s2d], name=name, blocksize=2)
    conv = edit.only_consumer(out, "Conv")
    w = None if conv is None else edit.const(conv.inputs[1])
    if conv is not None and conv.inputs[0] == out and w is not None and w.ndim == 4 \
            and w.shape[1] == 4 * channels and conv.attrs.get("group", 1) == 1:
        chain_conv = chain + [conv]
        if not edit.closed(chain_conv, conv.outputs[0]):
            return
        new_w = np.empty_like(w)
        new_w[:, perm] = w
        w_name = edit.add_initializer(conv.inputs[1] + "_focus", new_w)
        proto = helper.make_node("Conv", [s2d, w_name] + list(conv.inputs[2:]), list(conv.outputs), name=conv.name)
        proto.attribute.extend(conv.proto.attribute)
        if not edit.replace(chain_conv, [first, proto]):
            del edit.new_initializers[w_name]
        return
    if not edit.closed(chain, out):
        return
    idx = edit.add_initializer(out + "_focus_order", perm)
    if not edit.replace(chain, [first, helper.make_node("Gather", [s2d, idx], [out], name=name + "/order", axis=1)]):
        del edit.new_initializers[idx]
