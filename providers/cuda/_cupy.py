"""CuPy, if it can be imported: `cp` (or None) and `IMPORT_ERROR` (None, or why not).

Every other module of the provider imports CuPy through here, so that the package imports (and
the provider is listed, unavailable, with its reason) on machines without CuPy.
"""

from __future__ import annotations

from types import ModuleType

cp: ModuleType | None
IMPORT_ERROR: str | None
try:
    import cupy as cp

    IMPORT_ERROR = None
except Exception as exc:  # ImportError, or a CuPy built for another CUDA failing to load
    cp = None
    IMPORT_ERROR = f"CuPy is missing (import cupy failed: {type(exc).__name__}: {exc}); pip install 'ep-runtime[cuda]'"
