"""The reference CPU execution provider: numpy kernels for the ONNX operator set.

Kernels are plain functions grouped by family, one module a family (`elementwise`, `matmul`,
`conv`, `pool`, `normalization`, `reduce`, `softmax`, `tensor`, `sequence`, `string`); each
registers itself into `REGISTRY` with the `@kernel(op_type, since=..., until=...)` decorator,
once per range of operator versions with the same semantics. Values are numpy arrays on the
host, sequences are Python lists of arrays. The provider class is in `provider.py`, the entry-point
module in `plugin.py`, as in every provider package.
"""

from __future__ import annotations

import importlib
import pkgutil

from .provider import CPUExecutionProvider
from .registry import REGISTRY

# Importing a kernel module registers its kernels: import every module of this package.
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("plugin", "provider", "registry") and not _module.name.startswith("__"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["CPUExecutionProvider", "REGISTRY"]
