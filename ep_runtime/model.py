"""Model loading: a path, bytes or ModelProto in; a checked ModelProto with its external data out."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper

from .errors import ModelLoadError

ModelSource = str | os.PathLike | bytes | onnx.ModelProto


def load_model(source: ModelSource) -> onnx.ModelProto:
    """Read a model from a file path, serialized bytes, or a ModelProto.

    External-data tensors are read from the model's folder; a location that escapes it
    (`../`, an absolute path, a symlink pointing out) is refused.
    """
    if isinstance(source, onnx.ModelProto):
        model, base_dir, what = source, None, "the given ModelProto"
    elif isinstance(source, (bytes, bytearray, memoryview)):
        model, base_dir, what = _parse(bytes(source), "the given bytes"), None, "the given bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = f"model file {str(path)!r}"
        if not path.is_file():
            raise ModelLoadError(f"{what} does not exist or is not a file")
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
    external = [t for t in external_data_helper._get_all_tensors(model) if _is_external(t)]
    if external:
        if base_dir is None:
            raise ModelLoadError(
                f"{what} references external data (tensor {external[0].name!r}); "
                "load the model from its file path so the data can be found beside it"
            )
        if model is source:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)
            model = copy
        for tensor in external:
            _check_external_location(tensor, base_dir, what)
        try:
            external_data_helper.load_external_data_for_model(model, str(base_dir))
        except Exception as exc:
            raise ModelLoadError(f"cannot read external data of {what}: {exc}") from exc
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


def _is_external(tensor: onnx.TensorProto) -> bool:
    return tensor.HasField("data_location") and tensor.data_location == onnx.TensorProto.EXTERNAL


def _check_external_location(tensor: onnx.TensorProto, base_dir: Path, what: str) -> None:
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    culprit = f"tensor {tensor.name!r} of {what}"
    if not location:
        raise ModelLoadError(f"{culprit} is marked external but names no location")
    if os.path.isabs(location) or Path(location).is_absolute() or location.startswith(("/", "\\")):
        raise ModelLoadError(f"{culprit}: external data location {location!r} is an absolute path; "
                             "only files inside the model's folder are read")
    root = base_dir.resolve()
    target = (root / location).resolve()
    if target != root and root not in target.parents:
        raise ModelLoadError(f"{culprit}: external data location {location!r} escapes the model's folder "
                             f"{str(root)!r} (through '..' or a symlink); refused")
    if not target.is_file():
        raise ModelLoadError(f"{culprit}: external data file {location!r} not found in {str(root)!r}")
    size = target.stat().st_size
    offset = int(info.get("offset", 0) or 0)
    length = int(info.get("length", 0) or 0)
    if offset < 0 or length < 0 or offset + length > size:
        raise ModelLoadError(f"{culprit}: external data range offset={offset} length={length} lies "
                             f"outside file {location!r} ({size} bytes)")


def prepare_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """Inline model-local functions and add the types and shapes ONNX shape inference can tell."""
    if model.functions:
        try:
            from onnx import inliner

            model = inliner.inline_local_functions(model)
        except Exception as exc:  # keep the functions: the provider may still run them
            raise ModelLoadError(f"cannot inline the model's local functions: {exc}") from exc
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:
        pass  # shapes stay unknown where inference cannot tell; partitioning copes with that
    return model
