"""What the fetch scripts share: a cache folder named by an environment variable, pip run by this
interpreter, and their common command-line options."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def cache_folder(env: str, name: str) -> Path:
    """$`env` when set, else ~/.cache/ep_runtime/`name`."""
    value = os.environ.get(env)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "ep_runtime" / name


def pip(*args: str) -> None:
    """Run this interpreter's pip with `args` (no version check); a failure raises CalledProcessError."""
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def fetch_parser(doc: str, env: str, name: str) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of `doc`, with --cache (default $`env`, else
    ~/.cache/ep_runtime/`name`) and --find-links."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"cache folder (default: ${env}, else ~/.cache/ep_runtime/{name})")
    parser.add_argument("--find-links", action="append", default=[], metavar="DIR",
                        help="also look for wheels in DIR (repeatable)")
    return parser
