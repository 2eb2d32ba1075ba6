"""Inputs that must be host (numpy) values whatever provider runs the node, in one table.

A device provider receives these positions as numpy arrays: they are shapes, axes, indices
of slices, sizes, which the kernel needs on the host to launch device work. The partitioner
uses the same table to keep shape computations on the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Node

#: Input positions that are host values -> the ONNX ops (default domain) that have them (for any opset
#: version; an opset without the input never has it).
_HOST_POSITIONS: dict[tuple[int, ...], tuple[str, ...]] = {
    (0,): ("ConstantOfShape", "BlackmanWindow", "HannWindow", "HammingWindow"),
    (1,): ("Reshape", "Expand", "Tile", "Upsample", "Squeeze", "Unsqueeze", "Split", "TopK", "OneHot",
           "CenterCropPad", "Trilu", "CumSum", "SplitToSequence", "ReduceSum", "ReduceMean", "ReduceMax",
           "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"),
    (2,): ("MaxUnpool",),
    (1, 2): ("DFT", "Col2Im"),
    (1, 2, 3): ("Pad", "Resize", "STFT"),
    (1, 2, 3, 4): ("Slice",),
    (0, 1, 2): ("Range",),
    (2, 3, 4): ("NonMaxSuppression",),
    (0, 1, 2, 3, 4): ("MelWeightMatrix",),
}

#: (domain, op_type) -> input positions that are host values (for any opset version).
HOST_INPUTS: dict[tuple[str, str], tuple[int, ...]] = {
    ("", op): positions for positions, ops in _HOST_POSITIONS.items() for op in ops}

#: Ops that compute on shapes: when all their inputs are shape values (int64 of rank <= 1 from
#: Shape/Size or constants) they stay on the CPU, so a device provider does not ping-pong them.
SHAPE_OPS = frozenset({
    "Shape", "Size", "Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Cast", "Add", "Sub",
    "Mul", "Div", "Equal", "Where", "Reshape", "Identity", "ConstantOfShape", "Range", "Min",
    "Max", "ReduceProd", "Expand", "Neg", "Abs", "Floor", "Ceil", "Mod", "Not", "Less", "Greater",
    "Constant",
})


def host_input_positions(node: Node) -> tuple[int, ...]:
    """The input positions of `node` that must be host arrays."""
    return HOST_INPUTS.get((node.domain, node.op_type), ())


#: (domain, op_type) -> input positions read only for their shape: any device's array will do,
#: so no copy is planned for them (every device array type exposes `.shape` and `.dtype`).
METADATA_INPUTS: dict[tuple[str, str], tuple[int, ...]] = {
    ("", "Shape"): (0,),
    ("", "Size"): (0,),
}


def metadata_input_positions(node: Node) -> tuple[int, ...]:
    """The input positions of `node` whose values are read only for their shape."""
    return METADATA_INPUTS.get((node.domain, node.op_type), ())
