"""The Ray engine: shards run on a pool of Ray actors through `ray.data` `map_batches`.

Each actor is an instance of `RayShardActor` holding one session (the providers and their options
travel with it; actors ask for GPUs when the provider is CUDA). The dataset is the list of pending
shards; an actor reads its shard from the source (put once in Ray's object store; a Parquet or
folder source is read on the actor's node, so the paths must be reachable there) and returns the
shard's results, which this process writes. Ray restarts an actor that dies and runs its task again
(up to `max_attempts` times), and results are written only here, once per shard, so a killed actor
loses and duplicates no row.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import EPRuntimeError, InvalidArgument
from .blocks import ShardResult
from .local import WorkerDied
from .runner import RunnerSpec, ShardRunner
from .shards import Shard
from .sources import Source


def import_ray() -> Any:
    """The `ray` module with `ray.data`, or an InvalidArgument saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise InvalidArgument("engine='ray' needs Ray Data: pip install 'ep-runtime[ray]' "
                              f"(importing it failed: {exc})") from exc
    return ray


class RayShardActor:
    """The callable class of `map_batches`: one session per actor, built on its first shard (so that
    a model that fails to load fails the job with its own error instead of restarting actors)."""

    def __init__(self, source: list[Any], spec: RunnerSpec) -> None:
        import ray

        self.source: Source = ray.get(source[0])
        self.spec = spec
        self.runner: ShardRunner | None = None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the shards of `batch` (columns shard, start, stop); one pickled ShardResult per shard, or
        the ep-runtime error that stops the job (Ray would wrap it, losing its type)."""
        payloads = []
        for index, start, stop in zip(batch["shard"], batch["start"], batch["stop"]):
            try:
                if self.runner is None:
                    self.runner = ShardRunner(self.spec)
                block = self.source.read(int(start), int(stop))
                result: ShardResult | EPRuntimeError = self.runner.run(int(index), block)
            except EPRuntimeError as exc:
                result = exc
            payloads.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        return {"shard": np.asarray(batch["shard"]), "result": np.array(payloads, dtype=object)}


def run_ray(pending: list[Shard], source: Source, spec: RunnerSpec, on_result: Callable[[ShardResult], None], *,
            actors: int, address: str | None = None, num_gpus: float = 0) -> None:
    """Run `pending` shards on `actors` Ray actors, handing each result to `on_result` in this process.
    Uses the Ray already initialised here, else connects to `address`, else starts a local Ray (shut
    down again at the end)."""
    ray = import_ray()
    if actors < 1:
        raise InvalidArgument(f"workers (Ray actors) must be at least 1, got {actors}")
    if not pending:
        return
    started = not ray.is_initialized()
    if started:
        local = {} if address else {"include_dashboard": False}  # options a cluster connection refuses
        ray.init(address=address, configure_logging=False, **local)
    context = ray.data.DataContext.get_current()
    saved_bars = context.enable_progress_bars
    context.enable_progress_bars = False
    try:
        items = [{"shard": s.index, "start": s.start, "stop": s.stop} for s in pending]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            RayShardActor, fn_constructor_kwargs={"source": [ray.put(source)], "spec": spec}, batch_size=1,
            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1,
            num_gpus=num_gpus or None)
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for payload in batch["result"]:
                    result = pickle.loads(payload)
                    if isinstance(result, EPRuntimeError):
                        raise result
                    on_result(result)
        except EPRuntimeError:
            raise
        except Exception as exc:
            if type(exc).__name__ in ("ActorDiedError", "RayActorError", "ActorUnavailableError"):
                raise WorkerDied(f"a Ray actor died and Ray gave up on its shard ({exc}); completed shards are saved, "
                                 "a rerun resumes with the rest") from exc
            raise
    finally:
        context.enable_progress_bars = saved_bars
        if started:
            ray.shutdown()

