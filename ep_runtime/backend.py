"""An `onnx.backend.base.Backend` over ep-runtime, so the official ONNX backend suite can run it.

    import onnx.backend.test
    from ep_runtime.backend import backend_for

    suite = onnx.backend.test.BackendTest(backend_for(["opencl", "cpu"]), __name__)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx.backend.base import Backend, BackendRep

from .session import InferenceSession, SessionOptions


class EPRuntimeBackendRep(BackendRep):
    """A prepared model: an InferenceSession fed positionally or by name."""

    def __init__(self, session: InferenceSession) -> None:
        self.session = session
        self._names = [i.name for i in session.get_inputs()]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Run on a list of inputs (in graph input order) or a dict name -> value."""
        if isinstance(inputs, dict):
            feed = dict(inputs)
        else:
            if not isinstance(inputs, (list, tuple)):
                inputs = [inputs]
            feed = dict(zip(self._names, inputs))
        return tuple(self.session.run(None, feed))


class EPRuntimeBackend(Backend):
    """ep-runtime as an ONNX backend; `providers` says which execution providers it uses."""

    providers: Sequence[Any] = ("CPUExecutionProvider",)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> EPRuntimeBackendRep:
        options = SessionOptions()
        return EPRuntimeBackendRep(InferenceSession(model, options, providers=list(cls.providers)))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU", outputs_info: Any = None,
                 **kwargs: Any) -> tuple[Any, ...]:
        raise NotImplementedError("run_node is not supported: build a model around the node and use run_model")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper() == "CPU"


def backend_for(providers: Sequence[Any]) -> type[EPRuntimeBackend]:
    """A Backend class that runs models with the given providers (in priority order)."""
    name = "EPRuntimeBackend_" + "_".join(str(p if isinstance(p, str) else p[0]) for p in providers)
    return type(name, (EPRuntimeBackend,), {"providers": tuple(providers)})
