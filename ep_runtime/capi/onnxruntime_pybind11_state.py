"""onnxruntime's `capi.onnxruntime_pybind11_state`: the exception classes clients catch (Fail,
InvalidArgument, NoSuchFile, InvalidGraph, RuntimeException, NotImplemented, ...), which ep-runtime's
own errors derive from, and the session classes and module functions."""

from .. import ort_api
from ..io_binding import IOBinding as SessionIOBinding
from ..optimize import GraphOptimizationLevel
from ..ort_api import *  # noqa: F403  (onnxruntime's module functions: ort_api.__all__)
from ..ort_errors import (
    DeviceReset,
    EngineError,
    EPFail,
    Fail,
    InvalidArgument,
    InvalidGraph,
    InvalidProtobuf,
    ModelLoadCanceled,
    ModelLoaded,
    ModelRequiresCompilation,
    NoModel,
    NoSuchFile,
    NotFound,
    NotImplemented,
    RuntimeException,
)
from ..ort_value import OrtValue
from ..run_options import RunOptions
from ..session import InferenceSession, ModelMetadata, NodeArg, get_all_providers, get_available_providers
from ..session_options import ExecutionMode, ExecutionOrder, SessionOptions

__all__ = [
    "DeviceReset", "EPFail", "EngineError", "ExecutionMode", "ExecutionOrder", "Fail", "GraphOptimizationLevel",
    "InferenceSession", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "ModelLoadCanceled", "ModelLoaded",
    "ModelMetadata", "ModelRequiresCompilation", "NoModel", "NoSuchFile", "NodeArg", "NotFound", "NotImplemented",
    "OrtValue", "RunOptions", "RuntimeException", "SessionIOBinding", "SessionOptions", "get_all_providers",
    "get_available_providers", *ort_api.__all__
]
