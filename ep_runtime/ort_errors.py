"""onnxruntime's exception classes (`onnxruntime.capi.onnxruntime_pybind11_state.Fail`, ...), by name.

ep-runtime's own errors (errors.py) derive from the matching class here, so code written for
onnxruntime (`except InvalidArgument:` after `from onnxruntime.capi.onnxruntime_pybind11_state
import InvalidArgument`) catches them. As in onnxruntime, these classes are unrelated siblings
under Exception.
"""

from __future__ import annotations


class Fail(Exception):
    """onnxruntime status FAIL: a generic failure (a cancelled run, among others)."""


class InvalidArgument(Exception):
    """onnxruntime status INVALID_ARGUMENT: a bad feed, option or argument."""


class NoSuchFile(Exception):
    """onnxruntime status NO_SUCHFILE: the model file does not exist."""


class NoModel(Exception):
    """onnxruntime status NO_MODEL."""


class EngineError(Exception):
    """onnxruntime status ENGINE_ERROR."""


class RuntimeException(Exception):
    """onnxruntime status RUNTIME_EXCEPTION: a kernel failed while running."""


class InvalidProtobuf(Exception):
    """onnxruntime status INVALID_PROTOBUF: the model could not be read."""


class ModelLoaded(Exception):
    """onnxruntime status MODEL_LOADED."""


class NotImplemented(Exception):  # noqa: A001 - onnxruntime's name
    """onnxruntime status NOT_IMPLEMENTED: no kernel for a node."""


class InvalidGraph(Exception):
    """onnxruntime status INVALID_GRAPH: the graph is not valid ONNX."""


class EPFail(Exception):
    """onnxruntime status EP_FAIL: an execution provider failed."""


class ModelLoadCanceled(Exception):
    """onnxruntime status MODEL_LOAD_CANCELED: SessionOptions.set_load_cancellation_flag(True) stopped a load."""


class ModelRequiresCompilation(Exception):
    """onnxruntime status MODEL_REQUIRES_COMPILATION."""


class NotFound(Exception):
    """onnxruntime status NOT_FOUND."""


class DeviceReset(Exception):
    """onnxruntime status DEVICE_RESET (not raised by ep-runtime)."""


#: every onnxruntime exception class, by name
ORT_EXCEPTIONS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (Fail, InvalidArgument, NoSuchFile, NoModel, EngineError, RuntimeException, InvalidProtobuf,
                ModelLoaded, NotImplemented, InvalidGraph, EPFail, ModelLoadCanceled, ModelRequiresCompilation,
                NotFound, DeviceReset)
}

__all__ = list(ORT_EXCEPTIONS)
