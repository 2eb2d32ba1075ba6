"""The `ep-runtime` command: run a model, show its partition, list providers, check providers and kernels.

Every subcommand, plugin ones included, reports a failure as `ep-runtime: error: <message>`
on stderr with exit code 1 (130 when interrupted); the global `--debug` flag adds the
traceback. A command line that does not parse is argparse's usage error (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from .batch.command import add_batch_command
from .cli_providers import add_provider_arguments, parse_option_value, provider_list  # noqa: F401
from .errors import EPRuntimeError, InvalidArgument
from .graph import onnx_dtype_to_numpy
from .plugins import call_each
from .profiling import summary
from .provider import KernelProvider
from .registry import find_provider_class, unavailable_reason
from .run_options import RUN_TIMEOUT_KEY, RunOptions
from .session import InferenceSession, NodeArg, SessionOptions, get_all_providers
from .testing.command import add_selftest_command
from .testing.gate import add_check_kernel_command


def random_input(arg: NodeArg, dims: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """A random array for a graph input; symbolic dims take `dims[name]` or 1."""
    shape = [d if isinstance(d, int) else dims.get(str(d), 1) for d in (arg.shape or [])]
    elem = arg.type[len("tensor("):-1] if arg.type.startswith("tensor(") else "float"
    dtype = _TYPE_NAMES.get(elem)
    if dtype is None:
        dtype = onnx_dtype_to_numpy(onnx.TensorProto.DataType.Value(elem.upper()))
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind == "O":
        return np.array(rng.choice(["a", "b", "c"], size=shape), dtype=object)
    return rng.standard_normal(shape).astype(dtype)


_TYPE_NAMES = {"float": np.float32, "double": np.float64, "float16": np.float16, "bool": np.bool_,
               "string": object, "int64": np.int64, "int32": np.int32, "int8": np.int8, "uint8": np.uint8}


def _parse_dims(items: Sequence[str]) -> dict[str, int]:
    dims = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name or not value.lstrip("-").isdigit():
            raise InvalidArgument(f"--dim expects NAME=INT, got {item!r}")
        dims[name] = int(value)
    return dims


def _session(args: argparse.Namespace) -> InferenceSession:
    opts = SessionOptions()
    if getattr(args, "strict", False):
        opts.disable_cpu_ep_fallback = True
    if getattr(args, "no_optimize", False):
        opts.graph_optimization_level = 0
    if getattr(args, "profile", False):
        opts.enable_profiling = True
    return InferenceSession(args.model, opts, providers=provider_list(args))


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    sess = _session(args)
    created = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    dims = _parse_dims(args.dim)
    given = {}
    for item in args.input:
        name, _, path = item.partition("=")
        if not name or not path:
            raise InvalidArgument(f"--input expects NAME=FILE.npy, got {item!r}")
        given[name] = _load_npy(name, path)
    feed = {i.name: given[i.name] if i.name in given else random_input(i, dims, rng) for i in sess.get_inputs()}
    unknown = set(given) - set(feed)
    if unknown:
        raise InvalidArgument(f"--input names unknown input(s) {sorted(unknown)}; inputs are {list(feed)}")
    run_options = None
    if args.timeout_ms is not None:
        run_options = RunOptions()
        run_options.log_severity_level = 3  # the error is reported below; no warning logged as well
        run_options.add_run_config_entry(RUN_TIMEOUT_KEY, str(args.timeout_ms))
    times = []
    outs = None
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        outs = sess.run(None, feed, run_options)
        times.append(time.perf_counter() - t)
    print(f"model: {args.model}")
    print(f"providers: {', '.join(sess.get_providers())}")
    print(f"session creation: {created * 1e3:.1f} ms")
    for i, a in feed.items():
        print(f"input  {i}: shape {list(a.shape)} {a.dtype}")
    for o, v in zip(sess.get_outputs(), outs or []):
        if isinstance(v, np.ndarray):
            print(f"output {o.name}: shape {list(v.shape)} {v.dtype}")
        else:
            print(f"output {o.name}: {type(v).__name__}")
        if args.output_dir and isinstance(v, np.ndarray):
            os.makedirs(args.output_dir, exist_ok=True)
            np.save(os.path.join(args.output_dir, _safe(o.name) + ".npy"), v)
    print(f"run: median {np.median(times) * 1e3:.3f} ms over {len(times)} run(s)")
    if args.profile:
        path = sess.end_profiling()
        with open(path, encoding="utf-8") as fh:
            events = json.load(fh)
        print(f"profile: {path} ({len(times)} run(s))")
        print(summary(events))
    return 0


def _load_npy(name: str, path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InvalidArgument(f"--input {name}: cannot read {path!r} as a .npy array: {exc}") from exc


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "output"


def cmd_partition(args: argparse.Namespace) -> int:
    sess = _session(args)
    part = sess.get_partition()
    fmt = "json" if args.json else args.format
    if fmt == "json":
        text = json.dumps(part.to_dict(), indent=2)
    elif fmt == "html":
        text = part.to_html(title=str(args.model))
    elif fmt == "svg":
        text = part.to_svg()
    elif fmt == "dot":
        text = part.to_dot()
    else:
        text = part.explain()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        print(f"wrote the partition ({fmt}) to {args.output}")
    else:
        print(text)
    return 0


def cmd_providers(args: argparse.Namespace) -> int:
    for name in get_all_providers():
        cls = find_provider_class(name)
        reason = unavailable_reason(cls)
        print(f"{name}: available" if reason is None else f"{name}: not available: {reason}")
        if isinstance(cls, type) and issubclass(cls, KernelProvider):
            for impl, ops in cls.registry.implementations().items():
                print(f"  {impl} kernels: {', '.join(ops)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `ep-runtime` command."""
    p = argparse.ArgumentParser(prog="ep-runtime", description="Run ONNX models on pluggable execution providers.")
    p.add_argument("--debug", action="store_true", help="show the full traceback when a command fails")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, short_option: bool = True) -> None:
        sp.add_argument("model", help="path to an .onnx file")
        add_provider_arguments(sp, short_option=short_option)
        sp.add_argument("--strict", action="store_true", help="fail instead of falling back to CPU")
        sp.add_argument("--no-optimize", action="store_true", help="disable graph optimizations")

    r = sub.add_parser("run", help="run a model on random or given .npy inputs; print output shapes and timing")
    common(r, short_option=False)  # -o is --output-dir here; provider options are -O / --provider-option
    r.add_argument("-i", "--input", action="append", default=[], help="NAME=FILE.npy (repeatable)")
    r.add_argument("--dim", action="append", default=[], help="value of a symbolic dim, NAME=INT")
    r.add_argument("-n", "--repeat", type=int, default=1, help="number of runs to time")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("-o", "--output-dir", help="save outputs as .npy files here")
    r.add_argument("--timeout-ms", type=int, metavar="MS",
                   help=f"stop a run that lasts longer than this (run config entry {RUN_TIMEOUT_KEY})")
    r.add_argument("--profile", action="store_true",
                   help="profile the runs: write the Chrome trace (onnxruntime's format, with providers and copies) "
                        "and print the time per provider and per op")
    r.set_defaults(fn=cmd_run)

    pa = sub.add_parser("partition", help="print which provider runs each node and why")
    common(pa)
    pa.add_argument("--format", choices=("text", "json", "html", "svg", "dot"), default="text",
                    help="text table (default), JSON data, or a picture coloured by provider: a self-contained "
                         "HTML page, an SVG image, or a graphviz DOT graph")
    pa.add_argument("--json", action="store_true", help="the same as --format json")
    pa.add_argument("--output", metavar="FILE", help="write to FILE instead of printing")
    pa.set_defaults(fn=cmd_partition)

    pr = sub.add_parser("providers", help="list installed providers and whether they are available (or why not)")
    pr.set_defaults(fn=cmd_providers)

    add_selftest_command(sub)
    add_check_kernel_command(sub)
    add_batch_command(sub)
    call_each("ep_runtime_add_commands", subparsers=sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ep-runtime` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("ep-runtime: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            raise
        failure: BaseException = exc
        message = str(exc.code)
    except Exception as exc:
        failure, message = exc, error_message(exc, args)
    if args.debug:
        traceback.print_exception(failure)
    print(f"ep-runtime: error: {message}", file=sys.stderr)
    return 1


def error_message(exc: Exception, args: argparse.Namespace) -> str:
    """The message of a failed command: the error's own for ep-runtime errors and user errors
    (missing files, unreadable models), else its type and text with a hint at `--debug`."""
    if isinstance(exc, EPRuntimeError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or exc}: {exc.filename!r}"
    model: Any = getattr(args, "model", None)
    if isinstance(exc, DecodeError) and model is not None:
        return f"model file {model!r} is not a valid ONNX model (corrupt or truncated): {exc}"
    return f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
