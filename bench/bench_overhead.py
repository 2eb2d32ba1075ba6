"""Per-node overhead: a long chain of tiny Adds on ep-runtime, onnxruntime and a bare numpy loop.

The model (built here with onnx.helper) is `y0 = x; y_k = Add(y_{k-1}, c_k)` for k = 1..N,
with `x` a graph input of shape [1, 16] float32 and every `c_k` a distinct [1, 16] initializer.
Each Add does 16 float additions, so the run time is almost all per-node cost: dispatch,
argument passing, allocation of the result, freeing the previous one. Because `x` is a graph
input nothing can be constant-folded, and graph optimizations are disabled in both runtimes
anyway (`graph_optimization_level` 0 / ORT_DISABLE_ALL), so neither may fuse or drop the chain.

The floor is a plain Python loop `for c in consts: y = np.add(y, c)`: the least a runtime that
calls one numpy function per node can cost. The three are warmed up and then timed in turns,
changing the order every round (every permutation in turn), and the medians are reported as microseconds per node.

Usage:

    python bench/bench_overhead.py                  # 500 nodes, 1000 rounds
    python bench/bench_overhead.py --nodes 2000 --repeat 100 --json overhead.json
    python bench/bench_overhead.py --profile        # cProfile of ep-runtime's run on the chain

Nothing here asserts a timing; it only measures and prints.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import ep_runtime as ep

if not __package__:  # run as a script: the repository root makes `bench` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_models import timing_parser  # noqa: E402


def add_chain(nodes: int, width: int = 16, opset: int = 17, seed: int = 0) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """The chain model and its constants (in order), for the numpy floor to replay."""
    rng = np.random.default_rng(seed)
    consts = [rng.standard_normal((1, width)).astype(np.float32) for _ in range(nodes)]
    inits = [numpy_helper.from_array(c, name=f"c{k}") for k, c in enumerate(consts)]
    graph_nodes = []
    prev = "x"
    for k in range(nodes):
        out = "y" if k == nodes - 1 else f"t{k}"
        graph_nodes.append(helper.make_node("Add", [prev, f"c{k}"], [out], name=f"add{k}"))
        prev = out
    graph = helper.make_graph(
        graph_nodes, "add_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="ep-runtime bench_overhead")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, consts


def numpy_floor(consts: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """A bare Python loop of np.add over the chain's constants."""
    add = np.add

    def run(x: np.ndarray) -> np.ndarray:
        y = x
        for c in consts:
            y = add(y, c)
        return y

    return run


Runner = Callable[[np.ndarray], Any]


def make_runners(model: onnx.ModelProto, consts: list[np.ndarray], threads: int | None,
                 spinning: bool = False) -> tuple[dict[str, Runner], dict[str, float]]:
    """name -> f(x) for ep-runtime, onnxruntime and the numpy floor; and their creation times (s)."""
    data = model.SerializeToString()
    create: dict[str, float] = {}

    eo = ep.SessionOptions()
    eo.graph_optimization_level = 0
    t0 = time.perf_counter()
    ep_sess = ep.InferenceSession(data, eo, providers=["cpu"])
    create["ep-runtime"] = time.perf_counter() - t0

    oo = ort.SessionOptions()
    oo.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        oo.intra_op_num_threads = threads
    if not spinning:  # idle busy-waiting workers would steal the cores of the runs that follow
        oo.add_session_config_entry("session.intra_op.allow_spinning", "0")
    t0 = time.perf_counter()
    ort_sess = ort.InferenceSession(data, oo, providers=["CPUExecutionProvider"])
    create["onnxruntime"] = time.perf_counter() - t0

    ep_run, ort_run, floor = ep_sess.run, ort_sess.run, numpy_floor(consts)
    runners = {
        "ep-runtime": lambda x: ep_run(None, {"x": x})[0],
        "onnxruntime": lambda x: ort_run(None, {"x": x})[0],
        "numpy loop": floor,
    }
    return runners, create


def measure(runners: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray, warmup: int,
            repeat: int) -> dict[str, list[float]]:
    """Warm each runner up, then time them in turns, the order changing every round: every permutation in
    turn (up to four runners; more rotate), so that each runner follows each other one equally often. A plain
    rotation of three lets one runner follow a given other in two rounds of three and another never: a
    runner that evicts the caches (onnxruntime's pool) then slows only its usual successor."""
    for fn in runners.values():
        for _ in range(warmup):
            fn(x)
    names = list(runners)
    orders = list(itertools.permutations(names)) if len(names) <= 4 else \
        [names[k:] + names[:k] for k in range(len(names))]
    times: dict[str, list[float]] = {n: [] for n in names}
    pc = time.perf_counter
    for k in range(repeat):
        for name in orders[k % len(orders)]:
            fn = runners[name]
            t0 = pc()
            fn(x)
            times[name].append(pc() - t0)
    return times


def profile_ep(runners: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray, runs: int, top: int) -> str:
    """cProfile of `runs` ep-runtime runs, the `top` functions by own time."""
    prof = cProfile.Profile()
    fn = runners["ep-runtime"]
    prof.enable()
    for _ in range(runs):
        fn(x)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def build_parser() -> argparse.ArgumentParser:
    p = timing_parser(__doc__, repeat=1000, repeat_help="timed rounds", warmup=20,
                      threads_help="onnxruntime intra_op_num_threads (default: onnxruntime's own default)")
    p.add_argument("--nodes", type=int, default=500, help="length of the Add chain (default 500)")
    p.add_argument("--width", type=int, default=16, help="elements per tensor, shape [1, W] (default 16)")
    p.add_argument("--json", metavar="FILE", help="also write the measurements (raw times included) here")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of ep-runtime's runs")
    p.add_argument("--top", type=int, default=15, help="functions shown by --profile (default 15)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.nodes < 1 or args.repeat < 1:
        raise SystemExit("--nodes and --repeat must be at least 1")
    model, consts = add_chain(args.nodes, args.width)
    runners, create = make_runners(model, consts, args.threads, args.ort_spinning)
    x = np.random.default_rng(1).standard_normal((1, args.width)).astype(np.float32)

    want = runners["numpy loop"](x)
    diffs = {n: float(np.max(np.abs(np.asarray(fn(x)) - want))) for n, fn in runners.items()}

    gc.collect()
    times = measure(runners, x, args.warmup, args.repeat)
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"Add chain: {args.nodes} nodes on [1, {args.width}] float32, graph optimizations off; "
          f"warmup {args.warmup}, {args.repeat} interleaved rounds; {os.cpu_count()} CPUs; "
          f"onnxruntime {ort.__version__} intra_op_num_threads={args.threads or 'default'}, "
          f"spinning {'on' if args.ort_spinning else 'off'}")
    print()
    head = f"{'runtime':<12} {'median ms':>10} {'us/node':>9} {'p10 us/node':>12} {'p90 us/node':>12} " \
           f"{'create ms':>10} {'max|diff|':>10}"
    print(head)
    print("-" * len(head))
    for n, t in times.items():
        q = statistics.quantiles(t, n=10) if len(t) >= 2 else [t[0]] * 9
        per = 1e6 / args.nodes
        cr = f"{create[n] * 1e3:10.1f}" if n in create else f"{'-':>10}"
        print(f"{n:<12} {med[n] * 1e3:10.3f} {med[n] * per:9.2f} {q[0] * per:12.2f} {q[-1] * per:12.2f} "
              f"{cr} {diffs[n]:10.2e}")
    ratio = med["ep-runtime"] / med["onnxruntime"]
    print()
    print(f"ratio ep-runtime / onnxruntime: {ratio:.2f}")
    print(f"ratio ep-runtime / numpy loop:  {med['ep-runtime'] / med['numpy loop']:.2f}")
    print(f"ep-runtime overhead above the numpy loop: "
          f"{(med['ep-runtime'] - med['numpy loop']) * 1e6 / args.nodes:.2f} us/node")

    if args.profile:
        print("\ncProfile of ep-runtime (own time):")
        print(profile_ep(runners, x, min(args.repeat, 200), args.top))

    if args.json:
        report = {
            "environment": {"python": sys.version.split()[0], "numpy": np.__version__,
                            "onnxruntime": ort.__version__, "cpu_count": os.cpu_count(),
                            "platform": platform.platform()},
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "median_s": med, "us_per_node": {n: m * 1e6 / args.nodes for n, m in med.items()},
            "create_s": create, "max_abs_diff": diffs, "ratio_ep_ort": ratio,
            "times_s": times,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
