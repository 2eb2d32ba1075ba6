"""Shards and the resume state of a batch job's output folder.

A job cuts its rows into shards of `shard_size` consecutive rows. An output folder holds one Parquet
file per completed shard (`part-000007.parquet`), each shard's failed rows (`_errors/part-000007.jsonl`),
the manifest (`_manifest.json`: the job and its completed shards) and, at the end of a run, every failed
row in one file (`_errors.jsonl`). A shard's files are written (atomically) before the manifest records
it, and the manifest is replaced atomically, so a shard is either complete in the manifest or run again:
an interrupted job resumes with the shards the manifest lacks, and no row is written twice.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from .blocks import RowError, ShardResult
from .writer import errors_text, read_errors, result_table, write_parquet_atomic, write_text_atomic

MANIFEST = "_manifest.json"
ERRORS = "_errors.jsonl"
SHARD_ERRORS = "_errors"
_FORMAT = 1


@dataclass(frozen=True)
class Shard:
    """Rows [start, stop) of the input, numbered `index`."""

    index: int
    start: int
    stop: int


def plan_shards(num_rows: int, shard_size: int) -> list[Shard]:
    """The shards of `num_rows` rows, `shard_size` rows each (the last may be shorter)."""
    if shard_size < 1:
        raise InvalidArgument(f"shard_size must be at least 1, got {shard_size}")
    return [Shard(k, lo, min(num_rows, lo + shard_size)) for k, lo in enumerate(range(0, num_rows, shard_size))]


class ShardStore:
    """The output folder of a job: which shards are complete, and the writing of new ones.

    `job` describes the job (model, input, shard size, outputs); a folder holding another job's results
    is refused unless `overwrite` (which deletes them); with `resume=False` the job's own earlier results
    are deleted and every shard runs again."""

    def __init__(self, root: str | os.PathLike, job: dict[str, Any], num_shards: int, *, resume: bool = True,
                 overwrite: bool = False) -> None:
        self.root = Path(root)
        self.job = job
        self.width = max(6, len(str(max(0, num_shards - 1))))
        self.done: dict[int, dict[str, Any]] = {}
        if self.root.exists() and not self.root.is_dir():
            raise InvalidArgument(f"output {str(self.root)!r} is a file: batch results are a folder of Parquet files "
                                  "(give a new path, e.g. out.parquet)")
        manifest = self._read_manifest()
        if manifest is None:
            if self.root.exists() and any(self.root.iterdir()):
                if not overwrite:
                    raise InvalidArgument(f"output folder {str(self.root)!r} is not empty and holds no batch manifest "
                                          f"({MANIFEST}): choose a new output or pass overwrite=True (--overwrite)")
                self._clear()
        elif manifest.get("job") != job:
            if not overwrite:
                differs = sorted(k for k in set(job) | set(manifest.get("job", {}))
                                 if job.get(k) != manifest.get("job", {}).get(k))
                raise InvalidArgument(f"output folder {str(self.root)!r} holds results of another job (it differs in "
                                      f"{', '.join(differs) or 'format'}): choose a new output or pass overwrite=True "
                                      "(--overwrite) to replace them")
            self._clear()
        elif not resume:
            self._clear()
        else:
            self.done = {int(k): v for k, v in manifest.get("shards", {}).items()}
        (self.root / SHARD_ERRORS).mkdir(parents=True, exist_ok=True)

    def part_name(self, shard: int) -> str:
        """The file name of a shard's results."""
        return f"part-{shard:0{self.width}d}.parquet"

    def pending(self, shards: list[Shard]) -> list[Shard]:
        """The shards the manifest does not record as complete."""
        return [s for s in shards if s.index not in self.done]

    def commit(self, result: ShardResult) -> None:
        """Write a shard's results and errors, then record the shard in the manifest."""
        name = None
        if len(result.row_ids):
            name = self.part_name(result.shard)
            write_parquet_atomic(result_table(result), self.root / name)
        errors_path = self.root / SHARD_ERRORS / f"part-{result.shard:0{self.width}d}.jsonl"
        if result.errors:
            write_text_atomic(errors_text(result.errors), errors_path)
        self.done[result.shard] = {"rows": len(result.row_ids), "errors": len(result.errors), "file": name}
        self._write_manifest(complete=False)

    def finish(self, num_shards: int) -> Path:
        """Gather every shard's errors into one file and mark the job complete when every shard is;
        returns the errors file."""
        errors: list[RowError] = []
        for shard in sorted(self.done):
            if self.done[shard]["errors"]:
                errors.extend(read_errors(self.root / SHARD_ERRORS / f"part-{shard:0{self.width}d}.jsonl"))
        path = self.root / ERRORS
        write_text_atomic(errors_text(errors), path)
        self._write_manifest(complete=len(self.done) == num_shards)
        return path

    def files(self) -> list[Path]:
        """The completed shards' result files, in row-id order."""
        return [self.root / self.done[k]["file"] for k in sorted(self.done) if self.done[k]["file"]]

    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.root / MANIFEST
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read the batch manifest {str(path)!r}: {exc}; remove the output folder "
                                  "or pass overwrite=True (--overwrite)") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise InvalidArgument(f"{str(path)!r} is not a batch manifest of this version of ep-runtime; choose a "
                                  "new output or pass overwrite=True (--overwrite)")
        return manifest

    def _write_manifest(self, complete: bool) -> None:
        manifest = {"format": _FORMAT, "job": self.job, "complete": complete,
                    "shards": {str(k): v for k, v in sorted(self.done.items())}}
        write_text_atomic(json.dumps(manifest, indent=1) + "\n", self.root / MANIFEST)

    def _clear(self) -> None:
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name == SHARD_ERRORS:
                shutil.rmtree(entry)
            elif entry.is_file() and (entry.name in (MANIFEST, ERRORS) or
                                      (entry.name.startswith("part-") and entry.suffix == ".parquet") or
                                      entry.name.endswith(".tmp")):
                entry.unlink()
            else:
                raise InvalidArgument(f"output folder {str(self.root)!r} holds {entry.name!r}, which a batch job did "
                                      "not write: not deleting it; choose a new output")
        self.done = {}


def read_output(path: str | os.PathLike) -> Any:
    """A batch output folder as one pyarrow Table in row-id order (the manifest's completed shards)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(path)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{str(root)!r} is not a batch output folder (no readable {MANIFEST}): {exc}") from exc
    shards = manifest.get("shards", {})
    tables = [pq.read_table(root / shards[k]["file"]) for k in sorted(shards, key=int) if shards[k]["file"]]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables)
