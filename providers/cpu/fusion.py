"""CPU-only peephole fusions done when the CPU provider compiles a subgraph.

`Conv -> Relu` and `Conv -> Add(residual) [-> Relu]` become one `FusedConv` node that adds the
residual and applies the activation in place on the convolution's fresh output, saving a full
pass over the tensor and an allocation each. The fusion happens inside the CPU provider, so
the graph other providers see is untouched; the partition still lists the original nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper

from ep_runtime.graph import Node, SubGraph

from .conv import conv
from .registry import kernel

DOMAIN = "ep_runtime.cpu"
_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


@kernel("FusedConv", since=1, domain=DOMAIN)
def FusedConv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, z: np.ndarray | None = None, *,
              activation: str = "", auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
              kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None) -> np.ndarray:
    """Conv, then `+ z` (a residual) when given, then `activation` ("Relu" or none), in place."""
    y = conv(x, w, b, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
             pads=pads, strides=strides)
    if not y.flags.writeable or np.may_share_memory(y, x):
        y = y.copy()
    if z is not None:
        if z.shape == y.shape and z.dtype == y.dtype:
            y += z
        else:
            y = y + z
    if activation == "Relu":
        np.maximum(y, 0, out=y)
    return y


def fuse_subgraph(sg: SubGraph) -> SubGraph:
    """The subgraph with Conv+Add+Relu chains replaced by FusedConv nodes (or `sg` unchanged)."""
    uses: dict[str, int] = {}
    for n in sg.nodes:
        for i in n.present_inputs + n.implicit_inputs:
            uses[i] = uses.get(i, 0) + 1
    external = set(sg.outputs)
    consumer = {}
    for n in sg.nodes:
        for i in n.present_inputs:
            if uses.get(i) == 1 and i not in external:
                consumer[i] = n

    def single_consumer(node: Node, op: str) -> Node | None:
        nxt = consumer.get(node.outputs[0])
        return nxt if nxt is not None and nxt.op_type == op and not nxt.domain and len(nxt.outputs) == 1 else None

    # The fused node takes the place of the chain's last node: by then the residual exists.
    replaced: dict[int, Node] = {}
    dropped: set[int] = set()
    for node in sg.nodes:
        if node.op_type != "Conv" or node.domain or len(node.outputs) != 1 or node.index in dropped:
            continue
        chain = [node]
        residual = None
        add = single_consumer(node, "Add")
        if add is not None and add.opset >= 7 and len(add.present_inputs) == 2:
            others = [i for i in add.present_inputs if i != node.outputs[0]]
            if len(others) == 1:
                residual = others[0]
                chain.append(add)
        relu = single_consumer(chain[-1], "Relu")
        if relu is not None:
            chain.append(relu)
        if len(chain) == 1:
            continue
        replaced[chain[-1].index] = _fused_node(node, residual, chain)
        dropped.update(n.index for n in chain[:-1])
    if not replaced:
        return sg
    nodes = [replaced.get(n.index, n) for n in sg.nodes if n.index not in dropped]
    return SubGraph(sg.index, sg.provider, nodes, sg.inputs, sg.outputs, sg.constants, sg.host_inputs, sg.graph,
                    sg.profiler)


def _fused_node(conv_node: Node, residual: str | None, chain: list[Node]) -> Node:
    inputs = list(conv_node.inputs) + [""] * (3 - len(conv_node.inputs))
    if residual is not None:
        inputs.append(residual)
    while inputs and not inputs[-1]:
        inputs.pop()
    attrs: dict[str, Any] = {k: v for k, v in conv_node.attrs.items() if k in _CONV_ATTRS}
    if chain[-1].op_type == "Relu":
        attrs["activation"] = "Relu"
    out = chain[-1].outputs[0]
    name = "+".join(n.name or f"#{n.index}" for n in chain)
    proto = helper.make_node("FusedConv", inputs, [out], name=name, domain=DOMAIN)
    return Node(chain[-1].index, name, "FusedConv", DOMAIN, inputs, [out], attrs, 1, proto)
