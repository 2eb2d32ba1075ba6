"""ep-runtime: run ONNX models on pluggable execution providers, with an explained partition.

The API follows onnxruntime's: `InferenceSession(model, providers=[...])`, `run`,
`get_inputs`, `get_outputs`, `get_providers`, plus `get_partition()` which says where each
node went and why. The rest of onnxruntime's Python API is here too (OrtValue, IOBinding,
get_device, set_seed, ...; docs/onnxruntime-compat.md), and `install_as_onnxruntime()` lets an
unchanged onnxruntime application run on ep-runtime.
"""

from . import ort_api
from .errors import (
    EPRuntimeError,
    InvalidArgument,
    InvalidGraphError,
    KernelError,
    ModelFileNotFound,
    ModelLoadCancelled,
    ModelLoadError,
    NotImplementedByAnyProvider,
    ProviderError,
    RunCancelled,
    RunTimedOut,
)
from .graph import Graph, Node, SubGraph, ValueInfo
from .io_binding import IOBinding
from .optimize import GraphOptimizationLevel
from .ort_api import *  # noqa: F403  (onnxruntime's module functions: ort_api.__all__)
from .ort_value import OrtValue
from .partition import Partition
from .plugins import hookimpl
from .provider import Capability, ExecutionProvider, KernelProvider, KernelRegistry, Refusal
from .run_options import RunOptions
from .session import (
    InferenceSession,
    ModelMetadata,
    NodeArg,
    SessionOptions,
    get_all_providers,
    get_available_providers,
)
from .session_options import ExecutionMode, ExecutionOrder
from .version import __version__  # noqa: F401  (ep_runtime.__version__)

__all__ = [
    "Capability", "EPRuntimeError", "ExecutionProvider", "Graph", "GraphOptimizationLevel", "InferenceSession",
    "InvalidArgument", "InvalidGraphError", "KernelError", "KernelProvider", "KernelRegistry", "ModelLoadError",
    "ModelMetadata", "Node", "NodeArg", "NotImplementedByAnyProvider", "Partition", "ProviderError", "Refusal",
    "RunCancelled", "RunOptions", "RunTimedOut", "SessionOptions", "SubGraph", "ValueInfo", "get_all_providers",
    "get_available_providers", "hookimpl", "ExecutionMode", "ExecutionOrder", "IOBinding", "ModelFileNotFound",
    "ModelLoadCancelled", "OrtValue", "install_as_onnxruntime", *ort_api.__all__
]

from . import capi  # noqa: E402, F401  (onnxruntime's capi modules; they import the names above)
from .compat import install_as_onnxruntime  # noqa: E402
