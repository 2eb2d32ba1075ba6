"""What a batch job needs to know about a model before any worker loads it: its inputs (name,
dtype, dims), its output names, how rows are stacked into batches, and an identity for resume."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from ..errors import InvalidArgument, ModelFileNotFound, ModelLoadError
from ..graph import onnx_dtype_to_numpy

#: the key column every result carries: the row's position in the input
ROW_ID = "row_id"


@dataclass(frozen=True)
class TensorSpec:
    """One graph input: its name, numpy dtype and declared dims (None for a dynamic dim)."""

    name: str
    dtype: np.dtype
    dims: tuple[int | None, ...] | None

    @property
    def row_dims(self) -> tuple[int | None, ...] | None:
        """The dims of one row: the declared dims without the batch dim."""
        return None if self.dims is None else self.dims[1:]


@dataclass(frozen=True)
class ModelSignature:
    """A model's graph inputs and output names, and whether rows may be stacked into batches
    (`max_batch` is None when they may, 1 when an input's batch dim is fixed at 1)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[str, ...]
    max_batch: int | None
    identity: str

    def input(self, name: str) -> TensorSpec:
        """The input named `name` (an InvalidArgument listing the inputs when there is none)."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise InvalidArgument(f"the model has no input {name!r}; its inputs are {[s.name for s in self.inputs]}")


def read_signature(model: str | os.PathLike | bytes | onnx.ModelProto) -> ModelSignature:
    """The signature of `model` (a path, serialized bytes or a ModelProto), read without its external
    data. A model whose inputs cannot be batched row-wise is an InvalidArgument naming the input."""
    if isinstance(model, onnx.ModelProto):
        proto, data, what = model, None, "the given ModelProto"
    else:
        data, what = _model_bytes(model)
        try:
            proto = onnx.load_from_string(data)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{what} is not a valid ONNX model (corrupt or truncated): {exc}") from exc
        if not proto.HasField("graph"):
            raise ModelLoadError(f"{what} is not an ONNX model: it has no graph")
    graph = proto.graph
    initializers = {t.name for t in graph.initializer}
    inputs = tuple(_spec(vi, what) for vi in graph.input if vi.name not in initializers)
    if not inputs:
        raise InvalidArgument(f"{what} has no graph inputs: there is nothing to feed rows into")
    max_batch: int | None = None
    for spec in inputs:
        if spec.dims is not None and not spec.dims:
            raise InvalidArgument(f"input {spec.name!r} of {what} is a scalar: batch inference needs a batch dim")
        first = None if spec.dims is None else spec.dims[0]
        if first == 1:
            max_batch = 1
        elif first is not None:
            raise InvalidArgument(f"input {spec.name!r} of {what} has a fixed first dim {first}: batch inference "
                                  "needs a dynamic batch dim (or 1, run one row at a time)")
    digest = hashlib.sha256(data if data is not None else proto.SerializeToString()).hexdigest()
    return ModelSignature(inputs, tuple(o.name for o in graph.output), max_batch, digest)


def model_for_workers(model: str | os.PathLike | bytes | onnx.ModelProto) -> str | bytes:
    """What workers load the model from: a path stays a path (external data is found beside it;
    on a cluster it must be readable on every node), bytes and protos travel as bytes."""
    if isinstance(model, onnx.ModelProto):
        return model.SerializeToString()
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    return os.fspath(Path(model).resolve())


def _model_bytes(model: Any) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "the given model bytes"
    if not isinstance(model, (str, os.PathLike)):
        raise ModelLoadError(f"cannot load a model from a {type(model).__name__}: give a path, bytes or a ModelProto")
    path = Path(model)
    what = f"model file {str(path)!r}"
    if not path.is_file():
        raise ModelFileNotFound(f"{what} does not exist or is not a file")
    try:
        return path.read_bytes(), what
    except OSError as exc:
        raise ModelLoadError(f"cannot read {what}: {exc}") from exc


def _spec(vi: onnx.ValueInfoProto, what: str) -> TensorSpec:
    if vi.type.WhichOneof("value") != "tensor_type":
        raise InvalidArgument(f"input {vi.name!r} of {what} is not a tensor: batch inference feeds tensors only")
    tt = vi.type.tensor_type
    try:
        dtype = onnx_dtype_to_numpy(tt.elem_type)
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidArgument(f"input {vi.name!r} of {what} has an unknown element type {tt.elem_type}") from exc
    dims = None
    if tt.HasField("shape"):
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return TensorSpec(vi.name, np.dtype(dtype), dims)
