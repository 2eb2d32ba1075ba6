"""pyopencl, imported if installed: `cl` and `cla` are None when it is missing (never an ImportError)."""

from __future__ import annotations

try:  # pragma: no cover - depends on the environment
    import pyopencl as cl
    import pyopencl.array as cla
    import pyopencl.cltypes as cltypes
    import pyopencl.tools as cltools

    IMPORT_ERROR: str | None = None
except Exception as exc:  # ImportError, or a broken ICD loader raising at import
    cl = cla = cltypes = cltools = None  # type: ignore[assignment]
    IMPORT_ERROR = f"pyopencl is not installed or failed to import ({type(exc).__name__}: {exc}); " \
                   "install the `opencl` extra: pip install 'ep-runtime[opencl]'"

__all__ = ["IMPORT_ERROR", "cl", "cla", "cltools", "cltypes"]
