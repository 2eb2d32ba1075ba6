"""Compare ep-runtime with onnxruntime on the light models shipped in the onnx wheel.

For every model both runtimes run in this one process on the same random input: each is
warmed up, then the timed runs alternate between them (ep, ort, ort, ep, ...) so that machine
noise -- other processes, frequency changes, a garbage collection -- hits both alike. The
table shows the median run time of each, the ratio ep-runtime / onnxruntime (above 1 means
ep-runtime is slower), the session-creation time of each and the largest absolute difference
between their outputs, so that a fast but wrong run is visible. The last line is the geometric
mean of the ratios over the models ep-runtime could run.

Usage:

    python bench/bench_models.py                         # all nine models, providers=["cpu"]
    python bench/bench_models.py --models resnet50 squeezenet --repeat 30
    python bench/bench_models.py --provider opencl --provider cpu --json out.json
    python bench/bench_models.py --models resnet50 --profile   # time per op type, both runtimes

Nothing here asserts a timing; it only measures and prints.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import math
import os
import platform
import re
import statistics
import sys
import time
import traceback
from collections import defaultdict
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

import ep_runtime as ep

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
MODEL_NAMES = ("alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
               "squeezenet", "vgg19", "zfnet512")


def light_models() -> dict[str, str]:
    """Short model name (`alexnet`, `resnet50`, ...) -> path of the light model in the onnx wheel."""
    found = {}
    for path in sorted(glob.glob(os.path.join(LIGHT_DIR, "light_*.onnx"))):
        stem = os.path.basename(path)[len("light_"):-len(".onnx")]
        found[stem.removeprefix("bvlc_")] = path
    return found


def pick_models(requested: list[str] | None) -> dict[str, str]:
    """The models to run: all, or those named (short name, file stem, or a path to any .onnx file)."""
    available = light_models()
    if not requested:
        return available
    chosen = {}
    for name in requested:
        if os.path.isfile(name):
            chosen[os.path.basename(name).removesuffix(".onnx")] = name
            continue
        key = name.removeprefix("light_").removeprefix("bvlc_").removesuffix(".onnx")
        if key not in available:
            raise SystemExit(f"unknown model {name!r}; the light models are {sorted(available)} "
                             f"(looked in {LIGHT_DIR})")
        chosen[key] = available[key]
    return chosen


def random_feed(inputs: list[Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One random array per onnxruntime input (symbolic dims become 1)."""
    types = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
             "tensor(int8)": np.int8, "tensor(bool)": np.bool_}
    feed = {}
    for arg in inputs:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in arg.shape]
        dtype = np.dtype(types.get(arg.type, np.float32))
        if dtype.kind == "f":
            feed[arg.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[arg.name] = rng.random(shape) > 0.5
        else:
            feed[arg.name] = rng.integers(0, 10, size=shape).astype(dtype)
    return feed


def max_abs_diff(ours: list[Any], theirs: list[Any]) -> float:
    """The largest |ep - ort| over all outputs (inf on a shape mismatch, nan if not comparable)."""
    worst = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return math.inf
        if a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":
            return math.nan
        if a.size:
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
    if len(ours) != len(theirs):
        return math.inf
    return worst


def randomized_variant(path: str, seed: int) -> bytes:
    """The model with symmetric weights made distinct, and its pre-softmax logits as extra outputs.

    The light models build every weight with `ConstantOfShape` (one value, 0.02, everywhere), so
    all classes get the same score and the softmax output is a flat 0.001 whatever a kernel
    computes. For the correctness check each such node becomes an initializer whose elements are
    the fill value times U(-1.5, 1.5) (U(0.5, 1.5) for BatchNorm variances, which must stay
    positive), and the input of a Softmax that produces a graph output is exposed as an output too.
    """
    model = onnx.load(path)
    graph = model.graph
    rng = np.random.default_rng(seed)
    inits = {i.name: i for i in graph.initializer}
    keep, new_inits = [], []
    positive = {n.input[4] for n in graph.node if n.op_type == "BatchNormalization" and len(n.input) > 4}
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input and node.input[0] in inits:
            shape = numpy_helper.to_array(inits[node.input[0]]).astype(np.int64).tolist()
            fill = np.zeros(1, np.float32)
            for a in node.attribute:
                if a.name == "value":
                    fill = numpy_helper.to_array(a.t).ravel()
            base = fill[0] if fill.size else fill.dtype.type(0)
            if fill.dtype.kind == "f":
                low = 0.5 if node.output[0] in positive else -1.5
                value = (base * rng.uniform(low, 1.5, size=shape)).astype(fill.dtype)
            else:
                value = np.full(shape, base, dtype=fill.dtype)
            new_inits.append(numpy_helper.from_array(value, name=node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    graph.initializer.extend(new_inits)
    outputs = {o.name for o in graph.output}
    for node in keep:
        if node.op_type == "Softmax" and node.output[0] in outputs and node.input[0] not in outputs:
            graph.output.append(onnx.helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None))
    return model.SerializeToString()


def check_randomized(path: str, feed: dict[str, np.ndarray], args: argparse.Namespace) -> float:
    """Relative max difference ep vs ort on the randomized variant: max |ep - ort| / max |ort|."""
    data = randomized_variant(path, args.seed)
    ort_sess = ort.InferenceSession(data, ort_options(args.threads, args.ort_spinning),
                                    providers=["CPUExecutionProvider"])
    ort_out = ort_sess.run(None, feed)
    ep_out = ep.InferenceSession(data, ep_options(args.opt_level, threads=args.threads),
                                 providers=args.provider).run(None, feed)
    worst = 0.0
    for a, b in zip(ep_out, ort_out):
        scale = float(np.max(np.abs(b))) if np.size(b) else 0.0
        d = max_abs_diff([a], [b])
        worst = max(worst, d / scale if scale else d)
    return worst


def ep_options(level: int | None = None, profiling: bool = False, threads: int | None = None) -> ep.SessionOptions:
    """ep-runtime's options: the optimization level, profiling, and `threads` intra-op threads (the
    native kernels' threads and the BLAS cap; None: ep-runtime's default, the physical cores)."""
    opts = ep.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    if level is not None:
        opts.graph_optimization_level = level
    if profiling:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ep_runtime_bench_profile")
    return opts


def ort_options(threads: int | None, spinning: bool = False) -> ort.SessionOptions:
    """onnxruntime's options: quiet, `threads` intra-op threads, and its thread pool's spinning.

    Spinning is off unless asked for: after a run onnxruntime's idle workers busy-wait for
    more work, and in an interleaved benchmark they burn the cores the next ep-runtime run needs.
    """
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the light models carry unused initializers ort warns about
    if threads:
        opts.intra_op_num_threads = threads
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def bench_model(name: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Create both sessions, warm them up, time interleaved runs and compare the outputs."""
    row: dict[str, Any] = {"model": name, "path": path}
    gc.collect()
    ort_sess, row["ort_create_s"] = timed(ort.InferenceSession, path, ort_options(args.threads, args.ort_spinning),
                                          providers=["CPUExecutionProvider"])
    feed = random_feed(ort_sess.get_inputs(), np.random.default_rng(args.seed))
    try:
        ep_sess, row["ep_create_s"] = timed(ep.InferenceSession, path, ep_options(args.opt_level, threads=args.threads),
                                            providers=args.provider)
        row["ep_providers"] = ep_sess.get_providers()
        run_ep = ep_sess.run
        ep_out = run_ep(None, feed)
    except Exception as exc:  # report and go on with the other models
        row["error"] = f"{type(exc).__name__}: {exc}"
        if args.verbose:
            traceback.print_exc()
        run_ep = None
    run_cpu = None
    if compares_cpu(args) and run_ep is not None:
        # a device provider: time the CPU provider too, interleaved with the others
        cpu_sess, row["cpu_create_s"] = timed(ep.InferenceSession, path,
                                              ep_options(args.opt_level, threads=args.threads), providers=["cpu"])
        run_cpu = cpu_sess.run
        run_cpu(None, feed)
    ort_out = ort_sess.run(None, feed)
    if run_ep is not None:
        row["max_abs_diff"] = max_abs_diff(ep_out, ort_out)
        row["ort_output_max_abs"] = float(max(np.max(np.abs(o)) for o in ort_out))
    for _ in range(args.warmup):
        if run_ep is not None:
            run_ep(None, feed)
        if run_cpu is not None:
            run_cpu(None, feed)
        ort_sess.run(None, feed)
    ep_times: list[float] = []
    ort_times: list[float] = []
    cpu_times: list[float] = []
    pc = time.perf_counter
    for k in range(args.repeat):
        order = ("ep", "cpu", "ort") if k % 2 == 0 else ("ort", "cpu", "ep")
        for who in order:
            if who == "cpu":
                if run_cpu is not None:
                    t0 = pc()
                    run_cpu(None, feed)
                    cpu_times.append(pc() - t0)
            elif who == "ep":
                if run_ep is None:
                    continue
                t0 = pc()
                run_ep(None, feed)
                ep_times.append(pc() - t0)
            else:
                t0 = pc()
                ort_sess.run(None, feed)
                ort_times.append(pc() - t0)
    row["ort_ms"] = statistics.median(ort_times) * 1e3
    row["ort_times_ms"] = [t * 1e3 for t in ort_times]
    if ep_times:
        row["ep_ms"] = statistics.median(ep_times) * 1e3
        row["ep_times_ms"] = [t * 1e3 for t in ep_times]
        row["ratio"] = row["ep_ms"] / row["ort_ms"]
    if cpu_times:
        row["cpu_ms"] = statistics.median(cpu_times) * 1e3
        row["cpu_times_ms"] = [t * 1e3 for t in cpu_times]
        if "ep_ms" in row:
            row["ep_cpu_ratio"] = row["ep_ms"] / row["cpu_ms"]
    if args.check and run_ep is not None:
        try:
            row["rand_rel_diff"] = check_randomized(path, feed, args)
        except Exception as exc:
            row["rand_rel_diff"] = math.nan
            row["error"] = f"randomized check failed: {type(exc).__name__}: {exc}"
    if args.profile and run_ep is not None:
        row["profile"] = profile_model(path, feed, args)
    return row


def compares_cpu(args: argparse.Namespace) -> bool:
    """Whether the ep-runtime providers are more than the CPU provider (then it is timed as well)."""
    return any(str(p).lower() not in ("cpu", "cpuexecutionprovider") for p in args.provider)


def _per_op(events: list[list[tuple[str, float]]]) -> dict[str, dict[str, float]]:
    """Median per op type over runs of (op, seconds) events: {op: {"ms", "count"}}."""
    per_run: list[dict[str, float]] = []
    counts: dict[str, int] = {}
    for run in events:
        by_op: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for op, seconds in run:
            by_op[op] += seconds
            count[op] += 1
        per_run.append(by_op)
        counts = dict(count)
    ops = sorted({op for r in per_run for op in r})
    return {op: {"ms": statistics.median(r.get(op, 0.0) for r in per_run) * 1e3, "count": counts.get(op, 0)}
            for op in ops}


def _split_runs(events: list[Any], runs: int) -> list[list[Any]]:
    """The events of runs 1..runs (run 0, the warm-up, dropped); every run records as many events."""
    per = len(events) // (runs + 1)
    return [events[k * per:(k + 1) * per] for k in range(1, runs + 1)]


def _ep_op(label: str) -> str:
    m = re.search(r"\(([^()]*)\)$", label)
    if label.startswith(("subgraph ", "copy ")) or not m:
        return "<" + label.split(" ")[0] + ">"
    return m.group(1).rsplit(".", 1)[-1]


def profile_model(path: str, feed: dict[str, np.ndarray], args: argparse.Namespace) -> dict[str, Any]:
    """Per-op-type time of ep-runtime and of onnxruntime from their session profilers.

    A separate profiling session of each runs once to warm up and then `profile_runs` times;
    each writes its Chrome trace (`end_profiling()`), whose node events are split back into runs
    and summed per op type; medians over the runs. onnxruntime's op types are those after its
    own graph optimizations (e.g. `FusedConv` is Conv + activation).
    """
    runs = max(1, args.profile_runs)
    result: dict[str, Any] = {}
    sessions = {
        "ep": ep.InferenceSession(path, ep_options(args.opt_level, profiling=True, threads=args.threads),
                                  providers=args.provider),
    }
    oo = ort_options(args.threads, args.ort_spinning)
    oo.enable_profiling = True
    oo.profile_file_prefix = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ort_bench_profile")
    sessions["ort"] = ort.InferenceSession(path, oo, providers=["CPUExecutionProvider"])
    if compares_cpu(args):
        sessions["cpu"] = ep.InferenceSession(path, ep_options(args.opt_level, profiling=True, threads=args.threads),
                                               providers=["cpu"])
    for who, sess in sessions.items():
        wall = []
        for k in range(runs + 1):
            t0 = time.perf_counter()
            sess.run(None, feed)
            if k:
                wall.append(time.perf_counter() - t0)
        trace = sess.end_profiling()
        with open(trace, encoding="utf-8") as fh:
            events = json.load(fh)
        os.remove(trace)
        if who in ("ep", "cpu"):
            pairs = [(_ep_op(ev["name"]), ev["dur"] * 1e-6) for ev in events]
        else:
            pairs = [(ev["args"].get("op_name", "?"), ev["dur"] * 1e-6) for ev in events
                     if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time")]
        result[who] = {"wall_ms": statistics.median(wall) * 1e3, "ops": _per_op(_split_runs(pairs, runs))}
    return result


def fmt(value: float | None, spec: str) -> str:
    """`value` formatted with `spec`, or a right-aligned "-" of the same width when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        width = int(re.match(r"\d*", spec).group() or 0)
        return "-".rjust(width)
    return format(value, spec)


def print_table(rows: list[dict[str, Any]], label: str) -> None:
    with_cpu = any("cpu_ms" in r for r in rows)
    cpu_head = f" {'cpu ms':>10} {'ep/cpu':>7}" if with_cpu else ""
    head = (f"{'model':<14} {label + ' ms':>14}{cpu_head} {'ort ms':>10} {'ep/ort':>7} "
            f"{'ep create s':>11} {'ort create s':>12} {'max|diff|':>10} {'rand rel':>9}  note")
    print(head)
    print("-" * len(head))
    for r in rows:
        note = r.get("error", "")
        if len(note) > 100:
            note = note[:97] + "..."
        cpu_cols = f" {fmt(r.get('cpu_ms'), '10.2f')} {fmt(r.get('ep_cpu_ratio'), '7.2f')}" if with_cpu else ""
        print(f"{r['model']:<14} {fmt(r.get('ep_ms'), '14.2f')}{cpu_cols} {fmt(r.get('ort_ms'), '10.2f')} "
              f"{fmt(r.get('ratio'), '7.2f')} {fmt(r.get('ep_create_s'), '11.2f')} "
              f"{fmt(r.get('ort_create_s'), '12.2f')} {fmt(r.get('max_abs_diff'), '10.2e')} "
              f"{fmt(r.get('rand_rel_diff'), '9.1e')}  {note}")
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    if ratios:
        geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        print(f"geometric-mean ratio ep/ort over {len(ratios)} of {len(rows)} models: {geo:.2f}")
    else:
        print("no model ran on ep-runtime")


def print_profile(row: dict[str, Any], top: int) -> None:
    """Side-by-side per-op-type time of ep-runtime and onnxruntime, ep-runtime's biggest first."""
    prof = row["profile"]
    kern = {who: {op: v for op, v in prof[who]["ops"].items() if not op.startswith("<")} for who in prof}
    total = {who: sum(v["ms"] for v in ops.values()) for who, ops in kern.items()}
    print(f"\nprofile of {row['model']} (median of profiled runs): "
          f"ep-runtime run {prof['ep']['wall_ms']:.1f} ms, kernels {total['ep']:.1f} ms; "
          f"onnxruntime run {prof['ort']['wall_ms']:.1f} ms, kernels {total['ort']:.1f} ms")
    cpu = kern.get("cpu")
    if cpu is not None:
        print(f"  (CPU provider run {prof['cpu']['wall_ms']:.1f} ms, kernels {total['cpu']:.1f} ms; ep/cpu compares "
              "the same op type: fused CPU ops such as FusedConv show under their own name)")
    cpu_head = f"   {'cpu ms':>8} {'nodes':>6} {'ep/cpu':>7}" if cpu is not None else ""
    print(f"  {'op':<22} {'ep ms':>9} {'ep %':>6} {'nodes':>6} {'ep ms/node':>10}   {'ort ms':>8} {'nodes':>6}"
          f"{cpu_head}")
    ops = sorted(set(kern["ep"]) | set(kern["ort"]) | set(cpu or {}),
                 key=lambda op: (-kern["ep"].get(op, {}).get("ms", 0.0), -kern["ort"].get(op, {}).get("ms", 0.0)))
    for op in ops[:top]:
        e, o = kern["ep"].get(op), kern["ort"].get(op)
        if e:
            share = 100 * e["ms"] / total["ep"] if total["ep"] else 0.0
            left = f"{e['ms']:9.2f} {share:6.1f} {e['count']:6d} {e['ms'] / max(e['count'], 1):10.3f}"
        else:
            left = f"{'-':>9} {'-':>6} {'-':>6} {'-':>10}"
        right = f"{o['ms']:8.2f} {o['count']:6d}" if o else f"{'-':>8} {'-':>6}"
        if cpu is not None:
            c = cpu.get(op)
            ratio = f"{e['ms'] / c['ms']:7.2f}" if c and e and c["ms"] > 0 else f"{'-':>7}"
            right += f"   {c['ms']:8.2f} {c['count']:6d} {ratio}" if c else f"   {'-':>8} {'-':>6} {ratio}"
        print(f"  {op:<22} {left}   {right}")


def blas_threads() -> str:
    """What the environment asks of numpy's BLAS thread count (it is fixed when numpy loads)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return f"{os.environ[var]} ({var})"
    return "default"


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0], "numpy": np.__version__, "onnx": onnx.__version__,
        "onnxruntime": ort.__version__, "ep_runtime": getattr(ep, "__version__", "?"),
        "machine": platform.machine(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "blas_threads": blas_threads(),
    }


def timing_parser(doc: str, *, repeat: int, repeat_help: str, warmup: int,
                  threads_help: str) -> argparse.ArgumentParser:
    """The options every interleaved timing here takes: --repeat, --warmup, --threads, --ort-spinning."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=repeat, help=f"{repeat_help} (default {repeat})")
    p.add_argument("--warmup", type=int, default=warmup, help=f"untimed runs of each before timing (default {warmup})")
    p.add_argument("--threads", type=int, default=None, help=threads_help)
    p.add_argument("--ort-spinning", action="store_true",
                   help="leave onnxruntime's thread-pool spinning on (its default; off here, see README)")
    return p


def build_parser() -> argparse.ArgumentParser:
    p = timing_parser(__doc__, repeat=10, repeat_help="timed runs of each runtime per model", warmup=3,
                      threads_help="intra_op_num_threads of both onnxruntime and ep-runtime (default: each one's own)")
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help=f"models to run (default: all of {', '.join(MODEL_NAMES)}); a path to an .onnx works too")
    p.add_argument("--provider", action="append", metavar="NAME",
                   help="ep-runtime provider, repeatable, in priority order (default: cpu)")
    p.add_argument("--opt-level", type=int, default=None,
                   help="ep-runtime graph_optimization_level (default: the session's default)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="skip the correctness check on the randomized-weight variant (see `rand rel`)")
    p.add_argument("--json", metavar="FILE", help="also write every measurement (raw times included) here")
    p.add_argument("--profile", action="store_true",
                   help="after timing, profile both runtimes per op type (separate profiling sessions)")
    p.add_argument("--profile-runs", type=int, default=3, help="profiled runs per model (default 3)")
    p.add_argument("--top", type=int, default=12, help="op types shown per profile (default 12)")
    p.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of ep-runtime failures")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.provider = args.provider or ["cpu"]
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    models = pick_models(args.models)
    label = "ep[" + ",".join(args.provider) + "]"
    print(f"ep-runtime providers={args.provider} (available: {ep.get_available_providers()}); "
          f"onnxruntime {ort.__version__} CPUExecutionProvider, intra_op_num_threads="
          f"{args.threads or 'default'}, spinning {'on' if args.ort_spinning else 'off'}; numpy BLAS threads "
          f"{blas_threads()}; {os.cpu_count()} CPUs; warmup {args.warmup}, repeat {args.repeat}", flush=True)
    rows = []
    for name, path in models.items():
        row = bench_model(name, path, args)
        rows.append(row)
        status = (f"{row['ep_ms']:.2f} ms vs {row['ort_ms']:.2f} ms" if "ep_ms" in row
                  else f"ep-runtime failed: {row.get('error', '')[:120]}")
        print(f"  {name}: {status}", file=sys.stderr, flush=True)
    print()
    print_table(rows, label)
    for row in rows:
        if "profile" in row:
            print_profile(row, args.top)
    if args.json:
        ratios = [r["ratio"] for r in rows if "ratio" in r]
        report = {
            "environment": environment(),
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "models": rows,
            "geomean_ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1, default=str)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
