"""Fuzz ep-runtime with mutated models on every provider and report what breaks (docs/robustness.md).

    python tools/fuzz_models.py --cases 10000 --seed 1 --providers cpu,opencl,embedded_c,embedded_c_fused \\
        --jobs 2 --report notes/fuzz.json
    python tools/fuzz_models.py --repro notes/fuzz/003-...      # rerun one saved failure in this process
    python tools/fuzz_models.py --seed 1 --case 42 --providers embedded_c   # rebuild and rerun case 42

Each case mutates a valid seed model and runs it in worker subprocesses on every provider, with
onnxruntime as the oracle. Verdicts: ok, refused (a clean ep-runtime error), unclear (any other
exception), crash (the worker died of a signal), hang (no answer in time),
accepted_but_should_refuse (ran where the CPU provider or onnxruntime refused), wrong_output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tools.fuzz.campaign import Campaign, Options, describe_case  # noqa: E402
from tools.fuzz.classify import VERDICTS, judge_case  # noqa: E402
from tools.fuzz.mutate import make_case  # noqa: E402
from tools.fuzz.seeds import SMALL_SEEDS, all_seeds, default_seeds  # noqa: E402
from tools.fuzz.worker import ORACLE, PROVIDER_SPECS, quiet, run_task  # noqa: E402

MAX_PRINTED = 60
PROVIDER_CLASSES = {"cpu": "CPUExecutionProvider", "opencl": "OpenCLExecutionProvider",
                    "embedded_c": "EmbeddedCExecutionProvider", "embedded_c_fused": "EmbeddedCExecutionProvider"}


def available_providers(asked: list[str]) -> tuple[list[str], list[str]]:
    """(the asked fuzz targets that can run here, those that cannot)."""
    import ep_runtime

    unknown = [p for p in asked if p not in PROVIDER_SPECS]
    if unknown:
        raise SystemExit(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDER_SPECS)}")
    have = set(ep_runtime.get_available_providers())
    usable = [p for p in asked if PROVIDER_CLASSES[p] in have]
    return usable, [p for p in asked if p not in usable]


def seed_names(text: str) -> list[str]:
    """A comma list of seed names, where 'default', 'small' and 'all' stand for those sets of seeds."""
    seeds = all_seeds()
    names: list[str] = []
    for token in (t for t in text.split(",") if t):
        if token in ("default", "small", "all"):
            names += {"default": default_seeds(), "small": list(SMALL_SEEDS), "all": list(seeds)}[token]
        else:
            names.append(token)
    unknown = [s for s in names if s not in seeds]
    if unknown:
        raise SystemExit(f"unknown seed(s) {', '.join(unknown)}; known: {', '.join(seeds)}")
    return list(dict.fromkeys(names))


def print_figures(summary: dict, skipped: list[str]) -> None:
    """The run's figures: cases, verdicts per provider, oracle statuses, failure signatures."""
    print(f"fuzz seed {summary['seed']}: {summary['cases_run']} cases run (of {summary['cases_asked']} asked), "
          f"{summary['tasks']} tasks in {summary['seconds']} s, {summary['worker_restarts']} worker restarts")
    if skipped:
        print(f"providers not available here, skipped: {', '.join(skipped)}")
    providers = summary["providers"]
    width = max(12, *(len(p) for p in providers))
    print(f"{'verdict':28}" + "".join(f"{p:>{width + 1}}" for p in providers) + f"{'total':>8}")
    for v in VERDICTS:
        row = [summary["per_provider"][p][v] for p in providers]
        print(f"{v:28}" + "".join(f"{n:>{width + 1}}" for n in row) + f"{summary['totals'][v]:>8}")
    print("onnxruntime (oracle): " + ", ".join(f"{k} {n}" for k, n in sorted(summary["oracle"].items())))
    late = summary["late_refusals"]
    if late:
        print("refused only when a kernel failed (KernelError wrapping a raw exception), by op and cause:")
        print("  " + ", ".join(f"{k} {n}" for k, n in list(late.items())[:20]))
    for provider, kinds in summary["refused_where_cpu_ran"].items():
        print(f"{provider} refused where the cpu provider ran ({sum(kinds.values())}), most often:")
        for text, n in list(kinds.items())[:4]:
            print(f"  [{n:>4}] {text}")
    groups = merge_providers(summary["signatures"])
    print(f"{len(summary['signatures'])} distinct failure signatures (provider | verdict | op | detail | where), "
          f"{len(groups)} when the providers sharing one are merged:")
    for rest, items in sorted(groups.items(), key=lambda kv: (-sum(s["count"] for s in kv[1]), kv[0]))[:MAX_PRINTED]:
        first = items[0]
        counts = ", ".join(f"{s['provider']} {s['count']}" for s in items)
        print(f"  {rest}  [{counts}]")
        print(f"      e.g. {first['example_case']}: {'; '.join(first['minimized_case']['notes'])[:160]}")
        if first["repro"]:
            print(f"      repro: {first['repro']}")
    for error in summary["repro_errors"]:
        print(f"could not write a repro: {error}")
    if len(groups) > MAX_PRINTED:
        print(f"  ... {len(groups) - MAX_PRINTED} more in the report")


def merge_providers(signatures: list[dict]) -> dict[str, list[dict]]:
    """Signatures grouped by everything but their provider (one bug often shows on several providers)."""
    groups: dict[str, list[dict]] = {}
    for s in signatures:
        groups.setdefault(s["signature"].split(" | ", 1)[1], []).append(s)
    return groups


def run_in_process(model: bytes, feed: dict, providers: list[str], header: dict) -> None:
    """Run one model on the oracle and each provider in this process and print each result (a crash is the repro)."""
    quiet()
    print(json.dumps(header, indent=2, default=str))
    results = {}
    for p in [ORACLE, "cpu", *[p for p in providers if p != "cpu"]]:
        print(f"--- {p}", flush=True)
        results[p] = run_task({"provider": p, "model": model, "feed": feed})
        r = results[p]
        print(r["status"], r.get("exc_type", ""), r.get("message", "")[:400])
        if r["status"] == "unclear":
            print(r["traceback"])
    for p, v in judge_case(providers, results).items():
        print(f"verdict {p}: {v.verdict} {v.detail} {v.message[:200]}")


def repro(folder: Path, providers: list[str] | None) -> None:
    """Rerun a saved repro folder (model.onnx, feed.npz, case.json)."""
    info = json.loads((folder / "case.json").read_text())
    names = [bytes.fromhex(n) if hexed else n for n, hexed in zip(info["feed_names"], info["feed_names_hex"])]
    with np.load(folder / "feed.npz") as data:
        feed = {name: data[f"arr_{k}"] for k, name in enumerate(names)}
    run_in_process((folder / "model.onnx").read_bytes(), feed, providers or [info["provider"]],
                   {k: info[k] for k in ("signature", "notes", "rerun")})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000, help="number of cases (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="fuzz seed: the same seed gives the same cases")
    parser.add_argument("--providers", help=f"comma list of {', '.join(PROVIDER_SPECS)} (default: all; "
                        "unavailable ones are skipped)")
    parser.add_argument("--seeds", default="default",
                        help="seed models, comma separated: names, default, small, all (adds the whole light zoo)")
    parser.add_argument("--jobs", type=int, default=2, help="worker subprocesses (default 2)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per task before it is a hang")
    parser.add_argument("--memory-gib", type=float, default=4.0, help="address-space cap of each worker")
    parser.add_argument("--time-limit", type=float, default=0.0, help="stop starting cases after this many s")
    parser.add_argument("--report", type=Path, help="write the summary JSON here (repros go beside it)")
    parser.add_argument("--repro-dir", type=Path, help="folder of repros (default: the report path minus .json)")
    parser.add_argument("--no-minimize", action="store_true", help="save repros without minimizing them")
    parser.add_argument("--first-case", type=int, default=0, help="index of the first case")
    parser.add_argument("--case", type=int, help="rebuild case N of --seed and run it in this process")
    parser.add_argument("--repro", type=Path, help="rerun a saved repro folder in this process")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run a campaign, a saved repro, or one rebuilt case."""
    args = parse_args(argv)
    asked = [p for p in (args.providers or ",".join(PROVIDER_SPECS)).split(",") if p]
    if args.repro is not None:
        repro(args.repro, asked if args.providers else None)
        return 0
    providers, skipped = available_providers(asked)
    names = seed_names(args.seeds)
    if args.case is not None:
        case = make_case(args.seed, args.case, names)
        run_in_process(case.model, case.feed, providers, describe_case(case))
        return 0
    repro_dir = args.repro_dir or (args.report.with_suffix("") if args.report else None)
    options = Options(seed=args.seed, cases=args.cases, providers=providers, seed_names=names, jobs=args.jobs,
                      timeout=args.timeout, memory_gib=args.memory_gib, time_limit=args.time_limit,
                      minimize=not args.no_minimize, repro_dir=repro_dir, first_case=args.first_case, progress=True)
    summary = Campaign(options).run()
    summary["skipped_providers"] = skipped
    print_figures(summary, skipped)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(summary, indent=2, default=str))
        print(f"report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
