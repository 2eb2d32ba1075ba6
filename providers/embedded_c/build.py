"""Building the C operator library with the system compiler, cached by a hash of sources and flags.

The library lives in `$EP_RUNTIME_CACHE/embedded_c/<hash>/` (default `~/.cache/ep_runtime/...`):
one object file per source and a shared library of them all. A generated fused function is
compiled against the same objects into its own shared library, cached the same way.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ep_runtime.errors import ProviderError

CSRC = Path(__file__).parent / "csrc"
OPS_DIR = CSRC / "ops"
#: flags every build uses (ISO C99; no fast-math, so results follow IEEE float)
CFLAGS = ("-std=c99", "-O3", "-fPIC")
#: tuned for the build machine when the compiler accepts it (`EP_RUNTIME_C_NATIVE=0` turns it off)
NATIVE_FLAGS = ("-march=native",)
#: the strict flags each source must pass (tests/test_embedded_c_csrc.py)
STRICT_FLAGS = ("-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror")

_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL] = {}


def find_compiler() -> str | None:
    """The C compiler: $EP_RUNTIME_CC, $CC, else cc / gcc / clang on PATH."""
    for env in ("EP_RUNTIME_CC", "CC"):
        cand = os.environ.get(env)
        if cand:
            return shutil.which(cand)
    for cand in ("cc", "gcc", "clang"):
        path = shutil.which(cand)
        if path:
            return path
    return None


_native: dict[str, tuple[tuple[str, ...], bytes]] = {}


def native_flags(cc: str) -> tuple[tuple[str, ...], bytes]:
    """(`-march=native`, the target macros it implies) when `cc` accepts it, else ((), b"").

    The macros (`__AVX2__`, `__ARM_NEON`, ...) go into the cache key, so a cache shared between
    machines never hands one a library built for another's instruction set.
    """
    if os.environ.get("EP_RUNTIME_C_NATIVE", "1") == "0":
        return (), b""
    with _lock:
        if cc not in _native:
            try:
                proc = subprocess.run([cc, *NATIVE_FLAGS, "-E", "-dM", "-x", "c", os.devnull],
                                      capture_output=True, timeout=60)
                ok = proc.returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            _native[cc] = (NATIVE_FLAGS, proc.stdout) if ok else ((), b"")
        return _native[cc]


def cache_root() -> Path:
    base = os.environ.get("EP_RUNTIME_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "ep_runtime"
    return root / "embedded_c"


def default_sources() -> dict[str, Path]:
    """Source stem -> path of every default source (support files and one per operator)."""
    found = {p.stem: p for p in sorted(CSRC.glob("*.c"))}
    found.update({p.stem: p for p in sorted(OPS_DIR.glob("*.c"))})
    return found


def include_dirs() -> list[str]:
    return [str(CSRC), str(OPS_DIR)]


def _digest(parts: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:20]


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ProviderError(f"EmbeddedCExecutionProvider: compiling {what} failed ({' '.join(cmd)}):\n"
                            f"{proc.stderr.strip()[:4000]}")


class Library:
    """The operator library for one set of sources (defaults with vendor replacements)."""

    def __init__(self, sources: dict[str, Path], extra_flags: Sequence[str] = ()) -> None:
        cc = find_compiler()
        if cc is None:
            raise ProviderError("EmbeddedCExecutionProvider: no C compiler found (install gcc or clang, or set CC)")
        self.cc = cc
        self.sources = dict(sources)
        native, target = native_flags(cc)
        self.flags = list(CFLAGS) + list(native) + list(extra_flags)
        headers = sorted(CSRC.glob("*.h")) + sorted(OPS_DIR.glob("*.h"))
        parts = [cc.encode(), " ".join(self.flags).encode(), target]
        for stem in sorted(self.sources):
            parts += [stem.encode(), self.sources[stem].read_bytes()]
        for h in headers:
            parts += [h.name.encode(), h.read_bytes()]
        self.hash = _digest(parts)
        self.dir = cache_root() / self.hash
        self.objects = [self.dir / f"{stem}.o" for stem in sorted(self.sources)]
        self.shared = self.dir / "libep_c.so"

    def build(self) -> Path:
        """Compile (once; later calls find the cache) and return the shared library's path."""
        with _lock:
            if self.shared.exists():
                return self.shared
            self.dir.mkdir(parents=True, exist_ok=True)
            incs = [f"-I{d}" for d in include_dirs()]

            def compile_one(stem: str) -> None:
                obj = self.dir / f"{stem}.o"
                if obj.exists():
                    return
                tmp = obj.with_suffix(f".{os.getpid()}.tmp.o")
                _run([self.cc, *self.flags, *incs, "-c", str(self.sources[stem]), "-o", str(tmp)],
                     self.sources[stem].name)
                os.replace(tmp, obj)

            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                list(pool.map(compile_one, sorted(self.sources)))
            tmp = self.shared.with_suffix(f".{os.getpid()}.tmp.so")
            _run([self.cc, *self.flags, "-shared", "-o", str(tmp), *map(str, self.objects), "-lm"], "libep_c.so")
            os.replace(tmp, self.shared)
            return self.shared

    def load(self) -> ctypes.CDLL:
        path = str(self.build())
        with _lock:
            if path not in _loaded:
                _loaded[path] = ctypes.CDLL(path)
            return _loaded[path]

    def build_generated(self, source: str, tag: str = "fused") -> ctypes.CDLL:
        """Compile generated C (calling into this library) into its own shared library and load it."""
        self.build()
        h = _digest([self.hash.encode(), source.encode()])
        out = self.dir / f"{tag}_{h}.so"
        with _lock:
            if not out.exists():
                with tempfile.NamedTemporaryFile("w", suffix=".c", dir=self.dir, delete=False) as f:
                    f.write(source)
                    src = f.name
                try:
                    tmp = out.with_suffix(f".{os.getpid()}.tmp.so")
                    _run([self.cc, *self.flags, *[f"-I{d}" for d in include_dirs()], "-shared", "-o", str(tmp),
                          src, *map(str, self.objects), "-lm"], f"generated {tag} function")
                    os.replace(tmp, out)
                finally:
                    os.unlink(src)
            if str(out) not in _loaded:
                _loaded[str(out)] = ctypes.CDLL(str(out))
            return _loaded[str(out)]
