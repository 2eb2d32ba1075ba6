"""A "vendor" LeakyRelu that replaces the CPU provider's, through the `ep_runtime_kernels` hook.

It is registered with `impl="example-vendor"`, so the partition notes of every node it runs
say `CPUExecutionProvider: kernel example-vendor`. It must give the reference kernel's
results; a real vendor kernel would be faster, this one counts its calls instead.
"""

from __future__ import annotations

import numpy as np

from ep_runtime import KernelRegistry

#: Kernels this package adds to (or replaces in) the CPU provider.
VENDOR_KERNELS = KernelRegistry()

#: Number of times the vendor LeakyRelu ran in this process (for demos and tests).
calls = 0


# since=6 replaces the CPU provider's kernel registered at since=6 (LeakyRelu-6 and -16 have
# the same semantics); LeakyRelu-1, with its legacy `consumed_inputs` attribute, is left alone.
# No `dtypes=`: it takes every dtype. (With `dtypes=` or `supports=`, the nodes it refused would run
# on the kernel it replaced, which a non-default `impl` keeps as its fallback.)
@VENDOR_KERNELS.kernel("LeakyRelu", since=6, impl="example-vendor")
def leaky_relu(x: np.ndarray, *, alpha: float = 0.01) -> np.ndarray:
    """LeakyRelu-6/16: x where x >= 0, alpha * x elsewhere."""
    global calls
    calls += 1
    return np.where(x >= 0, x, x * x.dtype.type(alpha)).astype(x.dtype, copy=False)
