"""onnxruntime's module-level functions, as ep-runtime answers them.

`get_device()` says "GPU" when the CUDA provider is available, else "CPU" (clients use it to pick
`CUDAExecutionProvider`). `get_version_string()` is the onnxruntime API level ep-runtime follows
(ORT_API_VERSION), so version checks in client code pass. Telemetry switches are accepted: ep-runtime
sends no telemetry.
"""

from __future__ import annotations

from .ort_logging import set_default_logger_callback, set_default_logger_severity, set_default_logger_verbosity
from .registry import available_providers
from .seed import set_seed
from .version import __version__

#: the onnxruntime Python API level ep-runtime follows (what get_version_string() answers)
ORT_API_VERSION = "1.20.0"
#: onnxruntime's CUDA build version; empty: ep-runtime is not built against CUDA (its provider uses CuPy)
cuda_version = ""


def get_device() -> str:
    """"GPU" when the CUDA provider is available here, else "CPU" (onnxruntime answers for its build)."""
    return "GPU" if "CUDAExecutionProvider" in available_providers() else "CPU"


def get_version_string() -> str:
    """The onnxruntime API version ep-runtime follows (ORT_API_VERSION)."""
    return ORT_API_VERSION


def get_build_info() -> str:
    """Which ep-runtime this is and the onnxruntime API level it follows."""
    return f"ep-runtime {__version__}, onnxruntime API {ORT_API_VERSION}"


def has_collective_ops() -> bool:
    """False: ep-runtime has no collective (multi-device communication) operators."""
    return False


def disable_telemetry_events() -> None:
    """Accepted for compatibility: ep-runtime collects and sends no telemetry."""


def enable_telemetry_events() -> None:
    """Accepted for compatibility: ep-runtime collects and sends no telemetry."""


#: onnxruntime's module functions, re-exported by the package and by capi.onnxruntime_pybind11_state
__all__ = [
    "disable_telemetry_events", "enable_telemetry_events", "get_build_info", "get_device",
    "get_version_string", "has_collective_ops", "set_default_logger_callback", "set_default_logger_severity",
    "set_default_logger_verbosity", "set_seed",
]
