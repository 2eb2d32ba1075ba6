"""`predict`: run a model over a dataset, on the local engine or on Ray, into memory or into a
resumable folder of Parquet files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .blocks import RowError, ShardResult
from .runner import Preprocess, RunnerSpec
from .shards import ShardStore, plan_shards
from .signature import model_for_workers, read_signature
from .sources import open_source

ENGINES = ("local", "ray")


@dataclass
class BatchResult:
    """What a batch job did. `num_rows` rows in all, `rows_ok` with outputs, `errors` (RowErrors; with
    an output folder, those of this run's shards: the folder's `_errors.jsonl` has all of them);
    `shards_run` this time and `shards_skipped` because an earlier run completed them; `restarts`:
    pools rebuilt after a worker process died. Without an output folder, `row_ids` and `outputs` (one
    array per output, rows in row-id order) hold the results; with one, `output` and `errors_path`."""

    num_rows: int
    rows_ok: int = 0
    errors: list[RowError] = field(default_factory=list)
    shards_run: int = 0
    shards_skipped: int = 0
    restarts: int = 0
    output: Path | None = None
    errors_path: Path | None = None
    row_ids: np.ndarray | None = None
    outputs: dict[str, np.ndarray] | None = None
    keys: dict[str, np.ndarray] | None = None


def predict(model: str | os.PathLike | bytes | Any, data: Any, *,
            providers: Sequence[str | tuple[str, dict[str, Any]]] | None = None,
            provider_options: Sequence[dict[str, Any]] | None = None, batch_size: int = 64,
            engine: str = "local", workers: int | None = None, address: str | None = None,
            output: str | os.PathLike | None = None, shard_size: int | None = None,
            columns: Mapping[str, str] | None = None, output_names: Sequence[str] | None = None,
            preprocess: Preprocess | None = None, resume: bool = True, overwrite: bool = False,
            progress: bool = False, pool: str = "process", num_gpus: float | None = None, max_attempts: int = 3,
            on_shard: Callable[[ShardResult], None] | None = None) -> BatchResult:
    """Run `model` on every row of `data` and return (or write) the outputs keyed by row id.

    `data`: a numpy array, a dict of arrays by input name, a pyarrow Table, or a path (.npy, .npz,
    .arrow, .parquet, a folder of .parquet files, or a folder of .npy files / images, one row each);
    `columns` maps input names to table columns. Rows run `batch_size` at a time; `shard_size` rows
    (default 16 batches) are the unit of work, of output files and of resume.

    `engine="local"` (default): `workers` processes (default: the CPU count; `pool="thread"` for
    threads). `engine="ray"`: `workers` Ray actors (default 2) on the Ray cluster at `address` (or the
    one already initialised, or a new local one); each actor asks for `num_gpus` GPUs (default 1 when a
    provider is CUDA, else 0). `providers` / `provider_options` are InferenceSession's.

    `output`: a folder (e.g. "out.parquet") of one Parquet file per shard plus a manifest; a rerun
    skips the shards it completed (`resume=False` reruns all, `overwrite=True` replaces another job's
    results). Without it the results are returned in memory. Rows that cannot be read or that the model
    fails on are in `BatchResult.errors` (and `_errors.jsonl`); the others complete. `preprocess(feeds)
    -> feeds` runs on each batch in the worker; `on_shard(result)` is called here after each shard is
    written; `progress` shows a progress bar (tqdm)."""
    if engine not in ENGINES:
        raise InvalidArgument(f"engine must be one of {ENGINES}, got {engine!r}")
    if batch_size < 1:
        raise InvalidArgument(f"batch_size must be at least 1, got {batch_size}")
    if max_attempts < 1:
        raise InvalidArgument(f"max_attempts must be at least 1, got {max_attempts}")
    signature = read_signature(model)
    if signature.max_batch is not None:
        batch_size = min(batch_size, signature.max_batch)
    if output_names is not None:
        for name in output_names:
            if name not in signature.outputs:
                raise InvalidArgument(f"output_names: the model has no output {name!r}; its outputs are "
                                      f"{list(signature.outputs)}")
    source = open_source(data, signature, columns)
    shard_size = shard_size or 16 * batch_size
    shards = plan_shards(source.num_rows, shard_size)
    spec = RunnerSpec(model_for_workers(model), list(providers) if providers else None,
                      list(provider_options) if provider_options else None,
                      list(output_names) if output_names else None, batch_size, preprocess)
    result = BatchResult(source.num_rows)
    store = None
    collected: list[ShardResult] = []
    if output is not None:
        _require_pyarrow_for_output()
        job = {"model": signature.identity, "input": source.identity(), "shard_size": shard_size,
               "outputs": list(output_names or signature.outputs)}
        store = ShardStore(output, job, len(shards), resume=resume, overwrite=overwrite)
        result.output = store.root
    pending = store.pending(shards) if store is not None else shards
    result.shards_skipped = len(shards) - len(pending)
    bar = _progress_bar(progress, source.num_rows, sum(s.stop - s.start for s in shards) -
                        sum(s.stop - s.start for s in pending))

    def accept(shard_result: ShardResult) -> None:
        if store is not None:
            store.commit(shard_result)
        else:
            collected.append(shard_result)
        result.shards_run += 1
        result.rows_ok += len(shard_result.row_ids)
        result.errors.extend(shard_result.errors)
        if bar is not None:
            bar.update(shard_result.num_rows)
            if result.errors:
                bar.set_postfix(errors=len(result.errors), refresh=False)
        if on_shard is not None:
            on_shard(shard_result)

    try:
        if engine == "local":
            from .local import run_local

            result.restarts = run_local(pending, source, spec, accept, workers=workers or os.cpu_count() or 1,
                                        pool=pool, max_attempts=max_attempts)
        else:
            from .ray_engine import run_ray

            gpus = num_gpus if num_gpus is not None else (1.0 if _uses_cuda(providers) else 0.0)
            run_ray(pending, source, spec, accept, actors=workers or 2, address=address, num_gpus=gpus)
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            result.errors_path = store.finish(len(shards))
    result.errors.sort(key=lambda e: e.row_id)
    if store is None:
        _gather(result, collected)
    return result


def _gather(result: BatchResult, collected: list[ShardResult]) -> None:
    parts = sorted((r for r in collected if len(r.row_ids)), key=lambda r: r.shard)
    result.row_ids = np.concatenate([r.row_ids for r in parts]) if parts else np.zeros(0, np.int64)
    first = parts[0] if parts else ShardResult(0, np.zeros(0, np.int64), {})
    result.outputs = {name: np.concatenate([r.outputs[name] for r in parts]) for name in first.outputs}
    result.keys = {name: np.concatenate([r.keys[name] for r in parts]) for name in first.keys}


def _require_pyarrow_for_output() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise InvalidArgument("writing results to an output folder (Parquet) needs pyarrow: "
                              "pip install 'ep-runtime[batch]'") from exc


def _uses_cuda(providers: Sequence[Any] | None) -> bool:
    names = [p[0] if isinstance(p, (tuple, list)) else p for p in providers or []]
    return any(str(n).lower() in ("cuda", "cudaexecutionprovider") for n in names)


def _progress_bar(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise InvalidArgument("progress=True needs tqdm: pip install 'ep-runtime[batch]'") from exc
    return tqdm(total=total, initial=initial, unit="row", desc="batch", dynamic_ncols=True)
