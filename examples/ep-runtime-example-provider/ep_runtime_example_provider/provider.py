"""ExampleExecutionProvider: a KernelProvider whose kernels are plain numpy functions.

Its device is `"cpu"`: its values are host numpy arrays, exchanged with the CPU provider
without copies. Kernels follow ep-runtime's conventions: inputs positional, ONNX attributes
keyword-only with the spec's defaults, registered for a range of operator versions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ep_runtime import Graph, KernelProvider, KernelRegistry, Node, Refusal

#: Setting this environment variable to 1 makes the provider report itself unavailable,
#: the way a real one does when its driver or device is missing.
UNAVAILABLE_ENV = "EP_EXAMPLE_UNAVAILABLE"

#: The example provider's kernels, keyed by (domain, op_type) and operator version.
KERNELS = KernelRegistry()

FLOAT32 = [np.float32]


@KERNELS.kernel("Relu", since=6, dtypes=FLOAT32)
def relu(x: np.ndarray) -> np.ndarray:
    """Relu-6/13/14: max(x, 0)."""
    return np.asarray(np.maximum(x, np.float32(0)))


@KERNELS.kernel("Sigmoid", since=6, dtypes=FLOAT32)
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Sigmoid-6/13: 1 / (1 + exp(-x)), computed as exp(-log(1 + exp(-x))) so it cannot overflow."""
    return np.asarray(np.exp(-np.logaddexp(np.float32(0), -x)))


@KERNELS.kernel("Add", since=7, dtypes=FLOAT32)
def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Add-7/13/14 with numpy broadcasting (versions 1-6 had a `broadcast` attribute: not covered)."""
    return np.asarray(a + b)


@KERNELS.kernel("Mul", since=7, dtypes=FLOAT32)
def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mul-7/13/14 with numpy broadcasting."""
    return np.asarray(a * b)


def _both_2d(node: Node, graph: Graph) -> str | Refusal | None:
    """MatMul is taken only when both inputs are known to be matrices.

    A `supports` check returns None to accept, a string (a refusal of kind "attribute") or a
    Refusal with another kind.
    """
    for name in node.inputs[:2]:
        shape = graph.value(name).shape
        if shape is None:
            return Refusal("dynamic_shape", f"rank of MatMul input {name!r} unknown")
        if len(shape) != 2:
            return f"MatMul only for 2-D inputs; {name!r} has rank {len(shape)}"
    return None


@KERNELS.kernel("MatMul", since=1, dtypes=FLOAT32, supports=_both_2d)
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MatMul-1/9/13 on two matrices."""
    return np.matmul(a, b)


class ExampleExecutionProvider(KernelProvider):
    """Runs Relu, Sigmoid, Add, Mul and 2-D MatMul on float32 host arrays with numpy.

    Options (`providers=[("example", {...})]`):
      `disabled_ops`: op types to refuse even though a kernel exists (e.g. `["MatMul"]`).
    """

    name = "ExampleExecutionProvider"
    aliases = ("example",)
    device = "cpu"
    registry: ClassVar[KernelRegistry] = KERNELS

    def __init__(self, *, disabled_ops: Sequence[str] = (), **options: Any) -> None:
        super().__init__(disabled_ops=list(disabled_ops), **options)
        self.disabled_ops = frozenset(disabled_ops)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when usable; a sentence naming what is missing otherwise (never raises)."""
        if os.environ.get(UNAVAILABLE_ENV) == "1":
            return f"{UNAVAILABLE_ENV}=1 is set (stands in for a missing driver)"
        return None

    def refuse_node(self, node: Node, graph: Graph) -> Refusal | None:
        """Refuse the op types the user disabled, before any kernel lookup."""
        if node.op_type in self.disabled_ops:
            return Refusal("op", f"{node.op_type} disabled by the provider option disabled_ops")
        return None


__all__ = ["ExampleExecutionProvider", "KERNELS"]
