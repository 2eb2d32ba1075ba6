"""The local engine: shards stream through a bounded pool of workers, each with its own session.

Processes by default. A plan runs its nodes as Python calls, which hold the GIL; only the numpy work
inside big kernels (BLAS, large elementwise ops) releases it, so on the light models batch jobs are
made of, threads in one process barely scale, while processes do (each spawned worker builds its own
session; the BLAS pools of each are capped once at cores / workers threads). File-backed sources
(.npy, Parquet, folders) travel to each worker as paths and the workers read their own shards, in
parallel; in-memory ones (arrays, tables) are read here and the shard's rows sent. At most two
shards per worker are in flight, so memory stays bounded whatever the input's size. A worker
process that dies (killed, out of memory) breaks the pool: the pool is rebuilt and the shards that
were in flight run again, up to `max_attempts` times each; their results were not written, so no
row is lost or written twice. `pool="thread"` runs the workers as threads of this process instead
(no start-up cost and no copies: for models whose time is in BLAS, or one device shared by all).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import EPRuntimeError, InvalidArgument
from .blocks import RowBlock, ShardResult
from .runner import RunnerSpec, ShardRunner
from .shards import Shard
from .sources import Source

POOLS = ("process", "thread")


class WorkerDied(EPRuntimeError):
    """A worker process died again and again on the same shard (its rows stay pending for a rerun)."""


def run_local(pending: list[Shard], source: Source, spec: RunnerSpec, on_result: Callable[[ShardResult], None], *,
              workers: int, pool: str = "process", max_attempts: int = 3) -> int:
    """Run `pending` shards on `workers` workers, handing each result to `on_result` (in this thread,
    in completion order). Returns how many times a broken process pool was rebuilt."""
    if pool not in POOLS:
        raise InvalidArgument(f"pool must be one of {POOLS}, got {pool!r}")
    if workers < 1:
        raise InvalidArgument(f"workers must be at least 1, got {workers}")
    blas_threads = max(1, (os.cpu_count() or 1) // workers)
    # Workers read their own shards when that is cheap to arrange (threads share the source; a
    # file-backed source travels to a process as its paths), so decoding runs in parallel too.
    remote_read = pool == "thread" or source.read_in_worker
    queue: deque[tuple[Shard, Payload]] = deque((s, None) for s in pending)
    attempts: dict[int, int] = {}
    in_flight: dict[Future, tuple[Shard, Payload]] = {}
    restarts = 0
    completed = 0
    task = _run_shard if pool == "process" else _ThreadWorkers(spec, source).run
    worker_source = source if remote_read else None
    executor = _executor(pool, workers, spec, worker_source, blas_threads)
    try:
        while queue or in_flight:
            broken = False
            while queue and len(in_flight) < 2 * workers:
                shard, block = queue.popleft()
                if block is None and not remote_read:
                    block = source.read(shard.start, shard.stop)
                try:
                    in_flight[executor.submit(task, shard, block)] = (shard, block)
                except BrokenProcessPool:  # a worker died since the last wait
                    queue.appendleft((shard, block))
                    broken = True
                    break
            done = wait(in_flight, return_when=FIRST_COMPLETED)[0] if not broken else set()
            for future in done:
                shard, block = in_flight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken = True
                    _retry(queue, attempts, shard, block, max_attempts, started=completed > 0)
                    continue
                completed += 1
                on_result(result)
            if broken:
                wait(in_flight)  # every future of a broken pool ends, most with BrokenProcessPool
                for future, (shard, block) in in_flight.items():
                    if future.exception() is None:
                        completed += 1
                        on_result(future.result())
                    elif isinstance(future.exception(), BrokenProcessPool):
                        _retry(queue, attempts, shard, block, max_attempts, started=completed > 0)
                    else:
                        raise future.exception()
                in_flight.clear()
                executor.shutdown(wait=True, cancel_futures=True)
                executor = _executor(pool, workers, spec, worker_source, blas_threads)
                restarts += 1
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return restarts


#: what a queued or running shard carries: its rows, or nothing when the worker reads them itself
Payload = RowBlock | None


def _retry(queue: deque, attempts: dict[int, int], shard: Shard, block: Payload, max_attempts: int,
           started: bool) -> None:
    attempts[shard.index] = attempts.get(shard.index, 0) + 1
    if attempts[shard.index] >= max_attempts:
        hint = "" if started else (
            " (no shard completed: if the workers cannot start, note that they are spawned, so a script that "
            "calls predict must guard its top-level code with `if __name__ == '__main__':`; pool='thread' needs none)")
        raise WorkerDied(f"a worker process died while running shard {shard.index} "
                         f"(rows {shard.start}..{shard.stop - 1}) {attempts[shard.index]} time(s); completed shards "
                         "are saved, a rerun resumes with the rest" + hint)
    queue.appendleft((shard, block))


def _executor(pool: str, workers: int, spec: RunnerSpec, source: Source | None, blas_threads: int) -> Executor:
    if pool == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ep-runtime-batch")
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(spec, source, blas_threads))


class _ThreadWorkers:
    """The task of a thread pool: one ShardRunner per worker thread, built on its first shard."""

    def __init__(self, spec: RunnerSpec, source: Source) -> None:
        self.spec = spec
        self.source = source
        self.local = threading.local()

    def run(self, shard: Shard, block: RowBlock | None) -> ShardResult:
        runner = getattr(self.local, "runner", None)
        if runner is None:
            runner = self.local.runner = ShardRunner(self.spec)
        return runner.run(shard.index, block if block is not None else self.source.read(shard.start, shard.stop))


_spec: RunnerSpec | None = None
_blas_limit: object = None
_source: Source | None = None
_runner: ShardRunner | None = None


def _init_worker(spec: RunnerSpec, source: Source | None, blas_threads: int) -> None:
    # Remembers its arguments (a session that fails to build must fail a task, with its own error) and
    # caps this process's BLAS pools once: a per-run limit (intra_op_num_threads) costs each run time.
    global _spec, _source, _blas_limit
    _spec, _source = spec, source
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _blas_limit = threadpool_limits(limits=blas_threads, user_api="blas")


def _run_shard(shard: Shard, block: RowBlock | None) -> ShardResult:
    """The task of a worker process: its one ShardRunner, built on its first shard; reads the shard
    itself when it was not sent."""
    global _runner
    if _runner is None:
        assert _spec is not None, "worker process used before _init_worker"
        _runner = ShardRunner(_spec)
    if block is None:
        assert _source is not None, "a shard without rows sent to a worker that holds no source"
        block = _source.read(shard.start, shard.stop)
    return _runner.run(shard.index, block)
