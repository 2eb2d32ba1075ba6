"""The OpenCL execution provider: OpenCL C kernels (the `.cl` files beside the Python that launches
them) run through pyopencl, values kept on the device as `pyopencl.array.Array`.

Kernels are plain functions grouped by family, one module a family (`elementwise`, `matmul`,
`conv`, `pool`, `normalization`, `reduce`, `tensor`), registered into `REGISTRY`. Importing this
package never fails when pyopencl is missing: the provider then reports itself unavailable.
"""

from __future__ import annotations

from . import conv, elementwise, matmul, normalization, pool, reduce, tensor  # noqa: F401  (register kernels)
from .provider import OpenCLExecutionProvider
from .registry import REGISTRY

__all__ = ["OpenCLExecutionProvider", "REGISTRY"]
