"""Building the C operator library with the system compiler, cached by a hash of sources and flags.

The library lives in `$EP_RUNTIME_CACHE/embedded_c/<hash>/` (default `~/.cache/ep_runtime/...`):
one object file per source and a shared library of them all. A generated fused function is
compiled against the same objects into its own shared library, cached the same way.

The cache is not trusted because a file exists. Every artefact `f` gets a sidecar `f.sha256`
holding the sha256 of its content, written when it is built; an artefact is used only when its
content matches, and rebuilt otherwise (a truncated or replaced file is never loaded). Builds
write a temporary file in the same folder and rename it into place, under a lock file, so
concurrent processes wait for one another and a crash or a full disk leaves no half-written
artefact. Generated libraries are pruned least recently used first (`prune_cache`, bounded by
`EP_RUNTIME_C_CACHE_MAX_LIBS` and `EP_RUNTIME_C_CACHE_MAX_MB`), and one is unloaded (dlclose)
once no function taken from it is left. The check guards against corruption and stray files, not
against someone who can write the cache folder (they could rewrite the sidecars too): the
folders are created private to the user.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import hashlib
import os
import secrets
import shutil
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ep_runtime.errors import ProviderError

try:
    import fcntl
except ImportError:  # not POSIX: atomic renames alone keep the cache whole
    fcntl = None  # type: ignore[assignment]

CSRC = Path(__file__).parent / "csrc"
OPS_DIR = CSRC / "ops"
#: flags every build uses (ISO C99; no fast-math, so results follow IEEE float)
CFLAGS = ("-std=c99", "-O3", "-fPIC")
#: tuned for the build machine when the compiler accepts it (`EP_RUNTIME_C_NATIVE=0` turns it off):
#: its instruction set, and a * b + c contracted into one fused multiply-add where it has one (ISO C
#: mode leaves them apart, which halves the GEMM's speed; each FMA rounds once instead of twice)
NATIVE_FLAGS = ("-march=native", "-ffp-contract=fast")
#: the strict flags each source must pass (tests/test_embedded_c_csrc.py)
STRICT_FLAGS = ("-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror")

#: default bounds of the cache: generated libraries kept, and total size in MiB
DEFAULT_MAX_LIBS = 256
DEFAULT_MAX_MB = 512
#: a temporary file older than this (seconds) is a leftover of a killed build
STALE_TMP_SECONDS = 3600
BASE_LIBRARY = "libep_c.so"
SIDECAR = ".sha256"

_lock = threading.RLock()
#: base libraries: loaded once per process and kept (per-node sessions call into them)
_loaded: dict[str, ctypes.CDLL] = {}
#: generated libraries: shared while some function taken from them is alive, then unloaded
_generated: weakref.WeakValueDictionary[str, ctypes.CDLL] = weakref.WeakValueDictionary()


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
    """`$EP_RUNTIME_CACHE/embedded_c`, by default `~/.cache/ep_runtime/embedded_c`."""
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


def cache_limits() -> tuple[int, int]:
    """(generated libraries, bytes) the cache keeps at most.

    `EP_RUNTIME_C_CACHE_MAX_LIBS` (default 256) bounds the generated (fused) libraries,
    `EP_RUNTIME_C_CACHE_MAX_MB` (default 512) the total size of the cache.
    """
    return (_env_count("EP_RUNTIME_C_CACHE_MAX_LIBS", DEFAULT_MAX_LIBS),
            _env_count("EP_RUNTIME_C_CACHE_MAX_MB", DEFAULT_MAX_MB) * 1024 * 1024)


def _env_count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ProviderError(f"EmbeddedCExecutionProvider: {name}={raw!r} must be a whole number of at least 1")
    return value


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR)


def _verified(path: Path) -> bool:
    """Whether `path` exists and its content is what its sidecar recorded when it was built."""
    try:
        recorded = _sidecar(path).read_text().strip()
    except OSError:
        return False
    return bool(recorded) and _sha256(path) == recorded


def _tmp_path(dest: Path, suffix: str = "") -> Path:
    """A fresh temporary name beside `dest` (same folder, so the final rename is atomic)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


def _is_tmp(name: str) -> bool:
    return name.startswith(".") and ".tmp" in name


def _publish(tmp: Path, dest: Path) -> None:
    """Record `tmp`'s hash in `dest`'s sidecar, then rename `tmp` to `dest` (each step atomic)."""
    digest = _sha256(tmp)
    if digest is None:
        raise ProviderError(f"EmbeddedCExecutionProvider: the compiler wrote no {tmp.name}")
    side = _sidecar(dest)
    side_tmp = _tmp_path(side)
    try:
        side_tmp.write_text(digest + "\n")
        os.replace(side_tmp, side)
    finally:
        side_tmp.unlink(missing_ok=True)
    os.replace(tmp, dest)


def _discard(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()


def _touch(path: Path) -> None:
    """Mark an artefact as just used (its sidecar's mtime is the cache's LRU clock)."""
    with contextlib.suppress(OSError):
        os.utime(_sidecar(path))


@contextlib.contextmanager
def _file_lock(path: Path, shared: bool = False, wait: bool = True, remove: bool = False) -> Iterator[bool]:
    """Hold a lock file across processes (flock); yields False when `wait` is off and it is taken.

    The lock is taken on the file that is at `path` once locked: a holder may delete the file
    before letting go (`remove`, or a pruner removing a folder), so a waiter that wakes on a
    deleted file takes the new one instead.
    """
    if fcntl is None:
        yield True
        return
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    while True:
        try:
            _make_private_dir(path.parent)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            # a read-only cache: nobody can build in it, so there is nobody to wait for, and what
            # is used from it is still verified; a build in it fails with the compiler's message
            yield True
            return
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield True
    finally:
        if remove:
            _discard(path)
        os.close(fd)


def _make_private_dir(d: Path) -> None:
    """Create `d` and any missing parents, readable and writable by this user only."""
    missing = []
    while not d.exists():
        missing.append(d)
        d = d.parent
    for m in reversed(missing):
        m.mkdir(mode=0o700, exist_ok=True)


def _dlclose(handle: int) -> None:
    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(handle)


def _load_generated(path: Path) -> ctypes.CDLL:
    """dlopen a generated library, to be dlclosed when the CDLL object (and every function taken
    from it, each of which holds it) is garbage."""
    lib = ctypes.CDLL(str(path))
    fin = weakref.finalize(lib, _dlclose, lib._handle)
    fin.atexit = False
    return lib


def prune_cache(keep: Collection[Path] = ()) -> None:
    """Bring the cache within `cache_limits()`, least recently used first; never touches `keep`.

    One least-recently-used order covers generated libraries and base library folders (a
    folder's last use includes its libraries'); a folder goes only while the size bound is
    exceeded and no generated library is left in it. What another process holds (its lock is
    taken) is skipped. Temporary files of builds killed long ago are removed on the way.
    """
    max_libs, max_bytes = cache_limits()
    root = cache_root()
    keep = {Path(k) for k in keep}
    now = time.time()
    generated: list[tuple[float, int, Path]] = []
    bases: dict[Path, list] = {}  # folder -> [last used, bytes, generated count]
    try:
        folders = [d for d in root.iterdir() if d.is_dir() and not d.is_symlink()]
    except OSError:
        return
    for d in folders:
        base_stamp = _sidecar(d / BASE_LIBRARY)
        entry = bases[d] = [_mtime(base_stamp) or _mtime(d), 0, 0]
        for f in _listdir(d):
            name = f.name
            if _is_tmp(name):
                if now - _mtime(f) > STALE_TMP_SECONDS:
                    _discard(f)
                continue
            if name.endswith(".so") and name != BASE_LIBRARY:
                used = _mtime(_sidecar(f)) or _mtime(f)
                generated.append((used, _size(f) + _size(_sidecar(f)), f))
                entry[0] = max(entry[0], used)
                entry[2] += 1
            elif not (name.endswith(".so" + SIDECAR) and name != BASE_LIBRARY + SIDECAR) and \
                    not (name.endswith(".lock") and name != ".lock"):
                entry[1] += _size(f)
    total = sum(g[1] for g in generated) + sum(b[1] for b in bases.values())
    count = len(generated)
    # one LRU order over both kinds; a folder's last use counts its generated libraries', so
    # these come before it
    order = [(used, 0, size, f) for used, size, f in generated] + \
        [(used, 1, size, d) for d, (used, size, _n) in bases.items()]
    for _used, kind, size, path in sorted(order):
        over_count, over_size = count > max_libs, total > max_bytes
        if not (over_count or over_size):
            break
        if path in keep:
            continue
        if kind == 0:
            with _file_lock(path.with_suffix(".lock"), wait=False, remove=True) as got:
                if not got:
                    continue
                _discard(path, _sidecar(path))
            count -= 1
            total -= size
            bases[path.parent][2] -= 1
        elif over_size and not bases[path][2]:
            with _file_lock(path / ".lock", wait=False) as got:
                if not got:
                    continue
                shutil.rmtree(path, ignore_errors=True)
            total -= size


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _listdir(d: Path) -> list[Path]:
    try:
        return list(d.iterdir())
    except OSError:
        return []


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
        self.shared = self.dir / BASE_LIBRARY

    def build(self) -> Path:
        """Compile what is missing or damaged (later calls find the cache) and return the shared library's path."""
        with _lock, _file_lock(self.dir / ".lock"):
            built = self._build_locked()
        if built:
            prune_cache(keep=[self.dir])
        return self.shared

    def _objects_verified(self) -> bool:
        return all(_verified(o) for o in self.objects)

    def _build_locked(self) -> bool:
        """Build every artefact of this library that is not verified; whether anything was built."""
        if _verified(self.shared) and self._objects_verified():
            _touch(self.shared)
            return False
        incs = [f"-I{d}" for d in include_dirs()]

        def compile_one(stem: str) -> None:
            obj = self.dir / f"{stem}.o"
            if _verified(obj):
                return
            tmp = _tmp_path(obj, ".o")
            try:
                _run([self.cc, *self.flags, *incs, "-c", str(self.sources[stem]), "-o", str(tmp)],
                     self.sources[stem].name)
                _publish(tmp, obj)
            finally:
                _discard(tmp)

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(compile_one, sorted(self.sources)))
        tmp = _tmp_path(self.shared, ".so")
        try:
            _run([self.cc, *self.flags, "-shared", "-o", str(tmp), *map(str, self.objects), "-lm"], BASE_LIBRARY)
            _publish(tmp, self.shared)
        finally:
            _discard(tmp)
        return True

    def load(self) -> ctypes.CDLL:
        """The shared library, loaded once per process (rebuilt first when the cached file is damaged)."""
        with _lock:
            path = str(self.shared)
            if path not in _loaded:
                self.build()
                try:
                    _loaded[path] = ctypes.CDLL(path)
                except OSError:
                    _discard(self.shared)
                    self.build()
                    _loaded[path] = _cdll_or_error(self.shared, lambda p: ctypes.CDLL(str(p)))
            return _loaded[path]

    def build_generated(self, source: str, tag: str = "fused") -> ctypes.CDLL:
        """Compile generated C (calling into this library) into its own shared library and load it.

        The library stays loaded while the returned object, or a function taken from it, is
        alive, and is unloaded after. Take functions with `lib["name"]`: `lib.name` caches the
        function on the library, a cycle that only the cyclic garbage collector breaks.
        """
        h = _digest([self.hash.encode(), source.encode()])
        out = self.dir / f"{tag}_{h}.so"
        with _lock:
            lib = _generated.get(str(out))
            if lib is not None:
                _touch(out)
                return lib
            with _file_lock(out.with_suffix(".lock"), remove=True):
                built = False
                if not _verified(out):
                    self._compile_generated(source, out, tag)
                    built = True
                try:
                    lib = _load_generated(out)
                except OSError:
                    self._compile_generated(source, out, tag)
                    built = True
                    lib = _cdll_or_error(out, _load_generated)
                _touch(out)
            _generated[str(out)] = lib
        if built:
            prune_cache(keep=[out, self.dir])
        return lib

    def _compile_generated(self, source: str, out: Path, tag: str) -> None:
        """Compile and link `source` with this library's objects into `out` (published atomically)."""
        for _attempt in range(3):
            self.build()
            # shared: other generated builds may link the same objects meanwhile; a pruner or a
            # rebuild of the objects (exclusive) waits until this link is done
            with _file_lock(self.dir / ".lock", shared=True):
                if not self._objects_verified():
                    continue
                src = _tmp_path(out, ".c")
                tmp = _tmp_path(out, ".so")
                try:
                    try:
                        src.write_text(source)
                    except OSError as exc:
                        raise ProviderError(f"EmbeddedCExecutionProvider: cannot write to the build cache {self.dir} "
                                            f"({exc}); set EP_RUNTIME_CACHE to a writable folder") from exc
                    _run([self.cc, *self.flags, *[f"-I{d}" for d in include_dirs()], "-shared", "-o", str(tmp),
                          str(src), *map(str, self.objects), "-lm"], f"generated {tag} function")
                    _publish(tmp, out)
                finally:
                    _discard(src, tmp)
                return
        raise ProviderError(f"EmbeddedCExecutionProvider: the library objects in {self.dir} keep changing "
                            "while a generated function is linked against them")


def _cdll_or_error(path: Path, load: Callable[[Path], ctypes.CDLL]) -> ctypes.CDLL:
    try:
        return load(path)
    except OSError as exc:
        raise ProviderError(f"EmbeddedCExecutionProvider: cannot load {path} even after rebuilding it: {exc}") from exc
