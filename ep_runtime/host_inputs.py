"""Inputs that must be host (numpy) values whatever provider runs the node, in one table.

A device provider receives these positions as numpy arrays: they are shapes, axes, indices
of slices, sizes, which the kernel needs on the host to launch device work. The partitioner
uses the same table to keep shape computations on the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Node

#: (domain, op_type) -> input positions that are host values (for any opset version).
HOST_INPUTS: dict[tuple[str, str], tuple[int, ...]] = {
    ("", "Reshape"): (1,),
    ("", "Expand"): (1,),
    ("", "Tile"): (1,),
    ("", "ConstantOfShape"): (0,),
    ("", "Slice"): (1, 2, 3, 4),
    ("", "Pad"): (1, 2, 3),
    ("", "Resize"): (1, 2, 3),
    ("", "Upsample"): (1,),
    ("", "Squeeze"): (1,),
    ("", "Unsqueeze"): (1,),
    ("", "Split"): (1,),
    ("", "TopK"): (1,),
    ("", "OneHot"): (1,),
    ("", "Range"): (0, 1, 2),
    ("", "CenterCropPad"): (1,),
    ("", "Trilu"): (1,),
    ("", "ReduceSum"): (1,),
    ("", "ReduceMean"): (1,),
    ("", "ReduceMax"): (1,),
    ("", "ReduceMin"): (1,),
    ("", "ReduceProd"): (1,),
    ("", "ReduceL1"): (1,),
    ("", "ReduceL2"): (1,),
    ("", "ReduceLogSum"): (1,),
    ("", "ReduceLogSumExp"): (1,),
    ("", "ReduceSumSquare"): (1,),
    ("", "NonMaxSuppression"): (2, 3, 4),
    ("", "CumSum"): (1,),
    ("", "SplitToSequence"): (1,),
    ("", "STFT"): (1, 2, 3),
    ("", "DFT"): (1, 2),
    ("", "MaxUnpool"): (2,),
    ("", "Col2Im"): (1, 2),
    ("", "BlackmanWindow"): (0,),
    ("", "HannWindow"): (0,),
    ("", "HammingWindow"): (0,),
    ("", "MelWeightMatrix"): (0, 1, 2, 3, 4),
}

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
