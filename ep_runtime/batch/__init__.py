"""Batch inference over datasets: `predict(model, data, ...)` streams rows through sessions on a local
pool of workers or on Ray actors, keeps each row's id, records failing rows, and writes resumable
Parquet output (docs/batch.md). `ep-runtime run-batch` is its command line."""

from .api import ENGINES, BatchResult, predict
from .blocks import RowError, ShardResult
from .local import WorkerDied
from .runner import OutputNotBatched
from .shards import read_output
from .signature import ROW_ID
from .sources import Source, open_source
from .writer import column_array, read_errors

__all__ = ["ENGINES", "ROW_ID", "BatchResult", "OutputNotBatched", "RowError", "ShardResult", "Source", "WorkerDied",
           "column_array", "open_source", "predict", "read_errors", "read_output"]
