"""One worker's job, the same in every engine: hold one session, run a block of rows through it in
batches, and when a batch fails, run its rows one by one so that only the bad rows are lost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .blocks import RowBlock, RowError, ShardResult

#: a user function applied to each batch's feeds in the worker, before the session runs
Preprocess = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class OutputNotBatched(InvalidArgument):
    """An output whose first dim is not the batch: its rows cannot be told apart, so the job stops."""


@dataclass(frozen=True)
class RunnerSpec:
    """Everything a worker needs to build its session: the model (path or bytes), providers and
    their options, the output names to keep (None: all), rows per `session.run`, an optional
    preprocessing function, and the BLAS threads each worker may use (None: the default)."""

    model: str | bytes
    providers: Sequence[Any] | None
    provider_options: Sequence[dict[str, Any]] | None
    output_names: Sequence[str] | None
    batch_size: int
    preprocess: Preprocess | None = None
    intra_op_threads: int | None = None


class ShardRunner:
    """One session and the loop that runs blocks of rows through it."""

    def __init__(self, spec: RunnerSpec) -> None:
        from ..session import InferenceSession, SessionOptions

        options = SessionOptions()
        if spec.intra_op_threads:
            options.intra_op_num_threads = spec.intra_op_threads
        self.spec = spec
        providers = list(spec.providers) if spec.providers else None
        self.session = InferenceSession(spec.model, options, providers=providers,
                                        provider_options=spec.provider_options)
        self.output_names = list(spec.output_names or [o.name for o in self.session.get_outputs()])

    def run(self, shard: int, block: RowBlock) -> ShardResult:
        """The results of `block` as shard `shard`: batches of `batch_size` rows, each failed batch
        retried row by row; every row ends in the outputs or in the errors."""
        n = len(block.row_ids)
        kept: list[np.ndarray] = []
        outputs: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        errors = list(block.errors)
        step = max(1, self.spec.batch_size)
        for lo in range(0, n, step):
            batch = block.take(slice(lo, min(n, lo + step)))
            try:
                results = [self._run(batch)]
                kept.append(np.arange(lo, lo + len(batch.row_ids)))
            except OutputNotBatched:
                raise
            except Exception:  # a batch fails as a whole: find its bad rows one by one
                results = []
                for i in range(len(batch.row_ids)):
                    try:
                        results.append(self._run(batch.take(slice(i, i + 1))))
                    except OutputNotBatched:
                        raise
                    except Exception as exc:
                        errors.append(RowError(int(batch.row_ids[i]), "run", f"{type(exc).__name__}: {exc}"))
                        continue
                    kept.append(np.array([lo + i]))
            for result in results:
                for name, value in zip(self.output_names, result):
                    outputs[name].append(value)
        positions = np.concatenate(kept) if kept else np.zeros(0, dtype=np.intp)
        rows = block.take(positions)
        stacked = {}
        for name, parts in outputs.items():
            try:
                stacked[name] = np.concatenate(parts) if parts else np.zeros(0)
            except ValueError as exc:
                raise OutputNotBatched(f"output {name!r} has rows of different shapes across batches "
                                       f"({sorted({p.shape[1:] for p in parts})}); batch results must have one shape "
                                       "per row") from exc
        errors.sort(key=lambda e: e.row_id)
        return ShardResult(shard, rows.row_ids, stacked, rows.keys, errors)

    def _run(self, batch: RowBlock) -> list[np.ndarray]:
        feeds = batch.feeds
        if self.spec.preprocess is not None:
            feeds = self.spec.preprocess(dict(feeds))
        results = self.session.run(self.output_names, feeds)
        n = len(batch.row_ids)
        for name, value in zip(self.output_names, results):
            if not isinstance(value, np.ndarray):
                raise OutputNotBatched(f"output {name!r} is a {type(value).__name__}, not a tensor: batch inference "
                                       "writes tensor outputs (choose outputs with output_names= / --output-name)")
            if value.ndim == 0 or value.shape[0] != n:
                raise OutputNotBatched(f"output {name!r} has shape {list(value.shape)} for a batch of {n} row(s): its "
                                       "first dim is not the batch, so its rows cannot be told apart")
        return results
