"""Shape computations folded into constants when the C provider specialises a subgraph.

Exporters compute reshape targets from shapes: `Shape -> Gather -> Unsqueeze -> Concat -> Reshape`,
`Shape -> ConstantOfShape` for an LSTM's initial state. Those chains (the core's
`partition.shape_computation_nodes`: Shape/Size and the small int64 chains fed only by them and by
constants) depend on nothing but the shapes of the values they read, so once a subgraph is
specialised for concrete input shapes they are constants. The provider claims them and, at
specialisation, evaluates them with the reference CPU provider's kernels (the same evaluation the
core's constant folding does), in node order, between the shape rules of the nodes they feed
(`shapes.propagate` with `fold`): a Reshape whose shape they compute then reads a constant, as if the
model had it as an initializer. A folded node runs no C at all, unless its value leaves the subgraph
(one copy from the constant).

Before a node is claimed, the chains are evaluated once per graph with every symbolic dim standing
for `PROPAGATED_TRIAL_DIM` (`trial_graph`), so the nodes they feed are checked as other nodes of
symbolic shapes are. A folded value a subgraph receives from another subgraph is part of its specialisation
signature (`value_inputs`): its value is known only at run time, and is the same for every run with
the same input shapes.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from ep_runtime.graph import Graph, Node, SubGraph, ValueInfo
from ep_runtime.host_inputs import metadata_input_positions
from ep_runtime.partition import shape_computation_nodes
from ep_runtime.provider import Refusal, compile_subgraph
from ep_runtime.registry import reference_provider

from .calls import C_DTYPES, Call, walk
from .lowering import lower
from .shapes import Ctx, Shape, Unsupported, fits_declared, implied_shapes, propagate

#: the most elements a folded value may have (a ConstantOfShape state is a few thousand; a larger value
#: would be a constant of every specialisation)
MAX_FOLD_ELEMENTS = 1 << 20
#: what a symbolic dim stands for in the trial graph's propagation (`trial_graph`): larger than
#: `shapes.TRIAL_DIM`, so that an input downsampled by a few strided layers still fits the pools after them
#: (a text recogniser's height 64 / 16 = 4 rows for a 3-tall window)
PROPAGATED_TRIAL_DIM = 64

_FOLDABLE: weakref.WeakKeyDictionary[Graph, frozenset[int]] = weakref.WeakKeyDictionary()
_TRIALS: weakref.WeakKeyDictionary[Graph, tuple[Graph, dict[int, Refusal]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_evaluator: list = []


def foldable(graph: Graph) -> frozenset[int]:
    """Indices of the nodes of `graph` that compute on shapes only (folded at specialisation)."""
    with _lock:
        got = _FOLDABLE.get(graph)
        if got is None:
            got = _FOLDABLE[graph] = frozenset(shape_computation_nodes(graph))
        return got


def folded_values(graph: Graph) -> set[str]:
    """The values the foldable nodes of `graph` produce."""
    fold = foldable(graph)
    return {o for n in graph.nodes if n.index in fold for o in n.outputs if o}


def _cpu():
    with _lock:
        if not _evaluator:
            _evaluator.append(reference_provider())
        return _evaluator[0]


def evaluate(node: Node, graph: Graph, shapes: Mapping[str, Shape]) -> dict[str, np.ndarray]:
    """The outputs of foldable `node`, computed by the reference CPU provider from the constants it reads
    (`graph.initializers`) and, for Shape and Size, the shape of its input (`shapes`).

    Raises Unsupported naming the node when an input is not known or the kernel fails."""
    meta = set(metadata_input_positions(node))
    consts: dict[str, np.ndarray] = {}
    for k, name in enumerate(node.inputs):
        if not name:
            continue
        if name in graph.initializers:
            consts[name] = graph.initializers[name]
        elif k in meta and name in shapes:
            dtype = graph.value(name).dtype or np.dtype(np.float32)
            consts[name] = np.broadcast_to(np.zeros((), dtype=dtype), shapes[name])  # only its shape is read
        else:
            raise Unsupported("dynamic_shape", f"{node.op_type} input {name!r} is not known when the shapes are "
                                               "specialised")
    outs = [o for o in node.outputs if o]
    cpu = _cpu()
    sub = SubGraph(-1, cpu.name, [node], [], outs, consts, set(), graph)
    try:
        results = compile_subgraph(cpu, sub)()
    except Exception as exc:  # a model-made value the kernel rejects (an index out of range...)
        raise Unsupported("dynamic_shape", f"{node.op_type} cannot be evaluated for these shapes: "
                                           f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
    values = {}
    for name, arr in zip(outs, results):
        arr = np.asarray(arr)
        if arr.size > MAX_FOLD_ELEMENTS:
            raise Unsupported("dynamic_shape", f"{node.op_type} output {name!r} has {arr.size} elements "
                                               f"(folded values hold <= {MAX_FOLD_ELEMENTS})")
        if arr.dtype not in C_DTYPES:
            raise Unsupported("dtype", f"{node.op_type} output {name!r} of type {arr.dtype} unsupported")
        values[name] = np.array(arr, order="C")  # a copy: not ascontiguousarray, which makes a 0-d value 1-d
    return values


def with_constants(graph: Graph) -> Graph:
    """A copy of `graph` (nodes, consumers shared) whose initializers and values `add_constant` may extend."""
    spec = copy.copy(graph)
    spec.initializers = dict(graph.initializers)
    spec.values = dict(graph.values)
    return spec


def add_constant(spec: Graph, name: str, value: np.ndarray) -> None:
    """Make `name` a constant of `spec` (a `with_constants` copy): lowering then reads it as an initializer."""
    spec.initializers[name] = value
    elem = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
    spec.values[name] = ValueInfo(name, "tensor", elem, tuple(value.shape),
                                  onnx.helper.make_tensor_type_proto(elem, value.shape))


@dataclass
class Specialised:
    """A subgraph's shapes for one signature: the graph with the folded values as constants, every value's
    concrete shape, and the names the folding produced."""

    graph: Graph
    shapes: dict[str, Shape]
    folded: dict[str, np.ndarray]


def specialise(nodes: Sequence[Node], graph: Graph, known: Mapping[str, Shape],
               values: Mapping[str, np.ndarray]) -> Specialised:
    """Concrete shapes of every value `nodes` produce (`shapes.propagate`), the foldable nodes evaluated on
    the way; `values` are folded values coming in from other subgraphs. Raises Unsupported naming the node."""
    spec = with_constants(graph)
    for name, value in values.items():
        add_constant(spec, name, np.array(value, order="C"))
    fold = foldable(graph)
    folded: dict[str, np.ndarray] = {}

    def fold_node(node: Node, shapes: dict[str, Shape]) -> dict[str, Shape] | None:
        if node.index not in fold:
            return None
        got = evaluate(node, spec, shapes)
        for name, value in got.items():
            declared = graph.value(name).shape
            if not fits_declared(declared, value.shape):
                raise Unsupported("dynamic_shape", f"declared shape of {name!r} is {list(declared or [])}, but "
                                                   f"{node.op_type} gives {list(value.shape)}")
            add_constant(spec, name, value)
        folded.update(got)
        return {name: tuple(v.shape) for name, v in got.items()}

    shapes = propagate(nodes, spec, known, fold=fold_node)
    return Specialised(spec, shapes, folded)


def trial_graph(graph: Graph) -> Graph:
    """`graph` as a node of symbolic shapes is checked on before it is claimed (computed once per graph):
    each symbolic dim standing for `PROPAGATED_TRIAL_DIM`, and the graph inputs' shapes propagated through
    the nodes by their rules (`shapes.implied_shapes`), as static shapes where they fit the declared dims:
    so a value whose rank shape inference left unknown (read after a Reshape to a computed shape) gets one,
    and the dims of one value agree with the others'. The value of each foldable node is a constant. A value
    the propagation does not reach has its declared dims, symbolic ones as `PROPAGATED_TRIAL_DIM`."""
    return _trial(graph)[0]


def trial_refusal(node: Node, graph: Graph) -> Refusal | None:
    """Why foldable `node` cannot be folded (its trial evaluation failed), or None."""
    return _trial(graph)[1].get(node.index)


def _trial(graph: Graph) -> tuple[Graph, dict[int, Refusal]]:
    with _lock:
        got = _TRIALS.get(graph)
    if got is not None:
        return got
    spec = with_constants(graph)
    refused: dict[int, Refusal] = {}
    fold = foldable(graph)
    shapes: dict[str, Shape] = {}
    for name, info in graph.values.items():
        if info.shape is not None and name not in graph.initializers:
            shapes[name] = tuple(d if isinstance(d, int) else PROPAGATED_TRIAL_DIM for d in info.shape)
            spec.values[name] = ValueInfo(name, "tensor", info.elem_type, shapes[name], info.type_proto)
    for node in graph.nodes:
        if node.index in fold:
            try:
                for name, value in evaluate(node, spec, shapes).items():
                    add_constant(spec, name, value)
                    shapes[name] = tuple(value.shape)
            except Unsupported as exc:
                refused[node.index] = Refusal(exc.refusal.kind, f"{exc.refusal.reason} (symbolic dims tried as "
                                                                f"{PROPAGATED_TRIAL_DIM})")
            continue
        if any(i not in shapes and i not in spec.initializers for i in node.present_inputs):
            continue
        try:
            implied = implied_shapes(Ctx(node, spec, shapes))
        except (Unsupported, ValueError, TypeError, KeyError, IndexError):
            continue  # its outputs keep their declared trial dims, or stay unknown
        for name, shape in implied.items():
            old = graph.value(name)
            if fits_declared(old.shape, shape):
                shapes[name] = shape
                spec.values[name] = ValueInfo(name, "tensor", old.elem_type, shape, old.type_proto)
    with _lock:
        got = _TRIALS.setdefault(graph, (spec, refused))
    return got


def claim_graph(node: Node, graph: Graph) -> Graph:
    """The graph `node` is checked on before it is claimed: the trial graph when a value it reads or writes
    has no static shape (`trial_graph`), else `graph`."""
    for name in [*node.inputs, *node.outputs]:
        if name and name not in graph.initializers and graph.value(name).static_shape is None:
            return trial_graph(graph)
    return graph


def is_foldable(node: Node, graph: Graph) -> bool:
    """Whether `node` (a node of `graph`, not one a rewrite is asking about) computes on shapes only."""
    return node.index in foldable(graph) and graph.nodes[node.index] is node


def folded_claim(node: Node, graph: Graph) -> Call | Refusal | None:
    """For a foldable node: the call it becomes when its value leaves a subgraph (a copy of the constant), or
    why it cannot be folded; None for any other node."""
    if not is_foldable(node, graph):
        return None
    refusal = trial_refusal(node, graph)
    if refusal is not None:
        return refusal
    spec = trial_graph(graph)
    return constant_copy(node, {o: spec.initializers[o] for o in node.outputs if o})


def constant_copy(node: Node, values: Mapping[str, np.ndarray]) -> Call:
    """The call that writes folded values into outputs of `node` (read outside its subgraph)."""
    args, consts = [], {}
    for name, value in values.items():
        consts[f"{name}/value"] = value
        args += [("t", f"{name}/value"), ("t", name)]
    if len(values) != 1:
        raise Unsupported("attribute", f"{node.op_type} with {len(values)} outputs cannot be folded (one output)")
    return Call("ep_identity", "identity", args, inputs=list(consts), outputs=list(values), constants=consts)


def value_inputs(subgraph: SubGraph) -> list[int]:
    """Positions of the inputs of `subgraph` that are folded values made elsewhere: their values are part of
    its specialisation signature."""
    made = folded_values(subgraph.graph)
    return [k for k, name in enumerate(subgraph.inputs) if name in made]


def needs_specialising(subgraph: SubGraph) -> bool:
    """Whether `subgraph` folds shape computations or reads folded values (compiled per signature)."""
    fold = foldable(subgraph.graph)
    return any(n.index in fold for n in subgraph.nodes) or bool(value_inputs(subgraph))


def specialised_calls(subgraph: SubGraph, spec: Specialised) -> tuple[SubGraph, list[Call], list[int]]:
    """What a specialisation of `subgraph` runs: the subgraph on the graph with the folded constants (folded
    nodes dropped, except a copy of a value that leaves it), the call of each of its nodes, and the
    positions of the inputs those calls read. Raises Unsupported naming the node a lowering refuses."""
    leaving = set(subgraph.outputs)
    nodes: list[Node] = []
    calls: list[Call] = []
    for node in subgraph.nodes:
        if any(o in spec.folded for o in node.outputs if o):
            out = {o: spec.folded[o] for o in node.outputs if o in leaving}
            if out:
                nodes.append(node)
                calls.append(constant_copy(node, out))
            continue
        call = lower(node, spec.graph, spec.shapes)
        if isinstance(call, Refusal):
            exc = Unsupported(call.kind, call.reason)
            exc.node = node
            raise exc
        nodes.append(node)
        calls.append(call)
    read = {i for c in walk(calls) for i in c.inputs}
    constants = {**subgraph.constants,
                 **{n: v for n, v in spec.folded.items() if n in read and n not in leaving}}
    keep = [k for k, n in enumerate(subgraph.inputs) if n in read or n in leaving]
    inputs = [subgraph.inputs[k] for k in keep]
    return (dataclasses.replace(subgraph, nodes=nodes, inputs=inputs, constants=constants, graph=spec.graph),
            calls, keep)
