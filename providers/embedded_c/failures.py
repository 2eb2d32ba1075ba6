"""The errors a run on the C kernels reports: a C return code, or an input whose shape is not
the one the subgraph was compiled for. Each names the node, its op and the provider."""

from __future__ import annotations

from collections.abc import Sequence

from ep_runtime.errors import KernelError
from ep_runtime.graph import Node

PROVIDER = "EmbeddedCExecutionProvider"

#: the return codes of csrc/ep_tensor.h
C_ERRORS = {
    1: "a tensor has an element type the kernel does not take (EP_ERR_DTYPE)",
    2: "the tensor shapes do not agree with each other or with the attributes (EP_ERR_SHAPE)",
    3: "an attribute or parameter is out of range (EP_ERR_ARG)",
}


def kernel_failed(node: Node, func: str, rc: int) -> KernelError:
    """The error for C function `func` returning `rc` (non-zero) while running `node`."""
    why = C_ERRORS.get(rc, f"unknown error code {rc}")
    return KernelError(f"node {node.label} failed on {PROVIDER}: C kernel {func} returned {rc}: {why}",
                       node=node.label, op_type=node.op_type, provider=PROVIDER)


def wrong_input_shape(node: Node, value: str, got: Sequence[int], compiled: Sequence[int]) -> KernelError:
    """The error for `value`, read by `node`, arriving with shape `got` where `compiled` was planned."""
    return KernelError(f"node {node.label} failed on {PROVIDER}: input {value!r} has shape {list(got)}, but the "
                       f"C kernels were compiled for {list(compiled)} (the shape the model declares); "
                       "the model's value_info does not match its data",
                       node=node.label, op_type=node.op_type, provider=PROVIDER)


def cannot_specialise(node: Node, why: str) -> KernelError:
    """The error for inputs of shapes the subgraph of symbolic shapes cannot be compiled for (`why`)."""
    return KernelError(f"node {node.label} failed on {PROVIDER}: cannot specialise the C kernels for these input "
                       f"shapes: {why}", node=node.label, op_type=node.op_type, provider=PROVIDER)


def fused_failure(nodes: Sequence[Node], funcs: Sequence[str], rc: int) -> KernelError:
    """The error for a fused function returning `rc` = 16 * (failing step + 1) + the kernel's code."""
    step = rc // 16 - 1
    if 0 <= step < len(nodes):
        return kernel_failed(nodes[step], funcs[step], rc % 16)
    return KernelError(f"fused C function of nodes {nodes[0].label}..{nodes[-1].label} failed on {PROVIDER} "
                       f"with code {rc}", node=nodes[0].label, op_type=nodes[0].op_type, provider=PROVIDER)
