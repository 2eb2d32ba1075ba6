"""Reductions on CUDA: the CPU provider's array-module kernels of the Reduce* family (axes as an
attribute in early versions, as host input 1 later) and ArgMax/ArgMin (providers/cpu/reduce.py),
registered over CuPy, whose own reductions (CUB on the GPU) do the work."""

from __future__ import annotations

from providers.cpu import reduce as cpu

from .registry import share

for _op, _kernels in cpu.REDUCE_KERNELS.items():
    for _fn in _kernels:
        share(_op, _fn)
share("ArgMax", cpu.ArgMax)
share("ArgMin", cpu.ArgMin)
