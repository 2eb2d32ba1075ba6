"""The CUDA execution provider: values are `cupy.ndarray`s on one GPU; kernels are plain functions
written against the array module `xp` (CuPy, or numpy standing in for it in tests), one module a
family (`elementwise`, `matmul`, `conv`, `pool`, `normalization`, `reduce`, `tensor`,
`scatter_gather`, `resize`), with raw CUDA C (the `.cu` files beside them, launched by `raw.py`)
where CuPy has no primitive. The families the CPU provider shares (elementwise, reduce, tensor,
scatter_gather, resize, matmul, normalization with softmax, pool, ConvTranspose) register the CPU's own
xp kernels (`registry.share`), the raw launchers offered to them as device primitives. Importing this package
never fails when CuPy is missing.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing a kernel module registers its kernels)
    conv,
    elementwise,
    matmul,
    normalization,
    pool,
    reduce,
    resize,
    scatter_gather,
    tensor,
)
from .provider import ARRAY_MODULE_ENV, CUDAExecutionProvider
from .registry import REGISTRY

__all__ = ["ARRAY_MODULE_ENV", "CUDAExecutionProvider", "REGISTRY"]
