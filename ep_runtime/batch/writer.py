"""Shard results as Arrow tables and files: a `row_id` column (plus key columns such as `path`), one
column per output (a tensor column for outputs with more than one value per row), written atomically
(a hidden temporary file renamed into place), and read back in row-id order."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .blocks import RowError, ShardResult
from .signature import ROW_ID


def result_table(result: ShardResult) -> Any:
    """A shard's rows as a pyarrow Table: row_id, key columns, then the outputs."""
    import pyarrow as pa

    columns: dict[str, Any] = {ROW_ID: pa.array(result.row_ids, type=pa.int64())}
    for name, values in result.keys.items():
        columns[name] = pa.array(values)
    for name, values in result.outputs.items():
        if name in columns:
            raise InvalidArgument(f"output {name!r} has the name of a key column of the results ({list(columns)}); "
                                  "choose other outputs with output_names=")
        columns[name] = tensor_column(name, values)
    return pa.table(columns)


def tensor_column(name: str, values: np.ndarray) -> Any:
    """An output as an Arrow column: a plain column for one value per row, else a fixed-shape tensor."""
    import pyarrow as pa

    try:
        if values.ndim == 1:
            return pa.array(values)
        return pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(values))
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidArgument(f"output {name!r} ({values.dtype}, rows of shape {list(values.shape[1:])}) cannot be "
                              f"stored in an Arrow column: {exc}") from exc


def column_array(column: Any) -> np.ndarray:
    """A results column back as a numpy array (tensors stacked along the rows)."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(arr.type, pa.FixedShapeTensorType):
        return arr.to_numpy_ndarray()
    return arr.to_numpy(zero_copy_only=False)


def write_parquet_atomic(table: Any, path: Path) -> None:
    """Write `table` to `path` so that `path` is either absent or complete."""
    import pyarrow.parquet as pq

    tmp = _temporary(path)
    try:
        pq.write_table(table, tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_text_atomic(text: str, path: Path) -> None:
    """Write `text` to `path` so that `path` is either its old content or all of `text`."""
    tmp = _temporary(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def errors_text(errors: Iterable[RowError]) -> str:
    """Errors as JSON lines: {"row_id": ..., "stage": ..., "error": ...}."""
    return "".join(json.dumps(e.to_dict()) + "\n" for e in errors)


def read_errors(path: str | os.PathLike) -> list[RowError]:
    """The rows of an errors file (JSON lines) as RowErrors."""
    with open(path, encoding="utf-8") as fh:
        return [RowError(int(d["row_id"]), str(d["stage"]), str(d["error"])) for d in map(json.loads, fh) if d]


def _temporary(path: Path) -> str:
    # a leading dot: Parquet dataset readers skip the file while it is incomplete
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
