"""The CUDA provider's kernel registry; every kernel module registers into it with `@kernel`."""

from __future__ import annotations

import numpy as np

from ep_runtime.provider import KernelRegistry

#: All kernels of the CUDA provider, keyed by (domain, op_type) and operator version range.
REGISTRY = KernelRegistry()

#: Decorator: `@kernel("Relu", since=6)` (see KernelRegistry.kernel).
kernel = REGISTRY.kernel

#: The float dtypes the float-only kernels take.
FLOATS = (np.float32, np.float16, np.float64)
