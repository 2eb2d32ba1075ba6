"""Exception types of ep-runtime; every message names the node, input or provider involved."""

from __future__ import annotations


class EPRuntimeError(Exception):
    """Base class of every error ep-runtime raises on purpose."""


class ModelLoadError(EPRuntimeError):
    """The model could not be read: corrupt, truncated, or its external data is unsafe or missing."""


class InvalidGraphError(EPRuntimeError):
    """The graph is not a valid ONNX graph (a cycle, an undefined value, a duplicate output)."""


class InvalidArgument(EPRuntimeError, ValueError):
    """A call was made with bad arguments: a missing or unknown input, a wrong dtype, rank or dim."""


class ProviderError(EPRuntimeError):
    """An execution provider is unknown, unavailable, or failed while being set up."""


class NotImplementedByAnyProvider(EPRuntimeError):
    """Some nodes are claimed by no provider (or would fall back to CPU in strict mode)."""


class RunCancelled(EPRuntimeError):
    """A run stopped early because its RunOptions.terminate was set; the session stays usable."""


class RunTimedOut(RunCancelled, TimeoutError):
    """A run stopped early because it ran past its timeout (run config entry `ep_runtime.run_timeout_ms`)."""


class KernelError(EPRuntimeError):
    """A kernel failed while running a node; the message names the node, op and provider."""

    def __init__(self, message: str, *, node: str = "", op_type: str = "", provider: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.op_type = op_type
        self.provider = provider
