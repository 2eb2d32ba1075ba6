"""The embedded C provider (per node and fused) against the cpu provider and onnxruntime.

Same method as bench_models.py, whose helpers it imports: every runtime runs in this one process
on the same seeded input, each is warmed up, then the timed runs are interleaved (one run of each
per round, the order rotating every round) so that machine noise falls on all alike. It prints the
median run time of each, the ratio fused / onnxruntime (below 1: the fused C is faster), the
session-creation time of the fused session (C generation and compilation, cached across processes)
and the largest difference of each runtime's first output from onnxruntime's.

Models: a small MLP (784-128-64-10, Gemm + Relu + Softmax), a LeNet-style CNN and a small LSTM
classifier, all at batch 1, built here with onnx.helper; and the ONNX light models (`--models`).

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python bench/bench_embedded_c.py --threads 1
    python bench/bench_embedded_c.py --models squeezenet shufflenet --repeat 20
    python bench/bench_embedded_c.py --small-only --repeat 2000

Nothing here asserts a timing; it only measures and prints.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_models import blas_threads, environment, fmt, max_abs_diff, ort_options, pick_models  # noqa: E402

import ep_runtime as ep  # noqa: E402

SMALL = ("mlp", "lenet", "lstm")
RUNTIMES = ("c_node", "c_fused", "cpu", "ort")


def _init(rng: np.random.Generator, name: str, *shape: int, scale: float = 0.1) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def mlp_model(seed: int = 0) -> onnx.ModelProto:
    """784-128-64-10 at batch 1: Gemm (transB, as exporters write it) + Relu, softmax at the end."""
    rng = np.random.default_rng(seed)
    sizes = [784, 128, 64, 10]
    nodes, inits, prev = [], [], "x"
    for k in range(3):
        inits += [_init(rng, f"w{k}", sizes[k + 1], sizes[k]), _init(rng, f"b{k}", sizes[k + 1])]
        nodes.append(helper.make_node("Gemm", [prev, f"w{k}", f"b{k}"], [f"g{k}"], transB=1))
        prev = f"g{k}"
        if k < 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{k}"]))
            prev = f"r{k}"
    nodes.append(helper.make_node("Softmax", [prev], ["y"], axis=-1))
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 784])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def lenet_model(seed: int = 0) -> onnx.ModelProto:
    """LeNet-5 style at batch 1: conv 5x5 (6) / relu / maxpool, conv 5x5 (16) / relu / maxpool, 3 FC layers."""
    rng = np.random.default_rng(seed)
    inits = [_init(rng, "w1", 6, 1, 5, 5), _init(rng, "b1", 6), _init(rng, "w2", 16, 6, 5, 5), _init(rng, "b2", 16),
             _init(rng, "f1", 120, 400), _init(rng, "fb1", 120), _init(rng, "f2", 84, 120), _init(rng, "fb2", 84),
             _init(rng, "f3", 10, 84), _init(rng, "fb3", 10)]
    mk = helper.make_node
    nodes = [mk("Conv", ["x", "w1", "b1"], ["c1"], pads=[2, 2, 2, 2]), mk("Relu", ["c1"], ["r1"]),
             mk("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             mk("Conv", ["p1", "w2", "b2"], ["c2"]), mk("Relu", ["c2"], ["r2"]),
             mk("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]), mk("Flatten", ["p2"], ["fl"]),
             mk("Gemm", ["fl", "f1", "fb1"], ["h1"], transB=1), mk("Relu", ["h1"], ["a1"]),
             mk("Gemm", ["a1", "f2", "fb2"], ["h2"], transB=1), mk("Relu", ["h2"], ["a2"]),
             mk("Gemm", ["a2", "f3", "fb3"], ["h3"], transB=1), mk("Softmax", ["h3"], ["y"], axis=1)]
    g = helper.make_graph(nodes, "lenet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def lstm_model(seed: int = 0) -> onnx.ModelProto:
    """A sequence classifier at batch 1: 20 steps of 32 features -> LSTM(64) -> last h -> Gemm(10)."""
    rng = np.random.default_rng(seed)
    inits = [_init(rng, "W", 1, 256, 32), _init(rng, "R", 1, 256, 64), _init(rng, "B", 1, 512),
             numpy_helper.from_array(np.array([0], np.int64), "axes"), _init(rng, "wg", 10, 64), _init(rng, "bg", 10)]
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], hidden_size=64),
             helper.make_node("Squeeze", ["h", "axes"], ["hs"]),
             helper.make_node("Gemm", ["hs", "wg", "bg"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [20, 1, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


BUILDERS = {"mlp": mlp_model, "lenet": lenet_model, "lstm": lstm_model}


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def bench_one(name: str, model: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """Create the four sessions, check their outputs against onnxruntime, time interleaved runs."""
    row: dict[str, Any] = {"model": name}
    gc.collect()
    ort_sess, row["ort_create_s"] = _timed(ort.InferenceSession, model, ort_options(args.threads),
                                           providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(args.seed)
    feed = {i.name: rng.standard_normal([d if isinstance(d, int) and d > 0 else 1 for d in i.shape]).astype(np.float32)
            for i in ort_sess.get_inputs()}
    providers = {"c_node": ["embedded_c", "cpu"], "c_fused": [("embedded_c", {"fused": True}), "cpu"], "cpu": ["cpu"]}
    runs: dict[str, Any] = {"ort": ort_sess.run}
    want = ort_sess.run(None, feed)
    for who, prov in providers.items():
        try:
            sess, row[f"{who}_create_s"] = _timed(ep.InferenceSession, model, providers=prov)
            runs[who] = sess.run
            row[f"{who}_diff"] = max_abs_diff(sess.run(None, feed)[:1], want[:1])
            if who != "cpu":
                part = sess.get_partition()
                row[f"{who}_nodes"] = f"{len(part.nodes_on('EmbeddedCExecutionProvider'))}/{len(part.decisions)}"
        except Exception as exc:  # report it and time the others
            row["error"] = f"{who}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    for _ in range(args.warmup):
        for run in runs.values():
            run(None, feed)
    order = [w for w in RUNTIMES if w in runs]
    times: dict[str, list[float]] = {w: [] for w in order}
    pc = time.perf_counter
    repeat = args.repeat_small if name in SMALL else args.repeat
    for k in range(repeat):
        rot = order[k % len(order):] + order[:k % len(order)]
        for who in rot:
            run = runs[who]
            t0 = pc()
            run(None, feed)
            times[who].append(pc() - t0)
    for who, ts in times.items():
        row[f"{who}_ms"] = statistics.median(ts) * 1e3
    if "c_fused_ms" in row:
        row["fused_over_ort"] = row["c_fused_ms"] / row["ort_ms"]
    row["repeat"] = repeat
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'model':<13} {'C nodes':>8} {'C per-node ms':>13} {'C fused ms':>11} {'cpu ms':>9} {'ort ms':>9} "
            f"{'fused/ort':>9} {'fused create s':>14} {'max|diff| fused':>15}  note")
    print(head)
    print("-" * len(head))
    for r in rows:
        def ms(key: str, r: dict[str, Any] = r) -> str:
            v = r.get(key)
            return fmt(v, ".3f" if v is not None and v < 1 else ".2f")
        print(f"{r['model']:<13} {r.get('c_fused_nodes', '-'):>8} {ms('c_node_ms'):>13} {ms('c_fused_ms'):>11} "
              f"{ms('cpu_ms'):>9} {ms('ort_ms'):>9} {fmt(r.get('fused_over_ort'), '9.2f')} "
              f"{fmt(r.get('c_fused_create_s'), '14.2f')} {fmt(r.get('c_fused_diff'), '15.1e')}  {r.get('error', '')}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", metavar="NAME", default=None,
                   help="light models to run besides the small ones (default: all nine; none with --small-only)")
    p.add_argument("--small-only", action="store_true", help="only the MLP, LeNet and LSTM")
    p.add_argument("--repeat", type=int, default=10, help="timed rounds on the light models (default 10)")
    p.add_argument("--repeat-small", type=int, default=1000, help="timed rounds on the small models (default 1000)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs of each before timing (default 3)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra_op_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="also write every measurement here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"onnxruntime {ort.__version__} intra_op_num_threads={args.threads or 'default'}; numpy BLAS threads "
          f"{blas_threads()}; {os.cpu_count()} CPUs; warmup {args.warmup}, repeat {args.repeat} "
          f"(small models {args.repeat_small})", flush=True)
    models: dict[str, bytes] = {n: b().SerializeToString() for n, b in BUILDERS.items()}
    if not args.small_only:
        for name, path in pick_models(args.models or None).items():
            with open(path, "rb") as fh:
                models[name] = fh.read()
    rows = []
    for name, data in models.items():
        row = bench_one(name, data, args)
        rows.append(row)
        print(f"  {name}: fused {fmt(row.get('c_fused_ms'), '.3f')} ms, ort {fmt(row.get('ort_ms'), '.3f')} ms",
              file=sys.stderr, flush=True)
    print()
    print_table(rows)
    ratios = [r["fused_over_ort"] for r in rows if "fused_over_ort" in r]
    if ratios:
        print(f"geometric-mean fused/ort over {len(ratios)} models: "
              f"{math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"environment": environment(), "settings": vars(args), "models": rows}, fh, indent=1,
                      default=str)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
