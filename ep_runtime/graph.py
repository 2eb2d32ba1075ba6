"""The in-memory graph: values, nodes, topological order, producers and consumers."""

from __future__ import annotations

import keyword
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import InvalidGraphError


@dataclass(frozen=True)
class ValueInfo:
    """What is known statically about a value: its ONNX type and, for tensors, dtype and shape.

    `shape` is None when the rank is unknown; a dim is an int, a symbolic name (str) or None.
    `kind` is "tensor", "sequence", "optional", "map" or "unknown".
    """

    name: str
    kind: str = "unknown"
    elem_type: int = 0
    shape: tuple[int | str | None, ...] | None = None
    type_proto: onnx.TypeProto | None = field(default=None, compare=False, repr=False)

    @property
    def dtype(self) -> np.dtype | None:
        """The numpy dtype of a tensor value (None when unknown or not a tensor)."""
        if self.kind != "tensor" or not self.elem_type:
            return None
        return onnx_dtype_to_numpy(self.elem_type)

    @property
    def type_str(self) -> str:
        """onnxruntime's type string, e.g. `tensor(float)` or `seq(tensor(int64))`."""
        return type_proto_str(self.type_proto) if self.type_proto is not None else "unknown"

    @property
    def static_shape(self) -> tuple[int, ...] | None:
        """The shape when every dim is a known integer, else None."""
        if self.shape is None or any(not isinstance(d, int) for d in self.shape):
            return None
        return tuple(self.shape)  # type: ignore[arg-type]


def onnx_dtype_to_numpy(elem_type: int) -> np.dtype:
    """The numpy dtype (ml_dtypes for bfloat16/float8/int4 families) of an ONNX element type."""
    if elem_type == onnx.TensorProto.STRING:
        return np.dtype(object)
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def type_proto_str(tp: onnx.TypeProto) -> str:
    """Render a TypeProto the way onnxruntime does: tensor(float), seq(tensor(int64)), optional(...)."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        return f"tensor({_elem_name(tp.tensor_type.elem_type)})"
    if which == "sparse_tensor_type":
        return f"sparse_tensor({_elem_name(tp.sparse_tensor_type.elem_type)})"
    if which == "sequence_type":
        return f"seq({type_proto_str(tp.sequence_type.elem_type)})"
    if which == "optional_type":
        return f"optional({type_proto_str(tp.optional_type.elem_type)})"
    if which == "map_type":
        return f"map({_elem_name(tp.map_type.key_type)},{type_proto_str(tp.map_type.value_type)})"
    return "unknown"


_ELEM_NAMES = {
    onnx.TensorProto.FLOAT: "float",
    onnx.TensorProto.DOUBLE: "double",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.BFLOAT16: "bfloat16",
    onnx.TensorProto.STRING: "string",
    onnx.TensorProto.BOOL: "bool",
}


def _elem_name(elem_type: int) -> str:
    if elem_type in _ELEM_NAMES:
        return _ELEM_NAMES[elem_type]
    return onnx.TensorProto.DataType.Name(elem_type).lower() if elem_type else "undefined"


def value_info_from_type(name: str, tp: onnx.TypeProto | None) -> ValueInfo:
    """Build a ValueInfo from an ONNX TypeProto (which may be absent or partial)."""
    if tp is None:
        return ValueInfo(name)
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        tt = tp.tensor_type
        shape: tuple[int | str | None, ...] | None = None
        if tt.HasField("shape"):
            shape = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim
            )
        return ValueInfo(name, "tensor", tt.elem_type, shape, tp)
    kinds = {"sequence_type": "sequence", "optional_type": "optional", "map_type": "map",
             "sparse_tensor_type": "sparse_tensor"}
    return ValueInfo(name, kinds.get(which or "", "unknown"), 0, None, tp)


def decode_attribute(attr: onnx.AttributeProto) -> Any:
    """Turn an AttributeProto into a plain Python value: int, float, str, lists, ndarray or GraphProto."""
    A = onnx.AttributeProto
    t = attr.type
    if t == A.INT:
        return int(attr.i)
    if t == A.FLOAT:
        return float(attr.f)
    if t == A.STRING:
        return attr.s.decode("utf-8", errors="surrogateescape")
    if t == A.INTS:
        return [int(v) for v in attr.ints]
    if t == A.FLOATS:
        return [float(v) for v in attr.floats]
    if t == A.STRINGS:
        return [s.decode("utf-8", errors="surrogateescape") for s in attr.strings]
    if t == A.TENSOR:
        return numpy_helper.to_array(attr.t)
    if t == A.TENSORS:
        return [numpy_helper.to_array(x) for x in attr.tensors]
    if t == A.GRAPH:
        return attr.g
    if t == A.GRAPHS:
        return list(attr.graphs)
    if t == A.SPARSE_TENSOR:
        return sparse_to_dense(attr.sparse_tensor)
    if t == A.TYPE_PROTO:
        return attr.tp
    if t == A.TYPE_PROTOS:
        return list(attr.type_protos)
    raise InvalidGraphError(f"attribute {attr.name!r} has an unknown type {t}")


def sparse_to_dense(sp: onnx.SparseTensorProto) -> np.ndarray:
    """Densify a SparseTensorProto (linear or coordinate indices)."""
    values = numpy_helper.to_array(sp.values)
    dims = tuple(sp.dims)
    dense = np.zeros(dims, dtype=values.dtype)
    idx = numpy_helper.to_array(sp.indices).astype(np.int64)
    if idx.ndim == 1:
        dense.reshape(-1)[idx] = values
    else:
        dense[tuple(idx.T)] = values
    return dense


def attr_param_name(name: str) -> str:
    """The Python keyword-argument name used for an ONNX attribute (`lambda` -> `lambda_`)."""
    return name + "_" if keyword.iskeyword(name) else name


@dataclass(eq=False)
class Node:
    """One operator instance; `index` is its position in the graph's topological order."""

    index: int
    name: str
    op_type: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    opset: int
    proto: onnx.NodeProto = field(repr=False)
    implicit_inputs: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """A human name for messages: `'conv1' (Conv)` or `#12 (Conv)` for unnamed nodes."""
        who = repr(self.name) if self.name else f"#{self.index}"
        dom = f"{self.domain}." if self.domain else ""
        return f"{who} ({dom}{self.op_type})"

    @property
    def present_inputs(self) -> list[str]:
        """Input names that are not empty (omitted optional inputs left out)."""
        return [i for i in self.inputs if i]


class Graph:
    """A topologically ordered ONNX graph with typed values, producers and consumers."""

    def __init__(
        self,
        graph: onnx.GraphProto,
        opsets: dict[str, int],
        *,
        functions: dict[tuple[str, str], onnx.FunctionProto] | None = None,
        outer_scope: Iterable[str] = (),
        initializers: dict[str, np.ndarray] | None = None,
        outer_constants: Iterable[str] = (),
    ) -> None:
        self.proto = graph
        self.name = graph.name
        self.opsets = dict(opsets)
        self.functions = dict(functions or {})
        self.outer_scope = set(outer_scope)
        #: the outer-scope values that are constants of an enclosing graph (Graph.is_constant there): the same
        #: array on every run, as this graph's own initializers are
        self.outer_constants = set(outer_constants) & self.outer_scope
        if initializers is None:
            initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
            for sp in graph.sparse_initializer:
                initializers[sp.values.name] = sparse_to_dense(sp)
        self.initializers: dict[str, np.ndarray] = initializers

        self.values: dict[str, ValueInfo] = {}
        for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
            if vi.name and vi.name not in self.values or (
                vi.name in self.values and self.values[vi.name].kind == "unknown"
            ):
                self.values[vi.name] = value_info_from_type(vi.name, vi.type if vi.HasField("type") else None)
        for name, arr in self.initializers.items():
            if name not in self.values or self.values[name].kind != "tensor":
                self.values[name] = ValueInfo(
                    name, "tensor", _np_to_elem(arr.dtype), tuple(arr.shape),
                    onnx.helper.make_tensor_type_proto(_np_to_elem(arr.dtype), arr.shape),
                )

        self.inputs: list[ValueInfo] = [
            self.values[i.name] for i in graph.input if i.name not in self.initializers
        ]
        self._fed = {i.name for i in graph.input}
        self.overridable: list[ValueInfo] = [
            self.values[i.name] for i in graph.input if i.name in self.initializers
        ]
        self.outputs: list[ValueInfo] = [self.values[o.name] for o in graph.output]
        self.nodes: list[Node] = self._sorted_nodes()
        self.producer: dict[str, Node] = {o: n for n in self.nodes for o in n.outputs if o}
        self.consumers: dict[str, list[Node]] = defaultdict(list)
        for n in self.nodes:
            for i in dict.fromkeys(n.present_inputs + n.implicit_inputs):
                self.consumers[i].append(n)

    def value(self, name: str) -> ValueInfo:
        """The ValueInfo of `name` (an empty one when nothing is known about it)."""
        return self.values.get(name) or ValueInfo(name)

    def is_constant(self, name: str) -> bool:
        """Whether every run hands the reader of `name` the same array: an initializer (or a constant a provider's
        compile-time fusion made) that no node of this graph computes and the caller cannot feed, or an
        outer-scope value that is such a constant of an enclosing graph (`outer_constants`). Kernels keep what
        they derive from such an input (packed weights, plans) between runs."""
        if not name or name in self.producer or name in self._fed:
            return False
        return name not in self.outer_scope or name in self.outer_constants

    def _sorted_nodes(self) -> list[Node]:
        protos = list(self.proto.node)
        graph_inputs = {i.name for i in self.proto.input}
        available = graph_inputs | set(self.initializers) | self.outer_scope
        produced_by: dict[str, int] = {}
        for k, n in enumerate(protos):
            for o in n.output:
                if not o:
                    continue
                if o in produced_by or o in self.initializers or o in graph_inputs:
                    raise InvalidGraphError(
                        f"value {o!r} is produced twice (again by node {n.name or '#' + str(k)} ({n.op_type}))"
                    )
                produced_by[o] = k
        waiting: dict[int, int] = {}
        users: dict[int, list[int]] = defaultdict(list)
        for k, n in enumerate(protos):
            deps = set()
            for i in list(n.input) + implicit_inputs(n):
                if not i or i in available:
                    continue
                if i not in produced_by:
                    raise InvalidGraphError(
                        f"node {n.name or '#' + str(k)} ({n.op_type}) reads value {i!r}, "
                        "which is no graph input, initializer or node output"
                    )
                deps.add(produced_by[i])
            waiting[k] = len(deps)
            for d in deps:
                users[d].append(k)
        ready = [k for k in range(len(protos)) if waiting[k] == 0]
        order: list[int] = []
        while ready:
            k = ready.pop(0) if len(ready) < 64 else ready.pop()
            order.append(k)
            for u in users[k]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    ready.append(u)
        if len(order) != len(protos):
            stuck = [protos[k].name or f"#{k}" for k in range(len(protos)) if waiting[k] > 0]
            raise InvalidGraphError(f"the graph has a cycle through nodes {stuck[:10]}")
        nodes = []
        for idx, k in enumerate(order):
            p = protos[k]
            domain = "" if p.domain in ("", "ai.onnx") else p.domain
            nodes.append(Node(
                index=idx, name=p.name, op_type=p.op_type, domain=domain,
                inputs=list(p.input), outputs=list(p.output),
                attrs={a.name: decode_attribute(a) for a in p.attribute},
                opset=self.opsets.get(domain, 0), proto=p, implicit_inputs=implicit_inputs(p),
            ))
        return nodes


def _np_to_elem(dtype: np.dtype) -> int:
    if dtype == np.dtype(object):
        return onnx.TensorProto.STRING
    return onnx.helper.np_dtype_to_tensor_dtype(dtype)


def implicit_inputs(node: onnx.NodeProto) -> list[str]:
    """Outer-scope values read by the subgraphs of a control-flow node (its bodies' free values)."""
    names: list[str] = []
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            names.extend(subgraph_free_values(g))
    return names


def subgraph_free_values(g: onnx.GraphProto) -> list[str]:
    """Names a subgraph reads that it does not define itself (its outer-scope captures)."""
    defined = {i.name for i in g.input} | {t.name for t in g.initializer}
    defined |= {s.values.name for s in g.sparse_initializer}
    free: list[str] = []
    for n in g.node:
        for i in list(n.input) + implicit_inputs(n):
            if i and i not in defined and i not in free:
                free.append(i)
        defined.update(o for o in n.output if o)
    return [f for f in free if f not in defined]


@dataclass(eq=False)
class SubGraph:
    """A connected set of nodes assigned to one provider, with the values crossing its border.

    `inputs` come from outside (graph inputs or other subgraphs) in call order; names in
    `host_inputs` arrive as numpy arrays. `constants` are the initializers its nodes read.
    `outputs` are the values used after it or returned from the graph.
    """

    index: int
    provider: str
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    constants: dict[str, np.ndarray]
    host_inputs: set[str]
    graph: Graph
    #: legacy (the compile options of providers whose compile takes no CompileOptions; provider.compile_subgraph
    #: sets both on a copy for them): the profile scope, and the session's graph_optimization_level
    profiler: Any = None
    optimization_level: int = 99
