"""Exception types of ep-runtime; every message names the node, input or provider involved.

Each also derives from the onnxruntime exception class of the same meaning (ort_errors.py), so code
written for onnxruntime catches it: ModelLoadError is an InvalidProtobuf, InvalidGraphError an
InvalidGraph, InvalidArgument an InvalidArgument, ProviderError an EPFail, NotImplementedByAnyProvider
a NotImplemented, RunCancelled a Fail, KernelError a RuntimeException.
"""

from __future__ import annotations

from . import ort_errors as _ort


class EPRuntimeError(Exception):
    """Base class of every error ep-runtime raises on purpose."""


class ModelLoadError(EPRuntimeError, _ort.InvalidProtobuf):
    """The model could not be read: corrupt, truncated, or its external data is unsafe or missing."""


class ModelFileNotFound(ModelLoadError, _ort.NoSuchFile, FileNotFoundError):
    """The model file does not exist (onnxruntime's NoSuchFile; also a FileNotFoundError)."""


class ModelLoadCancelled(EPRuntimeError, _ort.ModelLoadCanceled):
    """Creating a session stopped because SessionOptions.set_load_cancellation_flag(True) was called."""


class InvalidGraphError(EPRuntimeError, _ort.InvalidGraph):
    """The graph is not a valid ONNX graph (a cycle, an undefined value, a duplicate output)."""


class InvalidArgument(EPRuntimeError, ValueError, _ort.InvalidArgument):
    """A call was made with bad arguments: a missing or unknown input, a wrong dtype, rank or dim."""


class ProviderError(EPRuntimeError, _ort.EPFail):
    """An execution provider is unknown, unavailable, or failed while being set up."""


class NotImplementedByAnyProvider(EPRuntimeError, _ort.NotImplemented):
    """Some nodes are claimed by no provider (or would fall back to CPU in strict mode)."""


class RunCancelled(EPRuntimeError, _ort.Fail):
    """A run stopped early because its RunOptions.terminate was set; the session stays usable."""


class RunTimedOut(RunCancelled, TimeoutError):
    """A run stopped early because it ran past its timeout (run config entry `ep_runtime.run_timeout_ms`)."""


class KernelError(EPRuntimeError, _ort.RuntimeException):
    """A kernel failed while running a node; the message names the node, op and provider."""

    def __init__(self, message: str, *, node: str = "", op_type: str = "", provider: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.op_type = op_type
        self.provider = provider
