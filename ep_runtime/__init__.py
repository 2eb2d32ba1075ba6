"""ep-runtime: run ONNX models on pluggable execution providers, with an explained partition.

The API follows onnxruntime's: `InferenceSession(model, providers=[...])`, `run`,
`get_inputs`, `get_outputs`, `get_providers`, plus `get_partition()` which says where each
node went and why.
"""

from .errors import (
    EPRuntimeError,
    InvalidArgument,
    InvalidGraphError,
    KernelError,
    ModelLoadError,
    NotImplementedByAnyProvider,
    ProviderError,
    RunCancelled,
    RunTimedOut,
)
from .graph import Graph, Node, SubGraph, ValueInfo
from .optimize import GraphOptimizationLevel
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

__version__ = "0.1.0"

__all__ = [
    "Capability", "EPRuntimeError", "ExecutionProvider", "Graph", "GraphOptimizationLevel",
    "InferenceSession", "InvalidArgument", "InvalidGraphError", "KernelError", "KernelProvider",
    "KernelRegistry", "ModelLoadError", "ModelMetadata", "Node", "NodeArg", "NotImplementedByAnyProvider",
    "Partition", "ProviderError", "Refusal", "RunCancelled", "RunOptions", "RunTimedOut", "SessionOptions",
    "SubGraph", "ValueInfo",
    "get_all_providers", "get_available_providers", "hookimpl",
]
