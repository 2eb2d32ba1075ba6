"""Deterministic model mutations: a (fuzz seed, case number) always gives the same mutated model and feed.

A case applies one to three mutations to a seed model. Each mutation carries its own random
seed, so any subset of a case's mutations can be re-applied (the minimizer does that). Proto
mutations edit the `ModelProto` (nodes, wiring, value_info, attributes, initializers, opsets,
graph inputs/outputs, in the main graph or any subgraph); byte mutations edit the serialized
file and always come last.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from .feeds import make_feed
from .seeds import seed_bytes

#: numbers that break arithmetic on sizes: zero, negatives, int32/int64 edges, too large to allocate
HOSTILE_INTS = (0, -1, -2, 1, 2, 3, 7, 1000, 2**31 - 1, 2**31, 2**40, 2**62, -(2**31), -(2**63))
HOSTILE_FLOATS = (float("nan"), float("inf"), float("-inf"), -1.0, 0.0, 1e30, -1e-30)
#: element types a lie may claim (0 is UNDEFINED, 99 is no type at all)
ELEM_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT8,
              TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL, TensorProto.STRING,
              TensorProto.COMPLEX64, 0, 99)
INTEGER_TYPES = (TensorProto.INT64, TensorProto.INT32, TensorProto.INT8, TensorProto.UINT8)
OP_TYPES = ("Relu", "Sigmoid", "Conv", "Gemm", "MatMul", "Add", "Reshape", "Concat", "Slice", "Gather", "MaxPool",
            "AveragePool", "Softmax", "LSTM", "If", "Loop", "BatchNormalization", "Transpose", "Split", "Flatten",
            "Unsqueeze", "Div", "Mod", "NoSuchOp")


@dataclass(frozen=True)
class Mutation:
    """One mutation of a case: its kind (a key of MUTATORS or BYTE_MUTATORS) and its own random seed."""

    kind: str
    seed: int


@dataclass
class Case:
    """A mutated model ready to run: its bytes, its feed and what was done to it."""

    case_id: str
    seed_name: str
    mutations: tuple[Mutation, ...]
    model: bytes
    feed: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)

    @property
    def target_op(self) -> str:
        """The op type the first effective mutation touched ('?' when it touched no node)."""
        return next((op for op in self.ops if op != "?"), "?")


Applied = tuple[str, str] | None  # (what was done, op type touched) or None when nothing applied


# ---------------------------------------------------------------------------------------------- helpers


def all_graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """The graph and every subgraph nested in its nodes' attributes, depth first."""
    found = [graph]
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == AttributeProto.GRAPH else list(attr.graphs)):
                found += all_graphs(sub)
    return found


def pick_node(model: onnx.ModelProto, rng: random.Random) -> tuple[onnx.GraphProto, int] | None:
    """A random (graph, node index) over the main graph and its subgraphs."""
    choices = [(g, i) for g in all_graphs(model.graph) for i in range(len(g.node))]
    return rng.choice(choices) if choices else None


def value_names(graph: onnx.GraphProto) -> list[str]:
    """Every value name a node of `graph` may read: inputs, initializers and node outputs."""
    names = [v.name for v in graph.input] + [t.name for t in graph.initializer]
    names += [o for n in graph.node for o in n.output if o]
    return list(dict.fromkeys(names))


def consumer_op(graph: onnx.GraphProto, name: str) -> str:
    """The op type of the first node reading `name`, or '?'."""
    return next((n.op_type for n in graph.node if name in n.input), "?")


def producer_op(graph: onnx.GraphProto, name: str) -> str:
    """The op type of the node writing `name`, 'input' for a graph input, else '?'."""
    node = next((n for n in graph.node if name in n.output), None)
    if node is not None:
        return node.op_type
    return "input" if any(v.name == name for v in graph.input) else "?"


def opset_of(model: onnx.ModelProto) -> int:
    """The model's default-domain opset (17 when it has none)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)


def hostile_ints(rng: random.Random, length: int) -> list[int]:
    """A list of ints that breaks size arithmetic: all one hostile value, a mix, or a wrong length."""
    choice = rng.randrange(4)
    if choice == 0:
        return [rng.choice(HOSTILE_INTS)] * length
    if choice == 1:
        return [rng.choice(HOSTILE_INTS) for _ in range(length)]
    if choice == 2:
        return [1] * rng.choice([0, 1, length + 1, length + 3, 9])
    values = [1] * length
    if length:
        values[rng.randrange(length)] = rng.choice(HOSTILE_INTS)
    return values


# ---------------------------------------------------------------------------------------------- node mutators


NodeMutator = Callable[[onnx.ModelProto, onnx.GraphProto, int, onnx.NodeProto, str, random.Random], Applied]


def on_a_node(mutate: NodeMutator) -> Callable[[onnx.ModelProto, random.Random], Applied]:
    """A model mutator from a node mutator: picks a random node (main graph or a subgraph) and calls
    `mutate(model, graph, index, node, label, rng)`, label naming the node for the description."""

    def apply(model: onnx.ModelProto, rng: random.Random) -> Applied:
        picked = pick_node(model, rng)
        if picked is None:
            return None
        graph, i = picked
        node = graph.node[i]
        return mutate(model, graph, i, node, f"node {node.name or i!r} ({node.op_type})", rng)

    apply.__name__ = apply.__qualname__ = mutate.__name__
    apply.__doc__ = mutate.__doc__
    return apply


@on_a_node
def drop_node(model: onnx.ModelProto, graph: onnx.GraphProto, i: int, node: onnx.NodeProto,
              label: str, rng: random.Random) -> Applied:
    """Remove one node; its outputs become undefined values."""
    del graph.node[i]
    return f"dropped node {node.name or i!r} ({node.op_type})", node.op_type


@on_a_node
def duplicate_node(model: onnx.ModelProto, graph: onnx.GraphProto, i: int, node: onnx.NodeProto,
                   label: str, rng: random.Random) -> Applied:
    """Insert a copy of a node: two producers of the same outputs."""
    copy = onnx.NodeProto()
    copy.CopyFrom(graph.node[i])
    graph.node.insert(rng.randrange(len(graph.node) + 1), copy)
    return f"duplicated node {copy.name or i!r} ({copy.op_type})", copy.op_type


@on_a_node
def rewire_input(model: onnx.ModelProto, graph: onnx.GraphProto, i: int, node: onnx.NodeProto,
                 label: str, rng: random.Random) -> Applied:
    """Point a node input elsewhere: another value, nothing, an undefined name, its own output, or an extra slot."""
    target = rng.choice(value_names(graph) + ["", "fuzz_undefined", *node.output])
    if not node.input or rng.random() < 0.15:
        node.input.append(target)
        return f"{label} got an extra input {target!r}", node.op_type
    pos = rng.randrange(len(node.input))
    old = node.input[pos]
    node.input[pos] = target
    return f"{label} input {pos} {old!r} -> {target!r}", node.op_type


@on_a_node
def rewire_output(model: onnx.ModelProto, graph: onnx.GraphProto, i: int, node: onnx.NodeProto,
                  label: str, rng: random.Random) -> Applied:
    """Rename one output of a node: onto an existing value (two producers), to nothing, or drop/add an output."""
    if not node.output:
        return None
    choice = rng.randrange(3)
    if choice == 0 and len(node.output) > 1:
        del node.output[-1]
        return f"{label} lost its last output", node.op_type
    if choice == 1:
        node.output.append(rng.choice(["fuzz_extra", *value_names(graph)]))
        return f"{label} got an extra output {node.output[-1]!r}", node.op_type
    pos = rng.randrange(len(node.output))
    target = rng.choice(value_names(graph) + [""])
    node.output[pos] = target
    return f"{label} output {pos} renamed to {target!r}", node.op_type


@on_a_node
def change_op_type(model: onnx.ModelProto, graph: onnx.GraphProto, i: int, node: onnx.NodeProto,
                   label: str, rng: random.Random) -> Applied:
    """Change a node's op type (same inputs and attributes) or move it to another domain."""
    old = node.op_type
    if rng.random() < 0.2:
        node.domain = rng.choice(["com.fuzz", "ai.onnx.ml", "com.microsoft"])
        return f"node {node.name or i!r} ({old}) moved to domain {node.domain!r}", old
    node.op_type = rng.choice(OP_TYPES)
    return f"node {node.name or i!r} op {old} -> {node.op_type}", old


# ---------------------------------------------------------------------------------------------- attributes


def schema_attributes(node: onnx.NodeProto, opset: int) -> dict[str, int]:
    """The attribute names the node's schema defines, with their AttributeProto types ({} if unknown)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except Exception:  # noqa: BLE001 - onnx raises SchemaError, or others for bad input
        return {}
    return {name: int(a.type) for name, a in schema.attributes.items()}


def hostile_attribute(name: str, attr_type: int, current: AttributeProto | None, rng: random.Random) -> AttributeProto:
    """A value of the right type that the op's arithmetic should reject, or a value of the wrong type."""
    if rng.random() < 0.2:
        attr_type = rng.choice([AttributeProto.INT, AttributeProto.INTS, AttributeProto.FLOAT, AttributeProto.STRING,
                                AttributeProto.FLOATS])
    if attr_type == AttributeProto.INTS:
        length = len(current.ints) if current is not None and current.type == AttributeProto.INTS else 2
        return helper.make_attribute(name, hostile_ints(rng, length), attr_type=AttributeProto.INTS)
    if attr_type == AttributeProto.INT:
        return helper.make_attribute(name, rng.choice(HOSTILE_INTS), attr_type=AttributeProto.INT)
    if attr_type == AttributeProto.FLOAT:
        return helper.make_attribute(name, rng.choice(HOSTILE_FLOATS), attr_type=AttributeProto.FLOAT)
    if attr_type == AttributeProto.FLOATS:
        return helper.make_attribute(name, [rng.choice(HOSTILE_FLOATS)] * rng.choice([0, 1, 3]),
                                     attr_type=AttributeProto.FLOATS)
    if attr_type == AttributeProto.STRING:
        return helper.make_attribute(name, rng.choice(["", "BOGUS", "SAME_UPPER", "NOTSET", "VALID", "\u00e9"]),
                                     attr_type=AttributeProto.STRING)
    if attr_type == AttributeProto.GRAPH:
        return helper.make_attribute(name, helper.make_graph([], "fuzz_empty", [], []))
    if attr_type == AttributeProto.TENSOR:
        return helper.make_attribute(name, numpy_helper.from_array(np.zeros((0,), np.float32)))
    return helper.make_attribute(name, rng.choice(HOSTILE_INTS))


@on_a_node
def corrupt_attribute(model: onnx.ModelProto, graph: onnx.GraphProto, i: int, node: onnx.NodeProto,
                      label: str, rng: random.Random) -> Applied:
    """Give one attribute (present or defined by the schema) a hostile value or type, drop it, or add an unknown one."""
    present = {a.name: a for a in node.attribute}
    defined = schema_attributes(node, opset_of(model))
    names = sorted(set(present) | set(defined))
    if not names or rng.random() < 0.05:
        node.attribute.append(helper.make_attribute("fuzz_unknown", 1))
        return f"{label} got unknown attribute fuzz_unknown=1", node.op_type
    name = rng.choice(names)
    if name in present and rng.random() < 0.1:
        node.attribute.remove(present[name])
        return f"{label} lost attribute {name}", node.op_type
    current = present.get(name)
    attr = hostile_attribute(name, current.type if current is not None else defined[name], current, rng)
    if current is not None:
        node.attribute.remove(current)
    node.attribute.append(attr)
    return f"{label} attribute {name} = {describe_attribute(attr)}", node.op_type


def describe_attribute(attr: AttributeProto) -> str:
    """A short text of an attribute's value."""
    value = helper.get_attribute_value(attr)
    if isinstance(value, onnx.GraphProto):
        return f"<graph {value.name}>"
    if isinstance(value, onnx.TensorProto):
        return f"<tensor dims={list(value.dims)}>"
    return repr(value)


# ---------------------------------------------------------------------------------------------- value_info lies


def value_infos(model: onnx.ModelProto, rng: random.Random) -> list[tuple[onnx.GraphProto, onnx.ValueInfoProto]]:
    """Every typed value of every graph; the main graph's intermediates are added from shape inference first."""
    if rng.random() < 0.6:
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
            known = {v.name for v in model.graph.value_info}
            model.graph.value_info.extend(v for v in inferred.graph.value_info if v.name not in known)
        except Exception:  # noqa: BLE001 - inference of a mutated model may fail in many ways
            pass
    inits = {t.name for t in model.graph.initializer}
    found = []
    for g in all_graphs(model.graph):
        for coll in (g.input, g.output, g.value_info):
            found += [(g, v) for v in coll if v.name not in inits and v.type.HasField("tensor_type")]
    return found


def lie_in_value_info(model: onnx.ModelProto, rng: random.Random) -> Applied:
    """Declare a wrong shape (dims smaller, larger, zero, negative, huge, symbolic; rank changed) or element type."""
    infos = value_infos(model, rng)
    if not infos:
        return None
    graph, info = rng.choice(infos)
    ttype = info.type.tensor_type
    op = producer_op(graph, info.name)
    if op == "input":
        op = consumer_op(graph, info.name)
    if rng.random() < 0.25:
        old = ttype.elem_type
        ttype.elem_type = rng.choice([t for t in ELEM_TYPES if t != old])
        return f"value {info.name!r} declared elem_type {old} -> {ttype.elem_type}", op
    dims = ttype.shape.dim
    choice = rng.randrange(10)
    if choice == 0 or not dims:
        dims.add().dim_value = rng.choice([1, 2, 3])
        return f"value {info.name!r} declared one more dim", op
    if choice == 1:
        del dims[rng.randrange(len(dims))]
        return f"value {info.name!r} declared one dim fewer", op
    k = rng.randrange(len(dims))
    old = dims[k].dim_value if dims[k].HasField("dim_value") else dims[k].dim_param
    if choice == 2:
        dims[k].dim_param = "fuzz_N"
    else:
        base = dims[k].dim_value or 1
        dims[k].dim_value = rng.choice([base + 1, max(base - 1, 0), base * 2, base * 8, 1, 0, -1, 2**31, 2**40])
    new = dims[k].dim_value if dims[k].HasField("dim_value") else dims[k].dim_param
    return f"value {info.name!r} declared dim {k} {old!r} -> {new!r}", op


# ---------------------------------------------------------------------------------------------- initializers


def pick_initializer(model: onnx.ModelProto, rng: random.Random,
                     prefer_integers: bool = False) -> tuple[onnx.GraphProto, int] | None:
    """A random (graph, initializer index) over every graph; integer ones (shapes, axes, indices) are
    picked most of the time when `prefer_integers`."""
    choices = [(g, i) for g in all_graphs(model.graph) for i in range(len(g.initializer))]
    integers = [(g, i) for g, i in choices if g.initializer[i].data_type in INTEGER_TYPES]
    if prefer_integers and integers and rng.random() < 0.7:
        return rng.choice(integers)
    return rng.choice(choices) if choices else None


def corrupt_initializer(model: onnx.ModelProto, rng: random.Random) -> Applied:
    """Break an initializer: data too short or too long, dims that disagree, wrong dtype, huge dims,
    hostile values (zero steps, out-of-range indices, NaN), or external data that is missing or outside."""
    choice = rng.choices(range(7), weights=[1, 1, 1, 1, 4, 1, 1])[0]
    picked = pick_initializer(model, rng, prefer_integers=choice == 4)
    if picked is None:
        return None
    graph, i = picked
    tensor = graph.initializer[i]
    op = consumer_op(graph, tensor.name)
    label = f"initializer {tensor.name!r} ({op})"
    try:
        array = numpy_helper.to_array(tensor)
    except Exception:  # noqa: BLE001 - an earlier mutation broke it already
        return f"{label} already unreadable, left as is", op
    tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    if choice == 0:
        keep = rng.choice([0, len(tensor.raw_data) // 2, max(len(tensor.raw_data) - 1, 0)])
        tensor.raw_data = tensor.raw_data[:keep]
        return f"{label} raw_data cut to {keep} bytes", op
    if choice == 1:
        dims = list(tensor.dims) or [1]
        k = rng.randrange(len(dims))
        dims[k] = rng.choice([dims[k] + 1, max(dims[k] - 1, 0), 0, -1, dims[k] * 2])
        if rng.random() < 0.3:
            dims.append(rng.choice([1, 2]))
        tensor.ClearField("dims")
        tensor.dims.extend(dims)
        return f"{label} dims -> {dims}", op
    if choice == 2:
        old = tensor.data_type
        tensor.data_type = rng.choice([t for t in ELEM_TYPES if t != old])
        return f"{label} data_type {old} -> {tensor.data_type} (same bytes)", op
    if choice == 3:
        dims = [rng.choice([2**31, 2**40, 2**20])] + list(tensor.dims)[1:]
        tensor.ClearField("dims")
        tensor.dims.extend(dims)
        return f"{label} huge dims {dims}", op
    if choice == 4:
        return hostile_values(graph, tensor, array, rng, label), op
    if choice == 5:
        return external_data(tensor, rng, label), op
    new = np.concatenate([array.reshape(-1), array.reshape(-1)]) if array.size else np.zeros(3, array.dtype)
    tensor.raw_data = new.tobytes()
    return f"{label} raw_data doubled to {len(tensor.raw_data)} bytes", op


def hostile_values(graph: onnx.GraphProto, tensor: TensorProto, array: np.ndarray, rng: random.Random,
                   label: str) -> str:
    """Overwrite some elements: integers with hostile ints (a Loop's trip count stays runnable), floats with NaN/inf."""
    flat = array.reshape(-1).copy()
    if flat.size == 0:
        return f"{label} left empty"
    k = rng.randrange(flat.size)
    if np.issubdtype(flat.dtype, np.integer):
        pool = HOSTILE_INTS
        if any(n.op_type == "Loop" and n.input and n.input[0] == tensor.name for n in graph.node):
            pool = tuple(v for v in HOSTILE_INTS if v < 10**6)
        info = np.iinfo(flat.dtype)
        flat[k] = int(np.clip(rng.choice(pool), info.min, info.max))
    elif np.issubdtype(flat.dtype, np.floating):
        flat[k] = rng.choice(HOSTILE_FLOATS)
    elif flat.dtype == np.bool_:
        flat[k] = not flat[k]
    else:
        return f"{label} left as is"
    tensor.raw_data = flat.reshape(array.shape).tobytes()
    return f"{label} element {k} = {flat[k]!r}"


def external_data(tensor: TensorProto, rng: random.Random, label: str) -> str:
    """Move the data to an external file that is missing, outside the model folder, or too short."""
    location = rng.choice(["fuzz_missing.bin", "../../../../etc/passwd", "/etc/hostname", ""])
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(rng.choice([0, -8, 2**40]))),
                       ("length", str(rng.choice([4, 2**40])))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return f"{label} external data at {location!r}"


# ---------------------------------------------------------------------------------------------- model-level


def corrupt_graph_io(model: onnx.ModelProto, rng: random.Random) -> Applied:
    """Remove, duplicate or invent a graph output or input."""
    graph = model.graph
    choice = rng.randrange(5)
    if choice == 0 and len(graph.output) > 0:
        out = graph.output[rng.randrange(len(graph.output))]
        graph.output.remove(out)
        return f"graph output {out.name!r} removed", producer_op(graph, out.name)
    if choice == 1 and len(graph.output) > 0:
        graph.output.append(graph.output[rng.randrange(len(graph.output))])
        return f"graph output {graph.output[-1].name!r} listed twice", producer_op(graph, graph.output[-1].name)
    if choice == 2:
        name = rng.choice(["fuzz_undefined", *value_names(graph)])
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
        return f"graph output {name!r} added", producer_op(graph, name)
    if choice == 3 and len(graph.input) > 0:
        inp = graph.input[rng.randrange(len(graph.input))]
        graph.input.remove(inp)
        return f"graph input {inp.name!r} removed", consumer_op(graph, inp.name)
    if len(graph.input) > 0:
        graph.input.append(graph.input[rng.randrange(len(graph.input))])
        return f"graph input {graph.input[-1].name!r} listed twice", consumer_op(graph, graph.input[-1].name)
    return None


def corrupt_opset(model: onnx.ModelProto, rng: random.Random) -> Applied:
    """Claim another default-domain opset or IR version, or drop the opset imports."""
    choice = rng.randrange(3)
    if choice == 0:
        del model.opset_import[:]
        return "opset imports removed", "?"
    if choice == 1:
        model.ir_version = rng.choice([0, 1, 3, 99, -1])
        return f"ir_version = {model.ir_version}", "?"
    version = rng.choice([1, 5, 7, 9, 11, 13, 99, 10**6, 0, -1])
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = version
    return f"default opset = {version}", "?"


MUTATORS: dict[str, Callable[[onnx.ModelProto, random.Random], Applied]] = {
    "attribute": corrupt_attribute, "value_info": lie_in_value_info, "initializer": corrupt_initializer,
    "rewire_input": rewire_input, "rewire_output": rewire_output, "drop_node": drop_node,
    "duplicate_node": duplicate_node, "op_type": change_op_type, "graph_io": corrupt_graph_io,
    "opset": corrupt_opset,
}


# ---------------------------------------------------------------------------------------------- bytes


def flip_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """XOR 1 to 8 random bytes with random non-zero masks."""
    buf = bytearray(data)
    spots = sorted(rng.randrange(len(buf)) for _ in range(rng.randint(1, 8)))
    for pos in spots:
        buf[pos] ^= rng.randint(1, 255)
    return bytes(buf), f"flipped bytes at {spots}"


def truncate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Cut the file at a random length."""
    keep = rng.randrange(len(data))
    return data[:keep], f"truncated to {keep} of {len(data)} bytes"


def splice_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Delete or duplicate a random chunk of the file."""
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 64))
    if rng.random() < 0.5:
        return data[:a] + data[b:], f"deleted bytes {a}:{b}"
    return data[:b] + data[a:b] + data[b:], f"duplicated bytes {a}:{b}"


BYTE_MUTATORS: dict[str, Callable[[bytes, random.Random], tuple[bytes, str]]] = {
    "flip_bytes": flip_bytes, "truncate": truncate_bytes, "splice_bytes": splice_bytes,
}

#: relative frequency of each mutation kind
WEIGHTS = {"attribute": 28, "value_info": 18, "initializer": 18, "rewire_input": 6, "rewire_output": 2,
           "drop_node": 2, "duplicate_node": 2, "op_type": 4, "graph_io": 3, "opset": 2,
           "flip_bytes": 6, "truncate": 2, "splice_bytes": 2}


# ---------------------------------------------------------------------------------------------- cases


def plan_case(fuzz_seed: int, index: int, seed_names: list[str]) -> tuple[str, tuple[Mutation, ...]]:
    """The seed model and mutations of case `index` of a run (a pure function of its arguments)."""
    rng = random.Random(f"ep-runtime-fuzz:{fuzz_seed}:{index}")
    seed_name = rng.choice(seed_names)
    count = rng.choices([1, 2, 3], weights=[65, 25, 10])[0]
    kinds = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=count)
    proto = [k for k in kinds if k in MUTATORS]
    byte = [k for k in kinds if k in BYTE_MUTATORS][:1]
    return seed_name, tuple(Mutation(k, rng.getrandbits(32)) for k in proto + byte)


def build_case(case_id: str, seed_name: str, mutations: tuple[Mutation, ...]) -> Case:
    """Apply `mutations` in order to the seed and derive the feed."""
    original = seed_bytes(seed_name)
    model = onnx.load_from_string(original)
    case = Case(case_id, seed_name, mutations, b"", {})
    data = None
    for m in mutations:
        rng = random.Random(m.seed)
        if m.kind in BYTE_MUTATORS:
            data, note = BYTE_MUTATORS[m.kind](data if data is not None else model.SerializeToString(), rng)
            case.notes.append(note)
            case.ops.append("?")
            continue
        try:
            applied = MUTATORS[m.kind](model, rng)
        except Exception as e:  # noqa: BLE001 - a mutator tripping on an earlier mutation must not stop a run
            applied = (f"{m.kind}: mutator failed ({type(e).__name__}: {e})", "?")
        case.notes.append(applied[0] if applied else f"{m.kind}: nothing to mutate")
        case.ops.append(applied[1] if applied else "?")
    case.model = data if data is not None else model.SerializeToString()
    case.feed = make_feed(case.model, original, np.random.default_rng(hash_text(case_id)))
    return case


def make_case(fuzz_seed: int, index: int, seed_names: list[str]) -> Case:
    """Case `index` of the run seeded `fuzz_seed`."""
    seed_name, mutations = plan_case(fuzz_seed, index, seed_names)
    return build_case(f"{fuzz_seed}-{index}", seed_name, mutations)


def hash_text(text: str) -> int:
    """A stable 63-bit hash (Python's hash() of str changes between processes)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
