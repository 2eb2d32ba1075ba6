"""Building and running the C drivers that test the CPU provider's native kernels under the sanitizers."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from providers.cpu.native import library

CSRC = Path(library.__file__).parent / "csrc"


def build_driver(tmp_path: Path, driver_source: str, sources: Sequence[str], *,
                 sanitizers: str = "address,undefined", no_clones: bool = True) -> Path:
    """Compile `driver_source` with the named files of csrc/ (-std=c99 -pedantic -Wall -Wextra -Werror -O1,
    every parallel call split over threads by EP_TINY_GRAIN; one baseline build with EP_NO_CLONES) and
    `sanitizers`; the executable. Skips without a C compiler, or when ThreadSanitizer cannot build here."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    driver, exe = tmp_path / "driver.c", tmp_path / "driver"
    driver.write_text(driver_source)
    cmd = [cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O1", "-DEP_TINY_GRAIN", "-pthread",
           *(["-DEP_NO_CLONES"] if no_clones else []), f"-fsanitize={sanitizers}", "-fno-sanitize-recover=all",
           "-fno-omit-frame-pointer", f"-I{CSRC}", str(driver), *[str(CSRC / s) for s in sources], "-lm",
           "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 and sanitizers == "thread" and "sanitizer" in proc.stderr.lower():
        pytest.skip(f"ThreadSanitizer unavailable: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return exe


def run_driver(exe: Path, expect: str, timeout: float = 300) -> str:
    """Run a built driver; it must exit 0 and print `expect`. Its standard output."""
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0 and expect in run.stdout, run.stdout + run.stderr[-4000:]
    return run.stdout


@contextmanager
def forced_kernel(force: Callable[[int], int], level: int, name: str) -> Iterator[str]:
    """Force the native micro-kernel `level` through `force` (a library's *_force_kernel) for the block,
    then back to the automatic choice; skips when this CPU cannot run it."""
    if force(level) != level:
        pytest.skip(f"this CPU does not run the {name} kernel")
    try:
        yield name
    finally:
        force(0)
