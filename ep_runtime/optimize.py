"""Graph optimizations done once at session creation: constant folding and Conv+BatchNorm folding.

`batchnorm_as_affine` and `fold_affine_into_conv` are the one BatchNormalization -> Conv arithmetic: the
CPU provider's compile-time fusions (providers/cpu/fusion.py) use them too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import onnx

from .graph import Graph, Node
from .optimization_level import GraphOptimizationLevel
from .rewrites import rewrite

if TYPE_CHECKING:
    from .provider import ExecutionProvider

#: evaluates one node on host arrays; returns its outputs or None when it cannot
NodeEvaluator = Callable[[Node, Graph, list], "list | None"]

#: ops never folded: their value changes from run to run, or they have no tensor result
_NOT_FOLDABLE = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
    "Bernoulli", "If", "Loop", "Scan", "SequenceEmpty", "SequenceConstruct", "Optional",
})
_MAX_FOLD_BYTES = 1 << 31


def optimize(graph: Graph, level: int, evaluate: NodeEvaluator | None,
             providers: Sequence[ExecutionProvider] | None = None) -> Graph:
    """Return a graph with constants folded (when `evaluate` is given), BatchNorm folded into Conv,
    and the rewrites of `level` applied (ep_runtime.rewrites; fusions only where one of
    `providers` claims the fused node)."""
    if level <= GraphOptimizationLevel.ORT_DISABLE_ALL:
        return graph
    return rewrite(fold_constants(graph, evaluate), level, lambda g: fold_constants(g, evaluate), providers)


def fold_constants(graph: Graph, evaluate: NodeEvaluator | None) -> Graph:
    """Return a graph with constants folded (when `evaluate` is given) and BatchNorm folded into Conv."""
    initializers = dict(graph.initializers)
    keep: list[Node] = []
    graph_outputs = {o.name for o in graph.outputs}
    if evaluate is not None:
        for node in graph.nodes:
            if _foldable(node, initializers):
                outs = evaluate(node, graph, [initializers[i] if i else None for i in node.inputs])
                if outs is not None and all(isinstance(o, np.ndarray) for n, o in zip(node.outputs, outs) if n):
                    if sum(o.nbytes for o in outs if o is not None) <= _MAX_FOLD_BYTES:
                        for name, val in zip(node.outputs, outs):
                            if name:
                                initializers[name] = val
                        continue
            keep.append(node)
    else:
        keep = list(graph.nodes)
    keep = _fold_batchnorm_into_conv(keep, initializers, graph, graph_outputs)
    if len(keep) == len(graph.nodes) and initializers.keys() == graph.initializers.keys():
        return graph
    used = {i for n in keep for i in n.present_inputs + n.implicit_inputs} | graph_outputs
    initializers = {k: v for k, v in initializers.items() if k in used}
    proto = onnx.GraphProto()
    proto.CopyFrom(graph.proto)
    del proto.node[:]
    proto.node.extend(n.proto for n in keep)
    del proto.initializer[:]
    del proto.sparse_initializer[:]
    dropped = set(graph.initializers) - set(initializers)
    inputs = [i for i in proto.input if i.name not in dropped]
    del proto.input[:]
    proto.input.extend(inputs)
    return Graph(proto, graph.opsets, functions=graph.functions, outer_scope=graph.outer_scope,
                 initializers=initializers)


def _foldable(node: Node, initializers: dict[str, np.ndarray]) -> bool:
    if node.op_type in _NOT_FOLDABLE or node.implicit_inputs or node.domain not in ("", "ai.onnx"):
        return False
    return all(i in initializers for i in node.present_inputs)


def _fold_batchnorm_into_conv(
    nodes: list[Node], initializers: dict[str, np.ndarray], graph: Graph, graph_outputs: set[str]
) -> list[Node]:
    """Replace Conv -> BatchNormalization (inference, constant params) by one Conv with new weights."""
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.present_inputs + n.implicit_inputs:
            uses[i] = uses.get(i, 0) + 1
    producer = {o: n for n in nodes for o in n.outputs if o}
    drop: set[int] = set()
    replace: dict[int, onnx.NodeProto] = {}
    for bn in nodes:
        if bn.op_type != "BatchNormalization" or bn.domain or len([o for o in bn.outputs if o]) != 1:
            continue
        if bn.attrs.get("training_mode", 0):
            continue
        conv = producer.get(bn.inputs[0])
        if conv is None or conv.op_type != "Conv" or conv.domain or conv.index in replace:
            continue
        y = conv.outputs[0]
        if uses.get(y, 0) != 1 or y in graph_outputs:
            continue
        params = bn.inputs[1:5]
        conv_in = conv.present_inputs
        if len(params) != 4 or not all(p in initializers for p in params):
            continue
        if len(conv_in) < 2 or conv_in[1] not in initializers or (len(conv_in) > 2 and conv_in[2] not in initializers):
            continue
        w = initializers[conv_in[1]]
        if w.dtype not in (np.float32, np.float64) or w.ndim < 1:
            continue
        per_channel = [initializers[p] for p in [*params, *conv_in[2:3]]]
        if any(a.shape != (w.shape[0],) for a in per_channel):
            continue  # shapes the fold cannot use: the Conv and BatchNormalization kernels report them
        eps = bn.attrs.get("epsilon", 1e-5)
        if not isinstance(eps, (int, float)):
            continue
        factor, shift = batchnorm_as_affine(*(initializers[p] for p in params), float(eps))
        new_w, new_b = fold_affine_into_conv(w, initializers[conv_in[2]] if len(conv_in) > 2 else None,
                                             factor, shift)
        w_name, b_name = _fresh(initializers, conv_in[1] + "_bnfold"), _fresh(initializers, y + "_bnfold_b")
        initializers[w_name], initializers[b_name] = new_w, new_b
        proto = onnx.NodeProto()
        proto.CopyFrom(conv.proto)
        del proto.input[:]
        proto.input.extend([conv_in[0], w_name, b_name])
        del proto.output[:]
        proto.output.append(bn.outputs[0])
        replace[conv.index] = proto
        drop.add(bn.index)
    if not replace:
        return nodes
    out = []
    for n in nodes:
        if n.index in drop:
            continue
        if n.index in replace:
            p = replace[n.index]
            n = Node(n.index, n.name, n.op_type, n.domain, list(p.input), list(p.output), n.attrs,
                     n.opset, p, n.implicit_inputs)
        out.append(n)
    return out


def batchnorm_as_affine(scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray,
                        epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNormalization as `x * factor + shift` per channel, both in float64 (the one
    place the Conv+BatchNormalization fold and the CPU provider's affine fusions compute it)."""
    factor = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    return factor, bias.astype(np.float64) - mean.astype(np.float64) * factor


def fold_affine_into_conv(w: np.ndarray, b: np.ndarray | None, factor: np.ndarray,
                          shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of a Conv (weights `w`, bias `b` or none) followed by `y * factor + shift` per output
    channel (`factor`, `shift` of one value per output channel or one for all): computed in float64,
    stored in `w`'s dtype."""
    m = w.shape[0]
    factor = np.broadcast_to(np.asarray(factor, np.float64).reshape(-1), (m,))
    bias = b.astype(np.float64) if b is not None else np.zeros(m)
    new_w = (w.astype(np.float64) * factor.reshape((m,) + (1,) * (w.ndim - 1))).astype(w.dtype)
    new_b = (bias * factor + np.broadcast_to(np.asarray(shift, np.float64).reshape(-1), (m,))).astype(w.dtype)
    return new_w, new_b


def _fresh(names: dict[str, np.ndarray], base: str) -> str:
    name, k = base, 0
    while name in names:
        k += 1
        name = f"{base}{k}"
    return name
