"""Model validation at load time, in the spirit of onnxruntime's: refuse what cannot be run, naming it.

Three passes, each before the code that would trip over what it refuses:

- `check_versions`: the IR version and every imported opset of a domain ONNX defines are ones
  this runtime knows.
- `check_model`: every tensor (element type known, dims non-negative, data the size its dims
  say, sparse indices in range), every declared type (element type known, not UNDEFINED), the
  names of every graph (no empty or duplicate graph input, output or initializer names; node
  fields valid UTF-8), at least one graph output, initializers listed as graph inputs before IR
  version 4, and the bodies of control-flow nodes (If branches with as many outputs as the node,
  Loop bodies with the signature the node implies).
- `check_node_signatures`: after shape inference, each node of a domain ONNX defines against its
  schema: attributes (each defined by the schema and of its type, required ones present, a few
  flags in range), input and output counts, required inputs present, every input whose type is
  known (initializers, declared or inferred types) of a type the schema accepts, with inputs that
  share a type parameter agreeing, and outputs declared of the type the schema and inputs give.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import InvalidGraphError, ModelLoadError
from .proto_walk import (
    Body,
    attribute_graphs,
    graph_label,
    iter_bodies,
    node_label,
    sparse_tensors_of_body,
    tensor_culprit,
    tensors_of_body,
)

T = onnx.TensorProto
A = onnx.AttributeProto

#: Element types this runtime knows (everything onnx names except UNDEFINED).
KNOWN_ELEM_TYPES = frozenset(v for v in T.DataType.values() if v != T.UNDEFINED)
#: Element types stored packed: bits per element (raw_data holds ceil(count * bits / 8) bytes).
_PACKED_BITS = {T.INT4: 4, T.UINT4: 4, T.FLOAT4E2M1: 4, T.INT2: 2, T.UINT2: 2, T.FLOAT6E2M3: 6, T.FLOAT6E3M2: 6}
#: Packed types whose typed field (int32_data) holds several elements per entry: elements per entry.
_PER_FIELD_ENTRY = {T.INT4: 2, T.UINT4: 2, T.FLOAT4E2M1: 2, T.INT2: 4, T.UINT2: 4}
#: The IR version from which initializers need not be listed among the graph inputs.
_IR_INITIALIZERS_NEED_NOT_BE_INPUTS = 4
#: INT attributes that are flags onnxruntime refuses out of range: (op, attribute) -> the values allowed.
_FLAG_RANGES = {("MaxPool", "storage_order"): (0, 1), ("BatchNormalization", "training_mode"): (0, 1)}
#: FLOAT attributes onnxruntime refuses unless positive.
_POSITIVE_FLOATS = {("LSTM", "clip"), ("GRU", "clip"), ("RNN", "clip")}
#: How concrete type strings in schemas begin (as opposed to type parameters such as `T`).
_TYPE_PREFIXES = ("tensor(", "seq(", "map(", "optional(", "sparse_tensor(")


def elem_type_name(elem_type: int) -> str:
    """ONNX's name of an element type as used in schema type strings (`float`, `int64`, ...)."""
    return T.DataType.Name(elem_type).lower() if elem_type in KNOWN_ELEM_TYPES else str(elem_type)


# --------------------------------------------------------------------------- versions

def check_versions(model: onnx.ModelProto, what: str) -> None:
    """Refuse an IR version newer than ONNX's, and opsets of ONNX-defined domains this runtime does not know."""
    if model.ir_version > onnx.IR_VERSION:
        raise ModelLoadError(f"{what} has IR version {model.ir_version}; this runtime supports IR versions "
                             f"up to {onnx.IR_VERSION}")
    _check_opset_imports(model.opset_import, what)
    for f in model.functions:
        _check_opset_imports(f.opset_import, f"function {f.name!r} of {what}")


@functools.cache
def known_opset_ranges() -> dict[str, tuple[int, int]]:
    """ONNX-defined domains ('' for ai.onnx) -> (lowest, highest) opset version of the installed onnx."""
    return dict(onnx.defs.C.schema_version_map())


def _check_opset_imports(imports: Iterable[onnx.OperatorSetIdProto], what: str) -> None:
    known = known_opset_ranges()
    seen: dict[str, int] = {}
    for o in imports:
        domain = "" if o.domain in ("", "ai.onnx") else o.domain
        shown = o.domain or "ai.onnx"
        if domain in seen and seen[domain] != o.version:
            raise ModelLoadError(f"{what} imports domain {shown!r} twice, as opset {seen[domain]} and {o.version}")
        seen[domain] = o.version
        if domain in known:
            low, high = known[domain]
            if not low <= o.version <= high:
                raise ModelLoadError(f"{what} imports opset {o.version} of domain {shown!r}; this runtime knows "
                                     f"opsets {low} to {high} of that domain")


# --------------------------------------------------------------------------- tensors

def check_tensor_header(tensor: onnx.TensorProto, culprit: str) -> int:
    """Check a tensor's element type and dims; return its element count."""
    if tensor.data_type not in KNOWN_ELEM_TYPES:
        raise ModelLoadError(f"{culprit} has an unknown element type {tensor.data_type}")
    if any(d < 0 for d in tensor.dims):
        raise ModelLoadError(f"{culprit} has a negative dimension: dims {list(tensor.dims)}")
    if tensor.HasField("segment"):
        raise ModelLoadError(f"{culprit} is stored in segments, which this runtime does not read")
    return math.prod(tensor.dims)


def raw_nbytes(tensor: onnx.TensorProto, count: int) -> int:
    """The bytes `count` elements of the tensor's (non-string) element type take in raw_data."""
    bits = _PACKED_BITS.get(tensor.data_type)
    if bits is not None:
        return (count * bits + 7) // 8
    return count * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize


def check_tensor(tensor: onnx.TensorProto, culprit: str) -> None:
    """Check that a (loaded, not external) tensor's data matches its element type and dims."""
    count = check_tensor_header(tensor, culprit)
    if tensor.data_location == T.EXTERNAL:
        raise ModelLoadError(f"{culprit} still refers to external data; load the model from its file path")
    if tensor.data_type == T.STRING:
        have, want, unit = len(tensor.string_data), count, "strings"
    elif tensor.HasField("raw_data"):
        have, want, unit = len(tensor.raw_data), raw_nbytes(tensor, count), "bytes of raw_data"
    else:
        field = onnx.helper.tensor_dtype_to_field(tensor.data_type)
        per_entry = _PER_FIELD_ENTRY.get(tensor.data_type, 1)
        want = -(-count // per_entry)
        if tensor.data_type in (T.COMPLEX64, T.COMPLEX128):
            want = 2 * count
        have, unit = len(getattr(tensor, field)), f"entries of {field}"
    if have != want:
        raise ModelLoadError(f"{culprit}: dims {list(tensor.dims)} of {elem_type_name(tensor.data_type)} need "
                             f"{want} {unit}, the model holds {have}")


def check_sparse_tensor(sp: onnx.SparseTensorProto, culprit: str) -> None:
    """Check a sparse tensor whose parts passed `check_tensor`: values 1-D, int64 indices of a matching shape
    and in range."""
    if any(d < 0 for d in sp.dims):
        raise ModelLoadError(f"{culprit} has a negative dimension: dims {list(sp.dims)}")
    if math.prod(sp.dims) >= 2**63:
        raise ModelLoadError(f"{culprit} is too large: dims {list(sp.dims)}")
    if len(sp.values.dims) != 1:
        raise ModelLoadError(f"values of {culprit} must be 1-D, not of dims {list(sp.values.dims)}")
    nnz, rank = sp.values.dims[0], len(sp.dims)
    if sp.indices.data_type != T.INT64:
        raise ModelLoadError(f"indices of {culprit} must be int64, not {elem_type_name(sp.indices.data_type)}")
    idims = list(sp.indices.dims)
    if idims not in ([nnz], [nnz, rank]):
        raise ModelLoadError(f"indices of {culprit} have dims {idims}; {nnz} values of a rank-{rank} tensor need "
                             f"[{nnz}] (linear) or [{nnz}, {rank}] (coordinates)")
    indices = numpy_helper.to_array(sp.indices)
    bounds = np.array([math.prod(sp.dims)]) if len(idims) == 1 else np.array(list(sp.dims))
    if indices.size and ((indices < 0).any() or (indices >= bounds).any()):
        raise ModelLoadError(f"indices of {culprit} lie outside dims {list(sp.dims)}")


# --------------------------------------------------------------------------- graphs

def check_model(model: onnx.ModelProto, what: str) -> None:
    """Check every tensor, declared type and graph structure of a loaded model (external data already read)."""
    if not model.graph.output:
        raise InvalidGraphError(f"{graph_label(model.graph)} of {what} declares no outputs: it computes nothing")
    for body, where in iter_bodies(model):
        if isinstance(body, onnx.GraphProto) and model.ir_version < _IR_INITIALIZERS_NEED_NOT_BE_INPUTS:
            _check_initializers_are_inputs(body, where, model.ir_version)
        for tensor, label in tensors_of_body(body, where):
            check_tensor(tensor, tensor_culprit(tensor, label))
        for sp, label in sparse_tensors_of_body(body, where):
            check_sparse_tensor(sp, label)
        for vi in value_infos_of_body(body):
            if vi.HasField("type"):
                _check_type(vi.type, f"value {vi.name!r} of {where}")
        if isinstance(body, onnx.GraphProto):
            _check_names(body, where)
        for k, node in enumerate(body.node):
            _check_text(node, f"{node_label(node, k)} in {where}")
            _check_control_flow(node, f"{node_label(node, k)} in {where}")


def value_infos_of_body(body: Body) -> list[onnx.ValueInfoProto]:
    """The declared values of a graph (inputs, outputs, value_info) or function (value_info)."""
    if isinstance(body, onnx.GraphProto):
        return [*body.input, *body.output, *body.value_info]
    return list(getattr(body, "value_info", []))


def _check_type(tp: onnx.TypeProto, culprit: str) -> None:
    which = tp.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        elem = getattr(tp, which).elem_type
        if elem not in KNOWN_ELEM_TYPES:
            raise ModelLoadError(f"{culprit} is declared with an unknown element type {elem}")
    elif which == "sequence_type":
        _check_type(tp.sequence_type.elem_type, culprit)
    elif which == "optional_type":
        _check_type(tp.optional_type.elem_type, culprit)
    elif which == "map_type":
        if tp.map_type.key_type not in KNOWN_ELEM_TYPES:
            raise ModelLoadError(f"{culprit} is declared as a map with an unknown key type {tp.map_type.key_type}")
        _check_type(tp.map_type.value_type, culprit)


def _check_initializers_are_inputs(graph: onnx.GraphProto, where: str, ir_version: int) -> None:
    """Before IR version 4 every initializer must be a graph input. Like onnxruntime, tolerate one that a
    node of the same graph reads (real IR-3 models rely on that); refuse the others (unused, or read
    only inside subgraphs), which onnxruntime refuses too."""
    known = {i.name for i in graph.input} | {name for node in graph.node for name in node.input}
    for name in [t.name for t in graph.initializer] + [sp.values.name for sp in graph.sparse_initializer]:
        if name not in known:
            raise InvalidGraphError(f"initializer {name!r} of {where} is neither a graph input nor read by a node "
                                    f"of that graph; IR version {ir_version} requires initializers to be graph "
                                    f"inputs (before IR version {_IR_INITIALIZERS_NEED_NOT_BE_INPUTS})")


def _check_names(graph: onnx.GraphProto, where: str) -> None:
    for kind, names in (("input", [i.name for i in graph.input]), ("output", [o.name for o in graph.output])):
        seen: set[str] = set()
        for k, name in enumerate(names):
            if not name:
                raise InvalidGraphError(f"{kind} #{k} of {where} has an empty name")
            if kind == "input" and name in seen:
                raise InvalidGraphError(f"{where} declares input {name!r} twice")
            seen.add(name)
    seen = set()
    for name in [t.name for t in graph.initializer] + [sp.values.name for sp in graph.sparse_initializer]:
        if not name:
            raise InvalidGraphError(f"{where} has an initializer with an empty name")
        if name in seen:
            raise InvalidGraphError(f"{where} defines initializer {name!r} twice")
        seen.add(name)


def _check_text(node: onnx.NodeProto, label: str) -> None:
    """Protobuf hands out a string field that is not valid UTF-8 (a corrupt file) as bytes."""
    fields = {"op_type": [node.op_type], "domain": [node.domain], "name": [node.name], "input": list(node.input),
              "output": list(node.output), "attribute name": [a.name for a in node.attribute]}
    for field, values in fields.items():
        if any(not isinstance(v, str) for v in values):
            raise ModelLoadError(f"{label}: its {field} is not valid UTF-8 text (the file is corrupt)")


def _check_control_flow(node: onnx.NodeProto, label: str) -> None:
    graphs = {a.name: a.g for a in node.attribute if a.type == A.GRAPH}
    if node.op_type == "If" and node.domain in ("", "ai.onnx"):
        then_b, else_b = graphs.get("then_branch"), graphs.get("else_branch")
        if then_b is None or else_b is None:
            raise InvalidGraphError(f"{label} needs both a then_branch and an else_branch graph")
        if len(then_b.output) != len(else_b.output):
            raise InvalidGraphError(f"{label}: then_branch has {len(then_b.output)} outputs but else_branch has "
                                    f"{len(else_b.output)}; both must produce the same number")
        if len(then_b.output) != len(node.output):
            raise InvalidGraphError(f"{label} has {len(node.output)} outputs but its branches produce "
                                    f"{len(then_b.output)}")
    elif node.op_type == "Loop" and node.domain in ("", "ai.onnx"):
        body = graphs.get("body")
        if body is None:
            raise InvalidGraphError(f"{label} has no body graph")
        carried = max(len(node.input) - 2, 0)
        if len(body.input) != 2 + carried:
            raise InvalidGraphError(f"{label}: its body has {len(body.input)} inputs, but the node carries {carried} "
                                    f"values, so the body needs 2 + {carried} (iteration, condition, carried values)")
        if len(body.output) != 1 + len(node.output) or len(node.output) < carried:
            raise InvalidGraphError(f"{label}: its body has {len(body.output)} outputs, but the node's {carried} "
                                    f"carried values and {len(node.output)} outputs need 1 + {len(node.output)} "
                                    "(condition, carried values, scan outputs)")
        for kind, values, k, elem in (("input", body.input, 0, T.INT64), ("input", body.input, 1, T.BOOL),
                                      ("output", body.output, 0, T.BOOL)):
            declared = values[k].type.tensor_type.elem_type if len(values) > k and \
                values[k].type.HasField("tensor_type") else T.UNDEFINED
            if declared not in (T.UNDEFINED, elem):
                raise InvalidGraphError(f"{label}: body {kind} {k} {values[k].name!r} is declared "
                                        f"{elem_type_name(declared)}; a Loop body's {kind} {k} is "
                                        f"{elem_type_name(elem)}")


# --------------------------------------------------------------------------- node signatures

def check_node_signatures(model: onnx.ModelProto) -> None:
    """Check every node of an ONNX-defined domain against its schema (run after shape inference)."""
    opsets = {("" if o.domain in ("", "ai.onnx") else o.domain): o.version for o in model.opset_import}
    _check_graph_signatures(model.graph, opsets, {}, f"graph {model.graph.name!r}")


def _check_graph_signatures(graph: onnx.GraphProto, opsets: dict[str, int], outer: dict[str, str],
                            where: str) -> None:
    types = dict(outer)
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.HasField("type") and vi.type.WhichOneof("value") == "tensor_type" and vi.type.tensor_type.elem_type:
            types[vi.name] = f"tensor({elem_type_name(vi.type.tensor_type.elem_type)})"
    for t in graph.initializer:
        types[t.name] = f"tensor({elem_type_name(t.data_type)})"
    for sp in graph.sparse_initializer:
        types[sp.values.name] = f"tensor({elem_type_name(sp.values.data_type)})"
    for k, node in enumerate(graph.node):
        label = f"{node_label(node, k)} in {where}"
        _check_node_signature(node, opsets, types, label)
        for a in node.attribute:
            for g in attribute_graphs(a):
                _check_graph_signatures(g, opsets, types, f"subgraph {a.name!r} of {label}")


def _check_node_signature(node: onnx.NodeProto, opsets: dict[str, int], types: dict[str, str], label: str) -> None:
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    if domain not in opsets or domain not in known_opset_ranges():
        return
    try:
        schema = onnx.defs.get_schema(node.op_type, opsets[domain], domain)
    except onnx.defs.SchemaError:
        return  # an op ONNX does not define at this opset: partitioning reports it per provider
    op = f"{node.op_type}-{schema.since_version}"
    _check_attributes(node, schema, label, op)
    n_in, n_out = len(node.input), len(node.output)
    if not schema.min_input <= n_in <= schema.max_input:
        raise InvalidGraphError(f"{label} has {n_in} inputs; {op} takes {_arity(schema.min_input, schema.max_input)}")
    if not schema.min_output <= n_out <= schema.max_output:
        raise InvalidGraphError(
            f"{label} has {n_out} outputs; {op} produces {_arity(schema.min_output, schema.max_output)}")
    formals = list(schema.inputs)
    constraints = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    bound: dict[str, tuple[str, str]] = {}
    for i, name in enumerate(node.input):
        if not formals:
            break
        formal = formals[min(i, len(formals) - 1)]
        if not name:
            if formal.option == onnx.defs.OpSchema.FormalParameterOption.Single:
                raise InvalidGraphError(f"{label}: input {i} ({formal.name!r}) is required but given an empty name")
            continue
        actual = types.get(name)
        if actual is None:
            continue
        allowed = constraints.get(formal.type_str)
        if allowed is None:
            if not formal.type_str.startswith(_TYPE_PREFIXES):
                continue  # a type parameter the schema does not constrain
            allowed = {formal.type_str}
        if actual not in allowed:
            accepted = ", ".join(sorted(allowed))
            raise InvalidGraphError(f"{label}: input {i} ({formal.name!r}) is {name!r} of type {actual}; {op} "
                                    f"accepts {accepted}")
        variadic_mixed = formal.option == onnx.defs.OpSchema.FormalParameterOption.Variadic and \
            not formal.is_homogeneous
        if formal.type_str in constraints and not variadic_mixed:
            first = bound.setdefault(formal.type_str, (name, actual))
            if first[1] != actual:
                raise InvalidGraphError(f"{label}: inputs {first[0]!r} ({first[1]}) and {name!r} ({actual}) must "
                                        f"have the same type ({formal.type_str} of {op})")
    _check_output_types(node, schema, types, {param: t for param, (_, t) in bound.items()}, label, op)


def _check_output_types(node: onnx.NodeProto, schema: onnx.defs.OpSchema, types: dict[str, str],
                        bound: dict[str, str], label: str, op: str) -> None:
    """Each output whose type the schema fixes (a concrete type, or a type parameter its inputs bound)
    declared of that type (onnxruntime refuses the model otherwise); an undeclared one gets it, for
    the nodes that read it."""
    formals = list(schema.outputs)
    for i, name in enumerate(node.output):
        if not formals or not name:
            continue
        formal = formals[min(i, len(formals) - 1)]
        if formal.option == onnx.defs.OpSchema.FormalParameterOption.Variadic and not formal.is_homogeneous:
            continue
        expected = bound.get(formal.type_str) or (formal.type_str if formal.type_str.startswith("tensor(") else None)
        if expected is None:
            continue
        actual = types.get(name)
        if actual is None:
            types[name] = expected
        elif actual != expected:
            raise InvalidGraphError(f"{label}: output {i} ({formal.name!r}) {name!r} is declared {actual}, but {op} "
                                    f"makes it {expected} here")


def _check_attributes(node: onnx.NodeProto, schema: onnx.defs.OpSchema, label: str, op: str) -> None:
    """Each attribute defined by the schema and of its declared type (onnxruntime refuses the model
    otherwise), every required one present, and the flags in `_FLAG_RANGES` in range."""
    given = set()
    for a in node.attribute:
        given.add(a.name)
        spec = schema.attributes.get(a.name)
        if spec is None:
            raise InvalidGraphError(f"{label} has attribute {a.name!r}, which {op} does not define")
        if a.ref_attr_name:
            continue  # a function body's reference to its caller's attribute
        if a.type != int(spec.type):
            raise InvalidGraphError(f"{label}: attribute {a.name!r} is of type {A.AttributeType.Name(a.type)}; "
                                    f"{op} declares it {A.AttributeType.Name(int(spec.type))}")
        allowed = _FLAG_RANGES.get((node.op_type, a.name))
        if allowed is not None and a.i not in allowed:
            raise InvalidGraphError(f"{label}: attribute {a.name!r} = {a.i}; {op} accepts "
                                    f"{' or '.join(map(str, allowed))}")
        if (node.op_type, a.name) in _POSITIVE_FLOATS and not a.f > 0:
            raise InvalidGraphError(f"{label}: attribute {a.name!r} = {a.f}; {op} needs it greater than 0")
    for name, spec in schema.attributes.items():
        if spec.required and name not in given:
            raise InvalidGraphError(f"{label} lacks attribute {name!r}, which {op} requires")
    attrs = {a.name: a for a in node.attribute}
    if node.op_type in ("Conv", "ConvTranspose") and "pads" in attrs and "auto_pad" in attrs and \
            attrs["auto_pad"].s not in (b"", b"NOTSET"):
        auto_pad = attrs["auto_pad"].s.decode(errors="replace")
        raise InvalidGraphError(f"{label} has both pads and auto_pad = {auto_pad!r}; {op} takes explicit pads "
                                "only with auto_pad NOTSET")
    if node.op_type == "BatchNormalization" and schema.since_version >= 14:
        training = "training_mode" in attrs and attrs["training_mode"].i == 1
        want = 3 if training else 1
        if len(node.output) != want:
            raise InvalidGraphError(f"{label} has {len(node.output)} outputs; {op} with training_mode "
                                    f"{int(training)} produces {want}")


def _arity(low: int, high: int) -> str:
    if low == high:
        return str(low)
    return f"at least {low}" if high >= 2**31 - 1 else f"{low} to {high}"
