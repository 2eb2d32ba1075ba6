"""Shape and data-movement ops on CUDA: Reshape, Flatten, Transpose, Concat, Split, Slice, Squeeze,
Unsqueeze, Expand, Tile, Pad, ConstantOfShape: the CPU provider's array-module kernels
(providers/cpu/tensor.py) registered over CuPy. Shape-like inputs (Reshape's shape, Slice's
starts...) arrive as host numpy arrays (ep_runtime.host_inputs); data stays on the device. Views
(Reshape, Transpose, Slice) are returned as CuPy views: values are never mutated. ConstantOfShape
makes its output in the provider's array module."""

from __future__ import annotations

from providers.cpu import tensor as cpu

from .registry import share

for _op, _kernels in {
    "Reshape": (cpu.Reshape_5, cpu.Reshape), "Flatten": (cpu.Flatten,), "Transpose": (cpu.Transpose,),
    "Concat": (cpu.Concat,), "Split": (cpu.Split_2, cpu.Split_13, cpu.Split), "Slice": (cpu.Slice_1, cpu.Slice),
    "Squeeze": (cpu.Squeeze_1, cpu.Squeeze), "Unsqueeze": (cpu.Unsqueeze_1, cpu.Unsqueeze),
    "Expand": (cpu.Expand,), "Tile": (cpu.Tile,), "Pad": (cpu.Pad_2, cpu.Pad_11, cpu.Pad),
    "ConstantOfShape": (cpu.ConstantOfShape,),
}.items():
    for _fn in _kernels:
        share(_op, _fn)
