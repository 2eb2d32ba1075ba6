"""The OpenCL provider's kernel registry; every kernel module registers into it with `@kernel`."""

from __future__ import annotations

import numpy as np

from ep_runtime.provider import KernelRegistry

#: All kernels of the OpenCL provider, keyed by (domain, op_type) and operator version range.
REGISTRY = KernelRegistry()

#: Decorator: `@kernel("Relu", since=6, dtypes=FLOATS, factory=True)` (see KernelRegistry.kernel).
kernel = REGISTRY.kernel

#: The float dtypes OpenCL kernels are written for (float16 only where the device has cl_khr_fp16).
FLOATS = (np.float32, np.float16)
