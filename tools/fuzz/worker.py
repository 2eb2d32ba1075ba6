"""The fuzz worker: a long-lived, memory-capped subprocess that runs one (model, provider) task per message.

Messages are length-prefixed pickles: the supervisor writes a task dict on the worker's stdin,
the worker answers a result dict on its original stdout (anything a kernel prints goes to stderr,
so it cannot corrupt the channel). Run as `python -m tools.fuzz.worker --memory-gib 4`.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import pickle
import re
import resource
import struct
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ORACLE = "onnxruntime"
#: session providers of each fuzz target (the CPU provider is appended by the session as fallback)
PROVIDER_SPECS: dict[str, list[Any]] = {
    "cpu": ["cpu"],
    "opencl": ["opencl"],
    "embedded_c": ["embedded_c"],
    "embedded_c_fused": [("embedded_c", {"fused": True})],
}
#: outputs larger than this many elements come back without values (compared by shape only)
MAX_OUTPUT_ELEMENTS = 1 << 20
HEADER = struct.Struct("<Q")
#: written to stderr before each task, so a crash log shows which task was running
TASK_LINE = "fuzz task "
KERNEL_FAILED = re.compile(r"\(([\w.]+)\) failed")


def write_message(stream: BinaryIO, message: Any) -> None:
    """Send one pickled message with its length in front."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def read_message(stream: BinaryIO) -> Any:
    """Receive one message; None at end of stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    return pickle.loads(stream.read(HEADER.unpack(head)[0]))


def innermost_frame(exc: BaseException) -> str:
    """`file:line function` of the deepest traceback frame inside ep-runtime's own code (or the deepest at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/ep_runtime/" in f.filename or "/providers/" in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    path = Path(frame.filename)
    try:
        name = str(path.relative_to(ROOT))
    except ValueError:
        name = path.name
    return f"{name}:{frame.lineno} {frame.name}"


def failing_op(exc: BaseException) -> str:
    """The op type a KernelError names (its `op_type`, else the '(Op) failed' of its message), or ''."""
    op = getattr(exc, "op_type", "")
    if op:
        return op
    found = KERNEL_FAILED.search(str(exc))
    return found.group(1) if found else ""


def describe_error(exc: BaseException) -> dict[str, Any]:
    """The fields of a failed task's result: exception type, message, where it came from and its cause."""
    cause = exc.__cause__ or exc.__context__
    return {
        "exc_type": type(exc).__name__,
        "message": str(exc)[:2000],
        "where": innermost_frame(cause if cause is not None and type(exc).__name__ == "KernelError" else exc),
        "cause": type(cause).__name__ if cause is not None else "",
        "op": failing_op(exc),
        "traceback": "".join(traceback.format_exception(exc))[-6000:],
    }


def pack_outputs(outputs: list[Any]) -> list[dict[str, Any]]:
    """Outputs as shape, dtype and (when not too large) values."""
    packed = []
    for out in outputs:
        arr = np.asarray(out)
        packed.append({"shape": arr.shape, "dtype": str(arr.dtype),
                       "values": arr if arr.size <= MAX_OUTPUT_ELEMENTS and arr.dtype != object else None})
    return packed


def run_oracle(model: bytes, feed: dict[str, np.ndarray]) -> dict[str, Any]:
    """Run the model on onnxruntime (the oracle); NOT_IMPLEMENTED is 'unsupported', not a refusal."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # the oracle is a test extra: without it, nothing is judged against it
        return {"status": "unsupported", **describe_error(exc)}

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        outputs = sess.run(None, feed)
    except Exception as exc:  # noqa: BLE001 - every oracle failure is data
        status = "unsupported" if "NOT_IMPLEMENTED" in str(exc) or "NotImplemented" in type(exc).__name__ else "refused"
        return {"status": status, **describe_error(exc)}
    return {"status": "ok", "outputs": pack_outputs(outputs)}


def run_ep_runtime(provider: str, model: bytes, feed: dict[str, np.ndarray]) -> dict[str, Any]:
    """Run the model on one ep-runtime provider: ok, refused (an EPRuntimeError with a message) or unclear."""
    from ep_runtime import EPRuntimeError, InferenceSession

    try:
        sess = InferenceSession(model, providers=PROVIDER_SPECS[provider])
        outputs = sess.run(None, feed)
    except Exception as exc:  # noqa: BLE001 - every failure is data: clean refusal or unclear error
        clean = isinstance(exc, EPRuntimeError) and str(exc).strip() != ""
        return {"status": "refused" if clean else "unclear", **describe_error(exc)}
    return {"status": "ok", "outputs": pack_outputs(outputs), "placed": sess.get_providers()}


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task {provider, model, feed}; the result says how it went and how long it took."""
    start = time.perf_counter()
    if task["provider"] == ORACLE:
        result = run_oracle(task["model"], task["feed"])
    else:
        result = run_ep_runtime(task["provider"], task["model"], task["feed"])
    result["seconds"] = round(time.perf_counter() - start, 4)
    return result


def limit_memory(gib: float) -> None:
    """Cap the address space, so a huge allocation becomes a MemoryError instead of the OOM killer."""
    if gib > 0:
        limit = int(gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def quiet() -> None:
    """Silence warnings and floating-point notices: the fuzzer looks at results, not chatter."""
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")


def serve(memory_gib: float) -> None:
    """Answer tasks until stdin closes."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    faulthandler.enable(file=sys.stderr, all_threads=False)
    quiet()
    import ep_runtime  # noqa: F401 - load plugins and providers before the cap and before the first task

    limit_memory(memory_gib)
    while True:
        task = read_message(sys.stdin.buffer)
        if task is None:
            return
        sys.stderr.write(f"{TASK_LINE}{task.get('label', '?')}\n")
        sys.stderr.flush()
        write_message(channel, run_task(task))


def main(argv: list[str] | None = None) -> None:
    """Serve tasks (the worker's command line)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-gib", type=float, default=4.0, help="address-space cap (0: none)")
    serve(parser.parse_args(argv).memory_gib)


if __name__ == "__main__":
    main()
