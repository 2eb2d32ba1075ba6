"""External data: the one resolver that reads every tensor stored beside a model, confined to its folder.

Every external tensor (dense and sparse initializers, Constant and other node attributes,
tensors inside subgraphs and model-local functions: `proto_walk.iter_tensors`) is read here and
only here. A location must name a file inside the model's folder (no absolute path, no `..`,
no symlink pointing out); exactly the tensor's bytes are read — the declared `length`, which
must equal what its dims and element type take, or that size when no length is given — so a
small tensor backed by a huge file costs a small read, and a file too short is an error naming
the tensor and the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from .errors import ModelLoadError
from .proto_walk import iter_tensors, tensor_culprit
from .validate import check_tensor_header, raw_nbytes


def is_external(tensor: onnx.TensorProto) -> bool:
    """Whether the tensor's data lives in an external file."""
    return tensor.HasField("data_location") and tensor.data_location == onnx.TensorProto.EXTERNAL


def external_tensors(model: onnx.ModelProto) -> list[tuple[onnx.TensorProto, str]]:
    """Every external tensor of the model, wherever it sits, with a label naming it."""
    return [(t, tensor_culprit(t, label)) for t, label in iter_tensors(model) if is_external(t)]


def load_external_data(model: onnx.ModelProto, base_dir: Path, what: str) -> None:
    """Read every external tensor of `model` (in place) from files inside `base_dir`."""
    root = base_dir.resolve()
    for tensor, culprit in external_tensors(model):
        read_external_tensor(tensor, root, f"{culprit} of {what}")


def read_external_tensor(tensor: onnx.TensorProto, root: Path, culprit: str) -> None:
    """Replace one tensor's external reference by its bytes, read from a file confined to `root`."""
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    if not location:
        raise ModelLoadError(f"{culprit} is marked external but names no location")
    target = _confined_path(location, root, culprit)
    offset = _non_negative_int(info, "offset", culprit)
    length = _non_negative_int(info, "length", culprit)
    count = check_tensor_header(tensor, culprit)
    if tensor.data_type == onnx.TensorProto.STRING:
        raise ModelLoadError(f"{culprit}: string tensors cannot be stored as external data")
    nbytes = raw_nbytes(tensor, count)
    if length is not None and length != nbytes:
        raise ModelLoadError(f"{culprit}: external data length {length} does not match its dims {list(tensor.dims)}, "
                             f"which take {nbytes} bytes")
    offset = offset or 0
    try:
        with open(target, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset + nbytes > size:
                raise ModelLoadError(f"{culprit}: external data file {location!r} is too short: {nbytes} bytes at "
                                     f"offset {offset} lie outside its {size} bytes")
            f.seek(offset)
            data = f.read(nbytes)
    except OSError as exc:
        raise ModelLoadError(f"{culprit}: cannot read external data file {location!r}: {exc}") from exc
    if len(data) != nbytes:
        raise ModelLoadError(f"{culprit}: external data file {location!r} ended after {len(data)} of the {nbytes} "
                             f"bytes at offset {offset}")
    tensor.raw_data = data
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT


def _confined_path(location: str, root: Path, culprit: str) -> Path:
    if os.path.isabs(location) or Path(location).is_absolute() or location.startswith(("/", "\\")):
        raise ModelLoadError(f"{culprit}: external data location {location!r} is an absolute path; "
                             "only files inside the model's folder are read")
    if "\0" in location:
        raise ModelLoadError(f"{culprit}: external data location {location!r} contains a NUL character")
    target = (root / location).resolve()
    if target != root and root not in target.parents:
        raise ModelLoadError(f"{culprit}: external data location {location!r} escapes the model's folder "
                             f"{str(root)!r} (through '..' or a symlink); refused")
    if not target.is_file():
        raise ModelLoadError(f"{culprit}: external data file {location!r} not found in {str(root)!r}")
    return target


def _non_negative_int(info: dict[str, str], key: str, culprit: str) -> int | None:
    text = info.get(key)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ModelLoadError(f"{culprit}: external data {key} {text!r} is not an integer") from None
    if value < 0:
        raise ModelLoadError(f"{culprit}: external data {key} {value} is negative")
    return value
