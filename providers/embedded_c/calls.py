"""What a lowering produces: `Call`s into the C operator library (an If's holding its branches'), the
order they run in, and the element types the library takes. lowering.py makes them; branches.py,
codegen.py, the provider and the export read them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node

F32 = np.dtype(np.float32)


@dataclass
class Call:
    """One call into the operator library for one node.

    `args` are (kind, value) pairs: ("t", name or None) a tensor (NULL when None), ("ts", names)
    a tensor array followed by its count, ("i32"|"i64"|"f32", number), ("i64s"|"f32s", non-empty list;
    None: NULL),
    ("conv"|"pool", dict) a parameter struct, ("scratch", None) the scratch buffer.
    `shared` names the shared sources (csrc/<stem>.c) the kernel needs besides `SUPPORT_SOURCES`;
    an If's call (`ep_if_cond` on its condition) holds its two branches' calls in `branches`;
    `constants` are values the lowering made that the call reads (a Constant node's value).
    """

    func: str
    source: str
    args: list[tuple[str, Any]]
    scratch: int = 0
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    shared: tuple[str, ...] = ()
    branches: list[Branch] = field(default_factory=list)
    constants: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Branch:
    """One branch of an If, lowered: its calls (the node each runs, for labels and errors), and
    the shape, element type and constant value of the values local to it (renamed apart from the
    outer graph's; the branch's outputs are written straight into the If's outputs)."""

    calls: list[Call]
    nodes: list[Node]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dtypes: dict[str, np.dtype] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)


def flatten(calls: Sequence[Call], nodes: Sequence[Node]) -> list[tuple[Call, Node]]:
    """Every call in the order the C code lays them out, with its node: an If's call, then its
    then-branch's calls, then its else-branch's (nested Ifs likewise). The position in this list
    is a call's step: its scratch slot, and what a failing fused call reports."""
    out: list[tuple[Call, Node]] = []
    for call, node in zip(calls, nodes):
        out.append((call, node))
        for branch in call.branches:
            out += flatten(branch.calls, branch.nodes)
    return out


def walk(calls: Sequence[Call]) -> list[Call]:
    """The calls of `flatten`'s order, without their nodes."""
    return [c for top in calls for c in (top, *(x for b in top.branches for x in walk(b.calls)))]


#: sources every build needs besides the operators
SUPPORT_SOURCES = ("ep_tensor", "ep_broadcast", "ep_sgemm", "ep_window", "ep_quant", "ep_qgemm", "ep_rnn",
                   "ep_layer", "ep_depthwise")

U8, I8, I32, I64, BOOL = (np.dtype(t) for t in (np.uint8, np.int8, np.int32, np.int64, np.bool_))
Q8 = frozenset({U8, I8})
#: C element type of each numpy dtype the kernels take (csrc/ep_tensor.h, ONNX's numbers)
C_DTYPES: dict[np.dtype, int] = {F32: 1, U8: 2, I8: 3, I32: 6, I64: 7, BOOL: 9}
#: element types of the values an If and its branches may carry
ANY_C = frozenset({F32, U8, I8, I32, I64, BOOL})


def value_dtype(graph: Graph, name: str) -> np.dtype | None:
    """The element type of value `name` (an initializer's own, else the declared one)."""
    return graph.initializers[name].dtype if name in graph.initializers else graph.value(name).dtype
