"""Matrix products on CUDA: the CPU provider's MatMul and Gemm (providers/cpu/matmul.py), written against
`xp`, registered over CuPy: `xp.matmul` is cuBLAS, batched for leading dims."""

from __future__ import annotations

from providers.cpu import matmul as cpu

from .registry import share

share("MatMul", cpu.MatMul)
share("Gemm", cpu.Gemm)
