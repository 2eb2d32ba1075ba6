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

Small products run BLAS on one thread whatever the setting (`small_gemm`, which the matrix kernels
enter around a product of fewer than SMALL_GEMM_MACS multiply-adds): waking OpenBLAS's workers costs
more than they save there, and when the cores are busy a two-thread OpenBLAS call can wait a whole
scheduler time slice for its second thread (measured: 16-32 ms for a 0.03-1 ms product).
"""

from __future__ import annotations

import contextlib
import ctypes
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
                _SMALL.suspend()  # so that the pool's own count is saved, not small_gemm's 1
                _blas_restore = _limit_blas(self._controller, self._threads, save=True)
                _SMALL.pool_changed()
            elif self._threads > max(_blas_limits[:-1]):
                _limit_blas(self._controller, self._threads)
                _SMALL.pool_changed()

    def __exit__(self, *exc: object) -> None:
        global _blas_restore
        with _blas_lock:
            held = max(_blas_limits)
            _blas_limits.remove(self._threads)
            if not _blas_limits:
                restore, _blas_restore = _blas_restore, None
                restore.restore_original_limits()
                _SMALL.pool_changed()
            elif max(_blas_limits) < held:
                _limit_blas(self._controller, max(_blas_limits))
                _SMALL.pool_changed()


class _OpenBlasRestore:
    """What restores numpy's OpenBLAS to the thread count it had (threadpoolctl's limiter's method)."""

    __slots__ = ("_set", "_threads")

    def __init__(self, set_threads: Any, threads: int) -> None:
        self._set = set_threads
        self._threads = threads

    def restore_original_limits(self) -> None:
        self._set(self._threads)


def _limit_blas(controller: Any, threads: int, save: bool = False) -> Any:
    """Set the BLAS pools to `threads`; with `save`, return what restores their settings from before.
    When numpy's OpenBLAS is the only BLAS loaded, its own functions do it (well under a microsecond;
    threadpoolctl's limit() takes about 10, once per run); else threadpoolctl."""
    sole = _SMALL.sole_openblas()
    if sole is None:
        limiter = controller.limit(limits=threads, user_api="blas")
        return limiter if save else None
    set_threads, get_threads = sole
    before = get_threads() if save else None
    if before != threads:
        set_threads(threads)
    return _OpenBlasRestore(set_threads, before) if save else None


#: products of fewer multiply-adds than this run BLAS on one thread (small_gemm): below it a second
#: OpenBLAS thread saves tens of microseconds at best on an idle machine (128^3 is slower on two), and
#: costs milliseconds on a busy one
SMALL_GEMM_MACS = 1 << 21
#: OpenBLAS runs products below about this on one thread by itself (its GEMM_MULTITHREAD_THRESHOLD
#: rule: m n k <= 4 * 65536), so small_gemm leaves them alone rather than pay for two calls
BLAS_SINGLE_THREADED_MACS = 1 << 18


def _openblas_thread_functions() -> tuple[Any, Any] | None:
    """(set_num_threads, get_num_threads) of the OpenBLAS numpy uses, as plain ctypes functions (a
    call costs well under a microsecond, threadpoolctl's limit() tens), or None without one."""
    controller = _blas_controller()
    if controller is None:
        return None
    for lib in controller.lib_controllers:
        if lib.internal_api != "openblas":
            continue
        for prefix, suffix in (("openblas_", ""), ("scipy_openblas_", "64_"), ("openblas_", "64_")):
            setter = getattr(lib.dynlib, f"{prefix}set_num_threads{suffix}", None)
            getter = getattr(lib.dynlib, f"{prefix}get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                setter.restype = None
                return setter, getter
    return None


class _SmallGemms:
    """The process-wide state of small_gemm: while any small product runs, OpenBLAS is held at one
    thread, and the count it had is restored when the last of them ends. Shares _blas_lock with the
    runs' holds (a hold that resizes the pool meanwhile becomes the count to restore)."""

    def __init__(self) -> None:
        self.depth = 0
        self.restore = 1
        self.functions: tuple[Any, Any] | None | bool = False  # False: not looked up yet
        self.sole: tuple[Any, Any] | None | bool = False

    def sole_openblas(self) -> tuple[Any, Any] | None:
        """numpy's OpenBLAS functions when it is the only BLAS threadpoolctl sees, else None."""
        if self.sole is False:
            controller = _blas_controller()
            blas = [] if controller is None else [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
            self.sole = self._lookup() if len(blas) == 1 and blas[0].internal_api == "openblas" else None
        return self.sole  # type: ignore[return-value]

    def _lookup(self) -> tuple[Any, Any] | None:
        if self.functions is False:
            self.functions = _openblas_thread_functions()
        return self.functions  # type: ignore[return-value]

    def enter(self) -> None:
        with _blas_lock:
            functions = self._lookup()
            if functions is not None and self.depth == 0:
                self.restore = functions[1]()
                if self.restore > 1:
                    functions[0](1)
            self.depth += 1

    def exit(self) -> None:
        with _blas_lock:
            self.depth -= 1
            functions = self.functions
            if self.depth == 0 and functions and self.restore > 1:
                functions[0](self.restore)

    def suspend(self) -> None:
        """Called under _blas_lock before a run's first hold saves the pool's count: the count
        small_gemm replaced is put back (pool_changed then holds one thread again)."""
        if self.depth > 0 and self.functions and self.restore > 1:
            self.functions[0](self.restore)

    def pool_changed(self) -> None:
        """Called under _blas_lock after a run's hold resized the pool."""
        if self.depth > 0 and self.functions:
            self.restore = self.functions[1]()
            if self.restore > 1:
                self.functions[0](1)


_SMALL = _SmallGemms()


class _SmallGemm:
    __slots__ = ()

    def __enter__(self) -> None:
        _SMALL.enter()

    def __exit__(self, *exc: object) -> None:
        _SMALL.exit()


_SMALL_GEMM = _SmallGemm()
_NO_LIMIT = contextlib.nullcontext()


def small_gemm(macs: int) -> contextlib.AbstractContextManager[Any]:
    """A context for one matrix product of `macs` multiply-adds: from BLAS_SINGLE_THREADED_MACS up to
    SMALL_GEMM_MACS it holds OpenBLAS at one thread while it lasts (the product without waking the pool;
    its rounding may differ in the last bits, as between any two thread counts), else it does nothing.
    Without OpenBLAS (or threadpoolctl) it never does anything."""
    return _SMALL_GEMM if BLAS_SINGLE_THREADED_MACS <= macs < SMALL_GEMM_MACS else _NO_LIMIT


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


def set_intra_op_threads(threads: int) -> Token[int]:
    """Make intra_op_threads() answer `threads` (>= 0; 0: the default) in this context until
    reset_intra_op_threads(token): intra_op_thread_limit without its BLAS hold, for a run that needs none."""
    return _INTRA_OP_THREADS.set(threads)


def reset_intra_op_threads(token: Token[int]) -> None:
    """Undo the set_intra_op_threads call that returned `token`."""
    _INTRA_OP_THREADS.reset(token)


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


__all__ = ["BLAS_SINGLE_THREADED_MACS", "SMALL_GEMM_MACS", "blas_thread_limit", "default_intra_op_threads",
           "intra_op_thread_limit", "intra_op_threads", "reset_intra_op_threads", "set_intra_op_threads",
           "small_gemm"]
