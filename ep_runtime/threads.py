"""The threads a session's runs may use: SessionOptions.intra_op_num_threads.

Two consumers. The CPU provider's native kernels (providers/cpu/native) split large operations over
their own pool of at most `intra_op_threads()` threads: the run's intra_op_num_threads, or for 0 (the
default) the number of physical cores this process may run on (`default_intra_op_threads`). The
count is a context variable set for the duration of a run (`intra_op_thread_limit`), so sessions
with different counts running at once on different Python threads each see their own.

BLAS (matmul, Gemm, Conv lowered to matmul), whose pool threadpoolctl can resize: with
intra_op_num_threads = N > 0 a session's runs hold the BLAS pools at N threads (restored when the
last run in progress ends); 0 leaves them alone. That limit is process-wide, so while runs of
sessions with different limits overlap, BLAS gets the largest. Without threadpoolctl installed it has
no effect.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from contextvars import ContextVar, Token
from typing import Any

#: the running session's intra_op_num_threads (0: the default)
_INTRA_OP_THREADS: ContextVar[int] = ContextVar("ep_runtime_intra_op_threads", default=0)

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


_blas_lock = threading.Lock()
#: the limits of the runs holding the BLAS pools now, and what restores the pools' own settings
_blas_limits: list[int] = []
_blas_restore: Any = None


class _BlasHold:
    """One run's hold on the BLAS pools. Runs overlap in any order, so the pools' own settings are
    saved when the first hold starts and restored when the last one ends; meanwhile they are held at
    the largest limit among the runs in progress."""

    __slots__ = ("_controller", "_threads")

    def __init__(self, controller: Any, threads: int) -> None:
        self._controller = controller
        self._threads = threads

    def __enter__(self) -> None:
        global _blas_restore
        with _blas_lock:
            _blas_limits.append(self._threads)
            if len(_blas_limits) == 1:
                _blas_restore = self._controller.limit(limits=self._threads, user_api="blas")
            elif self._threads > max(_blas_limits[:-1]):
                self._controller.limit(limits=self._threads, user_api="blas")

    def __exit__(self, *exc: object) -> None:
        global _blas_restore
        with _blas_lock:
            held = max(_blas_limits)
            _blas_limits.remove(self._threads)
            if not _blas_limits:
                restore, _blas_restore = _blas_restore, None
                restore.restore_original_limits()
            elif max(_blas_limits) < held:
                self._controller.limit(limits=max(_blas_limits), user_api="blas")


def blas_thread_limit(threads: int) -> contextlib.AbstractContextManager[Any]:
    """A context holding the BLAS pools at `threads` (> 0) while it lasts (the largest limit while
    several overlap); a no-op for 0 or without threadpoolctl."""
    if threads <= 0:
        return contextlib.nullcontext()
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return _BlasHold(controller, int(threads))


@functools.lru_cache(maxsize=1)
def default_intra_op_threads() -> int:
    """The default intra-op thread count: the physical cores among the CPUs this process may run on
    (os.sched_getaffinity; SMT siblings counted once, from /sys/devices/system/cpu/*/topology where
    Linux provides it), else os.cpu_count(). Computed once per process."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topology = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            with open(f"{topology}/physical_package_id") as package, open(f"{topology}/core_id") as core:
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def intra_op_threads() -> int:
    """The threads an operator may use now: the running session's intra_op_num_threads when it is
    positive, else default_intra_op_threads()."""
    threads = _INTRA_OP_THREADS.get()
    return threads if threads > 0 else default_intra_op_threads()


class intra_op_thread_limit:  # noqa: N801 (used as a context manager, like contextlib's)
    """A run's thread settings: intra_op_threads() answers `threads` inside it (0: the default) and,
    for threads > 0, the BLAS pools are held at `threads` (blas_thread_limit)."""

    __slots__ = ("_threads", "_token", "_blas")

    def __init__(self, threads: int) -> None:
        self._threads = max(0, int(threads))
        self._token: Token[int] | None = None
        self._blas: contextlib.AbstractContextManager[Any] | None = None

    def __enter__(self) -> None:
        if self._threads > 0:
            self._blas = blas_thread_limit(self._threads)
            self._blas.__enter__()
        self._token = _INTRA_OP_THREADS.set(self._threads)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _INTRA_OP_THREADS.reset(self._token)
            self._token = None
        if self._blas is not None:
            blas, self._blas = self._blas, None
            blas.__exit__(*exc)


__all__ = ["blas_thread_limit", "default_intra_op_threads", "intra_op_thread_limit", "intra_op_threads"]
