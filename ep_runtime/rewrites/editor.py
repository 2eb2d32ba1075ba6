"""The one graph editor the rewrites share: pattern lookups over a Graph and the rebuilt Graph.

A rewrite reads the graph through `GraphEdit` (producers, consumers, constants), replaces a
chain of nodes with new NodeProtos (`replace`) and finally `commit()`s: the result is a new
Graph (nodes re-sorted topologically), or the same Graph when nothing changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from ..graph import Graph, Node, decode_attribute, implicit_inputs, value_info_from_type

#: decides whether a new node may replace `replaced` (see placement.Placement.allows)
Allows = Callable[[onnx.NodeProto, Sequence[Node], Graph], bool]


class GraphEdit:
    """One rewrite pass over a graph: lookups on the graph as it was, and the replacements made so far."""

    def __init__(self, graph: Graph, allows: Allows) -> None:
        self.graph = graph
        self._allows = allows
        self.graph_outputs = {o.name for o in graph.outputs}
        overridable = {v.name for v in graph.overridable}
        #: initializers a run cannot override (an initializer that is also a graph input is not constant)
        self.constants = {k: v for k, v in graph.initializers.items() if k not in overridable}
        self.new_initializers: dict[str, np.ndarray] = {}
        self.removed: set[int] = set()
        self.added: list[onnx.NodeProto] = []
        self.opsets: dict[str, int] = {}
        self.value_info: list[onnx.ValueInfoProto] = []
        self._taken: set[str] = set()  # names fresh() gave out
        self._implicit_reads = {i for n in graph.nodes for i in n.implicit_inputs}

    # --- lookups -------------------------------------------------------------------------------
    def producer(self, name: str, *ops: str) -> Node | None:
        """The node (default domain, not yet replaced) producing `name`, when its op is one of `ops`."""
        node = self.graph.producer.get(name)
        if node is None or node.index in self.removed or node.domain or (ops and node.op_type not in ops):
            return None
        return node

    def consumers(self, name: str) -> list[Node]:
        """The nodes reading `name`."""
        return self.graph.consumers.get(name, [])

    def only_consumer(self, name: str, *ops: str) -> Node | None:
        """The single (default-domain, not replaced) reader of `name` when `name` is no graph output
        and no body reads it, and its op is one of `ops`."""
        users = self.consumers(name)
        if len(users) != 1 or name in self.graph_outputs or name in self._implicit_reads:
            return None
        node = users[0]
        if node.index in self.removed or node.domain or (ops and node.op_type not in ops):
            return None
        return node

    def const(self, name: str) -> np.ndarray | None:
        """The value of a constant input (None for an absent name or a non-constant value)."""
        if not name:
            return None
        v = self.new_initializers.get(name)
        return v if v is not None else self.constants.get(name)

    def scalar(self, name: str) -> float | None:
        """A constant holding one real number, as a float."""
        v = self.const(name)
        if v is None or v.size != 1 or v.dtype.kind not in "fiu":
            return None
        return float(v.reshape(()))

    def dtype(self, name: str) -> np.dtype | None:
        """The element type of a value, when known."""
        return self.graph.value(name).dtype

    def rank(self, name: str) -> int | None:
        """The rank of a tensor value, when known."""
        shape = self.graph.value(name).shape
        return None if shape is None else len(shape)

    def closed(self, nodes: Sequence[Node], result: str) -> bool:
        """Whether `nodes` can go as one: none replaced already, and every value they make other
        than `result` is read only among them (no graph output, no outside or body reader)."""
        inside = {n.index for n in nodes}
        if len(inside) != len(nodes) or inside & self.removed:
            return False
        for n in nodes:
            for o in n.outputs:
                if not o or o == result:
                    continue
                if o in self.graph_outputs or o in self._implicit_reads:
                    return False
                if any(c.index not in inside for c in self.consumers(o)):
                    return False
        return True

    def other(self, node: Node, name: str) -> str | None:
        """The input of a two-input node that is not `name` (None when `name` is not exactly one of them)."""
        ins = node.present_inputs
        if len(ins) != 2 or len(node.inputs) != 2:
            return None
        if ins[0] == name and ins[1] != name:
            return ins[1]
        if ins[1] == name and ins[0] != name:
            return ins[0]
        return None

    # --- edits ---------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A value name used nowhere in the graph and not given out before."""
        name, k = base, 0
        while name in self.graph.values or name in self.graph.producer or name in self._taken \
                or name in self.graph.consumers:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    def add_initializer(self, base: str, value: np.ndarray) -> str:
        """A new constant named after `base`; returns its name."""
        name = self.fresh(base)
        self.new_initializers[name] = value
        return name

    def new_value(self, base: str, like: str, shape: Sequence[int | str | None] | None = None) -> str:
        """A fresh value name typed as the value `like` (its element type; `shape`, or like's shape
        when None), so that kernels choosing by dtype (native overrides) see its type."""
        name = self.fresh(base)
        info = self.graph.value(like)
        if info.kind == "tensor" and info.elem_type:
            dims = info.shape if shape is None else shape
            dims = None if dims is None else [d if isinstance(d, (int, str)) else None for d in dims]
            self.value_info.append(onnx.helper.make_tensor_value_info(name, info.elem_type, dims))
        return name

    @contextlib.contextmanager
    def _new_values_typed(self) -> Iterator[None]:
        """The graph's value table holding, for the span of a placement check, the types of the values
        this edit created (`new_value`): a provider that claims nodes by dtype sees them, as it will
        once the edit is committed."""
        added = [vi for vi in self.value_info if vi.name not in self.graph.values]
        self.graph.values.update({vi.name: value_info_from_type(vi.name, vi.type) for vi in added})
        try:
            yield
        finally:
            for vi in added:
                del self.graph.values[vi.name]

    def replace(self, nodes: Sequence[Node], new: Iterable[onnx.NodeProto], opsets: dict[str, int] | None = None
                ) -> bool:
        """Replace `nodes` by `new` when the placement allows it; returns whether it did."""
        new = list(new)
        with self._new_values_typed():
            allowed = all(self._allows(p, nodes, self.graph) for p in new)
        if not allowed:
            return False
        self.removed.update(n.index for n in nodes)
        self.added.extend(new)
        self.opsets.update(opsets or {})
        return True

    def commit(self) -> Graph:
        """The edited graph (unused initializers dropped), or the original one when nothing changed."""
        if not self.removed and not self.added and not self.new_initializers:
            return self.graph
        return rebuild(self.graph, [n.proto for n in self.graph.nodes if n.index not in self.removed] + self.added,
                       {**self.graph.initializers, **self.new_initializers}, self.opsets, self.value_info)


def rebuild(graph: Graph, nodes: list[onnx.NodeProto], initializers: dict[str, np.ndarray],
            opsets: dict[str, int] | None = None, value_info: Iterable[onnx.ValueInfoProto] = ()) -> Graph:
    """A Graph of `graph`'s inputs and outputs over new nodes and initializers (those no node reads
    and that are no graph output dropped, with their graph-input entries)."""
    used = {o.name for o in graph.outputs}
    for p in nodes:
        used.update(i for i in p.input if i)
        used.update(implicit_inputs(p))
    kept = {k: v for k, v in initializers.items() if k in used}
    proto = onnx.GraphProto()
    proto.CopyFrom(graph.proto)
    del proto.node[:]
    proto.node.extend(nodes)
    del proto.initializer[:]
    del proto.sparse_initializer[:]
    dropped = set(initializers) - set(kept)
    inputs = [i for i in proto.input if i.name not in dropped]
    del proto.input[:]
    proto.input.extend(inputs)
    proto.value_info.extend(value_info)
    all_opsets = dict(graph.opsets)
    for domain, version in (opsets or {}).items():
        all_opsets.setdefault(domain, version)
    return Graph(proto, all_opsets, functions=graph.functions, outer_scope=graph.outer_scope, initializers=kept)


def node_from_proto(proto: onnx.NodeProto, opsets: dict[str, int]) -> Node:
    """A Node for a NodeProto not yet in any graph (index -1), for capability checks."""
    domain = "" if proto.domain in ("", "ai.onnx") else proto.domain
    return Node(index=-1, name=proto.name, op_type=proto.op_type, domain=domain, inputs=list(proto.input),
                outputs=list(proto.output), attrs={a.name: decode_attribute(a) for a in proto.attribute},
                opset=opsets.get(domain, 1 if domain else 0), proto=proto, implicit_inputs=implicit_inputs(proto))


def tensor(name: str, value: np.ndarray) -> onnx.TensorProto:
    """A TensorProto of a numpy array (its shape kept: np.ascontiguousarray would make a 0-d array 1-d)."""
    return numpy_helper.from_array(value if value.flags.c_contiguous else value.copy(order="C"), name)


def fused_name(nodes: Sequence[Node]) -> str:
    """The name of a node replacing `nodes`: their names joined by '+' (as the CPU provider's fusions)."""
    return "+".join(n.name or f"#{n.index}" for n in nodes)
