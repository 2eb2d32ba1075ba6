"""`ep-runtime run-batch`: batch inference from the command line (docs/batch.md)."""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

from ..cli_providers import add_provider_arguments, provider_list
from ..errors import InvalidArgument


def cmd_run_batch(args: argparse.Namespace) -> int:
    """Run the batch job; exit code 0 when every row of the output has results, 1 when some rows failed."""
    from .api import predict
    from .writer import read_errors

    columns = {}
    for item in args.column:
        name, sep, column = item.partition("=")
        if not name or not sep or not column:
            raise InvalidArgument(f"--column expects INPUT=COLUMN, got {item!r}")
        columns[name] = column
    result = predict(args.model, args.input, providers=provider_list(args), batch_size=args.batch_size,
                     engine=args.engine, workers=args.workers, address=args.address, output=args.output,
                     shard_size=args.shard_size, columns=columns or None, output_names=args.output_name or None,
                     resume=not args.no_resume, overwrite=args.overwrite,
                     progress=not args.no_progress and importlib.util.find_spec("tqdm") is not None,
                     pool=args.pool, num_gpus=args.num_gpus)
    failed = len(read_errors(result.errors_path)) if result.errors_path is not None else len(result.errors)
    print(f"rows: {result.num_rows}; shards run: {result.shards_run}, already complete: {result.shards_skipped}")
    print(f"results: {result.output} ({result.num_rows - failed} rows)")
    if failed:
        print(f"failed rows: {failed}, listed in {result.errors_path}")
    if result.restarts:
        print(f"worker pool restarted {result.restarts} time(s) after a worker died; its shards ran again")
    return 1 if failed else 0


def add_batch_command(subparsers: Any) -> None:
    """Add the `run-batch` subcommand to the `ep-runtime` parser."""
    rb = subparsers.add_parser(
        "run-batch", help="run a model over a dataset (.npy, .npz, .arrow, .parquet, a folder of .parquet / .npy / "
                          "images) into a resumable folder of Parquet files; exit code 1 when some rows failed")
    rb.add_argument("model", help="path to an .onnx file")
    rb.add_argument("--input", required=True, metavar="PATH", help="the rows: a file or a folder")
    rb.add_argument("--output", required=True, metavar="DIR",
                    help="results folder (e.g. out.parquet): one Parquet file per shard, _manifest.json, _errors.jsonl")
    rb.add_argument("--engine", choices=("local", "ray"), default="local", help="local worker pool or Ray actors")
    rb.add_argument("--workers", type=int, metavar="N",
                    help="local workers (default: CPU count) or Ray actors (default: 2)")
    rb.add_argument("--pool", choices=("process", "thread"), default="process", help="local workers: processes "
                    "(default) or threads")
    rb.add_argument("--address", metavar="ADDR", help="Ray cluster to connect to (default: start a local one)")
    rb.add_argument("--num-gpus", type=float, metavar="N",
                    help="GPUs per Ray actor (default: 1 with the CUDA provider, else 0)")
    add_provider_arguments(rb)
    rb.add_argument("--batch-size", type=int, default=64, metavar="N", help="rows per session.run (default 64)")
    rb.add_argument("--shard-size", type=int, metavar="N",
                    help="rows per shard: the unit of work, output files and resume (default 16 batches)")
    rb.add_argument("--column", action="append", default=[], metavar="INPUT=COLUMN",
                    help="the table column that feeds a model input (repeatable)")
    rb.add_argument("--output-name", action="append", default=[], metavar="NAME",
                    help="keep only this output (repeatable; default: all)")
    rb.add_argument("--no-resume", action="store_true", help="rerun every shard instead of skipping completed ones")
    rb.add_argument("--overwrite", action="store_true", help="replace the results of another job in --output")
    rb.add_argument("--no-progress", action="store_true", help="no progress bar (there is none without tqdm)")
    rb.set_defaults(fn=cmd_run_batch)
