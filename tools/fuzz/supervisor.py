"""Keeps fuzz workers alive: sends tasks over a pipe with a per-task timeout, restarts a worker that
died (crash: the signal that killed it) or stopped answering (hang), and recycles workers regularly."""

from __future__ import annotations

import os
import pickle
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .worker import HEADER, ROOT, TASK_LINE, write_message

#: environment of every worker: one thread per library, since the machine's cores are shared
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "POCL_CPU_MAX_CU_NUM": "1", "EP_RUNTIME_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONFAULTHANDLER": "1"}
FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')
ASSERTION = re.compile(r"([\w.+-]+:\d+): .*Assertion [`']?(.*?)'? failed")


class WorkerGone(Exception):
    """The worker died or stopped answering while running a task."""


def signal_name(returncode: int | None) -> str:
    """'SIGSEGV' for a worker killed by a signal, 'exit N' otherwise."""
    if returncode is not None and returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


def task_output(log_tail: str) -> str:
    """What the worker wrote to stderr during its last task (after the last 'fuzz task' line)."""
    marker = log_tail.rfind(TASK_LINE)
    if marker < 0:
        return log_tail
    end = log_tail.find("\n", marker)
    return log_tail[end + 1:] if end >= 0 else ""


def crash_where(output: str) -> str:
    """Where a crash happened: a failed C/C++ assertion, else the innermost ep-runtime frame of the
    faulthandler dump, else a note that the dump had no Python frame (a native thread), else '?'."""
    failed = ASSERTION.search(output)
    if failed:
        return f"assertion {failed.group(1)}: {failed.group(2)}"
    frame = crash_frame(output)
    if frame == "?" and "Fatal Python error" in output and 'File "' not in output:
        return "no Python frame (a native thread)"
    return frame


def crash_frame(log_tail: str) -> str:
    """The innermost ep-runtime frame of the last faulthandler dump in a worker's stderr ('?' if none)."""
    dump = log_tail.rsplit("Fatal Python error", 1)[-1]
    for path, line, func in FRAME.findall(dump):
        if "/ep_runtime/" in path or "/providers/" in path:
            try:
                path = str(Path(path).relative_to(ROOT))
            except ValueError:
                pass
            return f"{path}:{line} {func}"
    return "?"


class Worker:
    """One worker subprocess (`command` defaults to tools.fuzz.worker) and its stderr log."""

    def __init__(self, memory_gib: float = 4.0, env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, "-m", "tools.fuzz.worker", "--memory-gib", str(memory_gib)]
        self.env = {**os.environ, **WORKER_ENV, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), self.env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     cwd=ROOT, env=self.env, start_new_session=True)
        self.tasks_done = 0

    def run(self, task: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one task and wait up to `timeout` seconds for its result; WorkerGone if it died or hung."""
        try:
            write_message(self.proc.stdin, task)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone("crash") from exc
        deadline = time.monotonic() + timeout
        head = self._read(HEADER.size, deadline)
        body = self._read(HEADER.unpack(head)[0], deadline)
        self.tasks_done += 1
        return pickle.loads(body)

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WorkerGone("hang")
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise WorkerGone("crash")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def log_tail(self, size: int = 4000) -> str:
        """The end of the worker's stderr (faulthandler dumps land there)."""
        self.log.seek(0, os.SEEK_END)
        end = self.log.tell()
        self.log.seek(max(0, end - size))
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """End the worker and everything it started (its process group)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()


class Lane:
    """A worker slot: runs tasks, turns worker death into crash/hang results and starts a fresh worker.

    A crash is re-run once in a fresh worker to confirm it is the task's own (not damage left by an
    earlier task); `confirmed` says whether it crashed again.
    """

    def __init__(self, timeout: float = 20.0, memory_gib: float = 4.0, recycle: int = 200,
                 env: dict[str, str] | None = None, command: list[str] | None = None) -> None:
        self.timeout, self.recycle = timeout, recycle
        self.options = {"memory_gib": memory_gib, "env": env, "command": command}
        self.worker: Worker | None = None
        self.restarts = 0

    def _fresh(self) -> Worker:
        if self.worker is not None:
            self.worker.stop()
            self.restarts += 1
        self.worker = Worker(**self.options)
        return self.worker

    def run(self, task: dict[str, Any], confirm: bool = True) -> dict[str, Any]:
        """The task's result, or {'status': 'crash'|'hang', ...} when the worker did not answer."""
        if self.worker is None or self.worker.proc.poll() is not None or self.worker.tasks_done >= self.recycle:
            self._fresh()
        start = time.perf_counter()
        try:
            return self.worker.run(task, self.timeout)
        except WorkerGone as gone:
            result = self._gone(str(gone), time.perf_counter() - start)
        self._fresh()
        if result["status"] == "crash" and confirm:
            again = self.run(task, confirm=False)
            result["confirmed"] = again["status"] == "crash"
        return result

    def _gone(self, how: str, seconds: float) -> dict[str, Any]:
        worker = self.worker
        if how == "hang":
            return {"status": "hang", "exc_type": "timeout", "where": "?", "seconds": round(seconds, 3),
                    "message": f"no answer within {self.timeout:g} s"}
        try:
            worker.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        output = task_output(worker.log_tail())
        return {"status": "crash", "exc_type": signal_name(worker.proc.returncode), "where": crash_where(output),
                "message": output[-3000:], "seconds": round(seconds, 3)}

    def close(self) -> None:
        """Stop the worker."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
