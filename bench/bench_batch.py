"""Batch inference throughput: rows/s of ep_runtime.batch.predict on a light model.

Runs examples/models/tiny_cnn.onnx (1x3x32x32 -> 10 classes) over `--rows` seeded random images (a
temporary .npy file, memory-mapped and read by the workers themselves; `--in-memory` passes the array,
whose shards the calling process then sends to worker processes) with
the local engine (1 and 2 worker processes, and 1 and 2 worker threads) and the Ray engine (1 and 2
actors, on a local Ray started once with `--ray-cpus` CPUs, so Ray's own start-up is not counted).
For reference it also times one in-process session running the same batches in a plain loop.

For each configuration it prints:

| column | meaning |
|---|---|
| `rows/s` | all rows over the wall time of `predict`, worker / actor start-up included |
| `steady rows/s` | rows completed after the first shard over the time since: the pool's pace once started |
| `start s` | time from the call to the first completed shard (start-up plus one shard) |
| `vs loop` | `steady rows/s` over the in-process loop's rows/s |

Usage:

    python bench/bench_batch.py                      # 20000 rows, batch 64, shards of 1024 rows
    python bench/bench_batch.py --rows 50000 --no-ray --json batch.json

Nothing here asserts a timing; it only measures and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "models" / "tiny_cnn.onnx"


def timed_predict(x: np.ndarray | str, num_rows: int, **kwargs: Any) -> dict[str, float]:
    """Wall time, time to the first shard, and rows after it, of one predict call."""
    from ep_runtime.batch import predict

    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    result = predict(MODEL, x, on_shard=lambda r: marks.append((time.perf_counter(), r.num_rows)), **kwargs)
    wall = time.perf_counter() - t0
    assert result.rows_ok == num_rows and not result.errors, "the benchmark run lost rows"
    first, first_rows = marks[0]
    steady = (num_rows - first_rows) / (marks[-1][0] - first) if len(marks) > 1 else float("nan")
    return {"rows/s": num_rows / wall, "steady rows/s": steady, "start s": first - t0}


def loop_rows_per_second(x: np.ndarray, batch_size: int) -> float:
    """Rows/s of one in-process session running the batches in a plain loop (after a warm-up batch)."""
    from ep_runtime import InferenceSession

    sess = InferenceSession(str(MODEL))
    sess.run(None, {"image": x[:batch_size]})
    t0 = time.perf_counter()
    for lo in range(0, len(x), batch_size):
        sess.run(None, {"image": x[lo:lo + batch_size]})
    return len(x) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=1024)
    parser.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray started for the benchmark")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray engine")
    parser.add_argument("--in-memory", action="store_true", help="pass the numpy array instead of a .npy file")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    x = np.random.default_rng(0).standard_normal((args.rows, 3, 32, 32)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        data: np.ndarray | str = x
        if not args.in_memory:
            data = os.path.join(tmp, "rows.npy")
            np.save(data, x)
        rows = run_all(args, x, data)
    loop = rows[0][1]["rows/s"]
    print(f"{'configuration':<30} {'rows/s':>9} {'steady rows/s':>14} {'start s':>8} {'vs loop':>8}")
    for name, figures in rows:
        print(f"{name:<30} {figures['rows/s']:>9.0f} {figures['steady rows/s']:>14.0f} {figures['start s']:>8.2f} "
              f"{figures['steady rows/s'] / loop:>8.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": args.rows, "batch_size": args.batch_size, "shard_size": args.shard_size,
                       "in_memory": args.in_memory, "results": dict(rows)}, fh, indent=1)
    return 0


def run_all(args: argparse.Namespace, x: np.ndarray, data: np.ndarray | str) -> list[tuple[str, dict[str, float]]]:
    """The figures of every configuration, the in-process loop first."""
    common = {"batch_size": args.batch_size, "shard_size": args.shard_size}
    print(f"model: {MODEL.name}; {args.rows} rows, batch {args.batch_size}, shards of {args.shard_size} rows; "
          f"{os.cpu_count()} CPUs; Python {platform.python_version()}; input: "
          f"{'numpy array' if args.in_memory else '.npy file'}")
    loop = loop_rows_per_second(x, args.batch_size)
    rows: list[tuple[str, dict[str, float]]] = [("in-process loop, 1 session", {"rows/s": loop, "steady rows/s": loop,
                                                                                 "start s": 0.0})]
    for pool in ("process", "thread"):
        for workers in (1, 2):
            rows.append((f"local, {workers} {pool}{'es' if pool == 'process' else 's'}",
                         timed_predict(data, args.rows, workers=workers, pool=pool, **common)))
    if not args.no_ray:
        try:
            import ray
        except ImportError:
            print("Ray is not installed (pip install 'ep-runtime[ray]'): leaving out the Ray engine")
        else:
            ray.init(num_cpus=args.ray_cpus, include_dashboard=False, configure_logging=False, log_to_driver=False)
            try:
                for actors in (1, 2):
                    rows.append((f"ray, {actors} actor{'s' if actors > 1 else ''}",
                                 timed_predict(data, args.rows, engine="ray", workers=actors, **common)))
            finally:
                ray.shutdown()
    return rows


if __name__ == "__main__":
    sys.exit(main())
