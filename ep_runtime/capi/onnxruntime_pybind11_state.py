"""onnxruntime's `capi.onnxruntime_pybind11_state`: the exception classes clients catch (Fail,
InvalidArgument, NoSuchFile, InvalidGraph, RuntimeException, NotImplemented, ...), which ep-runtime's
own errors derive from, and the session classes and module functions."""

from ..io_binding import IOBinding as SessionIOBinding
from ..optimize import GraphOptimizationLevel
from ..ort_api import (
    disable_telemetry_events,
    enable_telemetry_events,
    get_build_info,
    get_device,
    get_version_string,
    has_collective_ops,
    set_default_logger_callback,
    set_default_logger_severity,
    set_default_logger_verbosity,
    set_seed,
)
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
    "OrtValue", "RunOptions", "RuntimeException", "SessionIOBinding", "SessionOptions", "disable_telemetry_events",
    "enable_telemetry_events", "get_all_providers", "get_available_providers", "get_build_info", "get_device",
    "get_version_string", "has_collective_ops", "set_default_logger_callback", "set_default_logger_severity",
    "set_default_logger_verbosity", "set_seed",
]
