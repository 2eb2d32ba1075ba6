"""Per-session BLAS thread limit (SessionOptions.intra_op_num_threads) through threadpoolctl.

numpy's kernels run on the calling thread except for BLAS (matmul, Gemm, Conv lowered to
matmul), whose pool threadpoolctl can resize. With intra_op_num_threads = N > 0 a session's runs
hold the BLAS pools at N threads (restored afterwards); 0 leaves them alone. The limit is
process-wide while a run lasts, so concurrent runs of sessions with different limits share it.
Without threadpoolctl installed the setting has no effect.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

_controller: Any = None
_controller_lock = threading.Lock()


def _blas_controller() -> Any:
    global _controller
    with _controller_lock:
        if _controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                _controller = False
            else:
                _controller = ThreadpoolController()
    return _controller or None


def blas_thread_limit(threads: int) -> contextlib.AbstractContextManager[Any]:
    """A context holding the BLAS pools at `threads` (> 0); a no-op for 0 or without threadpoolctl."""
    if threads <= 0:
        return contextlib.nullcontext()
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=int(threads), user_api="blas")


__all__ = ["blas_thread_limit"]
