"""Model loading: a path, bytes or ModelProto in; a checked ModelProto with its external data out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from .errors import ModelFileNotFound, ModelLoadError
from .external_data import external_tensors, load_external_data
from .proto_walk import iter_bodies
from .validate import check_model, check_node_signatures, check_versions, value_infos_of_body

ModelSource = str | os.PathLike | bytes | onnx.ModelProto


def load_model(source: ModelSource) -> onnx.ModelProto:
    """Read a model from a file path, serialized bytes, or a ModelProto, and validate it.

    External-data tensors (wherever they sit: initializers, sparse initializers, attributes,
    subgraphs, functions) are read from the model's folder only, exactly their size; a location
    that escapes it (`../`, an absolute path, a symlink pointing out) is refused. A ModelProto
    given by the caller is not modified. Then `validate.check_model` refuses malformed tensors,
    types and graphs, naming them.
    """
    if isinstance(source, onnx.ModelProto):
        model, base_dir, what = source, None, "the given ModelProto"
    elif isinstance(source, (bytes, bytearray, memoryview)):
        model, base_dir, what = _parse(bytes(source), "the given bytes"), None, "the given bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = f"model file {str(path)!r}"
        if not path.is_file():
            raise (ModelLoadError if path.exists() else ModelFileNotFound)(f"{what} does not exist or is not a file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read {what}: {exc}") from exc
        model, base_dir = _parse(data, what), path.resolve().parent
    else:
        raise ModelLoadError(
            f"cannot load a model from a {type(source).__name__}: give a path, bytes or an onnx.ModelProto"
        )
    _check_structure(model, what)
    check_versions(model, what)
    external = external_tensors(model)
    if external:
        if base_dir is None:
            raise ModelLoadError(
                f"{what} references external data ({external[0][1]}); "
                "load the model from its file path so the data can be found beside it"
            )
        if model is source:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)
            model = copy
        load_external_data(model, base_dir, what)
    check_model(model, what)
    return model


def _parse(data: bytes, what: str) -> onnx.ModelProto:
    if not data:
        raise ModelLoadError(f"{what} is empty")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"{what} is not a valid ONNX model (corrupt or truncated): {exc}") from exc
    return model


def _check_structure(model: onnx.ModelProto, what: str) -> None:
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise ModelLoadError(f"{what} has no graph: it is not an ONNX model, or it is truncated")
    if model.ir_version <= 0:
        raise ModelLoadError(f"{what} has no ir_version: it is not an ONNX model, or it is corrupt")
    if not model.opset_import:
        raise ModelLoadError(f"{what} declares no opset_import")


def prepare_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """Inline model-local functions, add the types and shapes ONNX shape inference can tell, and
    check every node of an ONNX-defined domain against its schema (`validate.check_node_signatures`).

    Declared negative dims become unknown (dynamic) first (`unknown_negative_dims`). Inference is
    lenient: declared dims it contradicts are left for the providers, which check shapes at run time."""
    if model.functions:
        try:
            from onnx import inliner

            model = inliner.inline_local_functions(model)
        except Exception as exc:  # keep the functions: the provider may still run them
            raise ModelLoadError(f"cannot inline the model's local functions: {exc}") from exc
    model = unknown_negative_dims(model)
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:
        pass  # shapes stay unknown where inference cannot tell; partitioning copes with that
    check_node_signatures(model)
    return model


def unknown_negative_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every declared negative dim (exporters write -1 for "dynamic") made an unknown dim.

    onnxruntime treats such dims as dynamic; ONNX's C++ shape inference trusts them and aborts the
    process on some (Slice clamps to `[0, dim - 1]`), so they never reach it. Returns the model itself
    when it declares none, else a modified copy (a caller's ModelProto is never changed)."""
    if not any(_negative_dims(model)):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for dim in _negative_dims(copy):
        dim.Clear()
    return copy


def _negative_dims(model: onnx.ModelProto) -> Iterator[onnx.TensorShapeProto.Dimension]:
    for body, _ in iter_bodies(model):
        for info in value_infos_of_body(body):
            if info.HasField("type"):
                yield from _negative_dims_of_type(info.type)


def _negative_dims_of_type(tp: onnx.TypeProto) -> Iterator[onnx.TensorShapeProto.Dimension]:
    which = tp.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        yield from (d for d in getattr(tp, which).shape.dim if d.HasField("dim_value") and d.dim_value < 0)
    elif which in ("sequence_type", "optional_type"):
        yield from _negative_dims_of_type(getattr(tp, which).elem_type)
    elif which == "map_type":
        yield from _negative_dims_of_type(tp.map_type.value_type)
