"""The embedded C build cache is verified, written atomically, bounded and unloaded; large fused
subgraphs compile as several C functions.

Tests that load a damaged or planted cached library run in a subprocess, so a regression that
crashes the process (SIGBUS on a truncated library) fails the test instead of killing pytest.
Every test uses its own cache folder through `EP_RUNTIME_CACHE`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ep_runtime.errors import ProviderError
from providers.embedded_c import EmbeddedCExecutionProvider, build, codegen
from providers.embedded_c.calls import Call
from tests.embedded_c_helpers import ATOL, RTOL, cpu_run, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

ROOT = Path(__file__).resolve().parent.parent
UNARY = ("Relu", "Sigmoid", "Tanh")


def chain_model(n: int, shape: tuple[int, ...] = (2, 8)) -> onnx.ModelProto:
    """A chain of `n` elementwise nodes (unary ops alternating with `+ x`), then an Identity."""
    nodes, prev = [], "x"
    for i in range(n):
        if i % 2:
            nodes.append(helper.make_node("Add", [prev, "x"], [f"v{i}"]))
        else:
            nodes.append(helper.make_node(UNARY[i % 3], [prev], [f"v{i}"]))
        prev = f"v{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def chain_reference(n: int, x: np.ndarray) -> np.ndarray:
    v = x
    for i in range(n):
        if i % 2:
            v = v + x
        else:
            v = [np.maximum(v, 0), 1 / (1 + np.exp(-v)), np.tanh(v)][i % 3]
    return v


#: run in a fresh interpreter: one chain model per mode, printing the largest error as JSON
RUN_CHAIN = """
import json, sys
import numpy as np
from tests.test_embedded_c_cache import chain_model, chain_reference
from tests.embedded_c_helpers import strict_session
errors = {}
for fused in (False, True):
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    got = strict_session(chain_model(5), fused=fused).run(None, {"x": x})[0]
    errors["fused" if fused else "per_node"] = float(np.abs(got - chain_reference(5, x)).max())
print(json.dumps(errors))
"""


@pytest.fixture(scope="module")
def built_base(tmp_path_factory) -> Path:
    """A cache holding the base library, built once for the module's tests to copy."""
    cache = tmp_path_factory.mktemp("base-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("EP_RUNTIME_CACHE", str(cache))
    try:
        build.Library(build.default_sources()).build()
    finally:
        mp.undo()
    return cache


@pytest.fixture
def cache(tmp_path, built_base) -> Path:
    """This test's own cache folder, starting with the base library already built."""
    own = tmp_path / "cache"
    shutil.copytree(built_base, own)
    return own


def run_chain_in_subprocess(cache: Path) -> dict[str, float]:
    env = dict(os.environ, EP_RUNTIME_CACHE=str(cache))
    proc = subprocess.run([sys.executable, "-c", RUN_CHAIN], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def lib_dir(cache: Path) -> Path:
    (d,) = (cache / "embedded_c").iterdir()
    return d


def fused_libraries(cache: Path) -> list[Path]:
    return sorted((cache / "embedded_c").glob("*/fused_*.so"))


def matches_sidecar(path: Path) -> bool:
    recorded = path.with_name(path.name + ".sha256").read_text().strip()
    return hashlib.sha256(path.read_bytes()).hexdigest() == recorded


@pytest.mark.parametrize("target", ["libep_c.so", "fused"])
def test_truncated_cached_library_is_rebuilt_and_runs(cache, target):
    assert max(run_chain_in_subprocess(cache).values()) < 1e-5
    victim = lib_dir(cache) / "libep_c.so" if target == "libep_c.so" else fused_libraries(cache)[0]
    size = victim.stat().st_size
    with open(victim, "r+b") as f:
        f.truncate(size // 2)
    errors = run_chain_in_subprocess(cache)
    assert max(errors.values()) < 1e-5, errors
    assert victim.stat().st_size == size and matches_sidecar(victim)


PLANTED = r"""
#include <stdio.h>
static int mark(void)
{
    FILE *f = fopen(MARKER, "w");
    if (f) {
        fputs("planted code ran", f);
        fclose(f);
    }
    return 0;
}
int ep_fused_run(void *const *io, float *arena) { (void)io; (void)arena; return mark(); }
int ep_relu(const void *x, void *y) { (void)x; (void)y; return mark(); }
int ep_sigmoid(const void *x, void *y) { (void)x; (void)y; return mark(); }
int ep_tanh(const void *x, void *y) { (void)x; (void)y; return mark(); }
int ep_identity(const void *x, void *y) { (void)x; (void)y; return mark(); }
int ep_add(const void *a, const void *b, void *y) { (void)a; (void)b; (void)y; return mark(); }
"""


@pytest.mark.parametrize("target", ["libep_c.so", "fused"])
def test_planted_library_in_the_cache_is_detected_and_never_run(tmp_path, cache, target):
    marker = tmp_path / "marker.txt"
    run_chain_in_subprocess(cache)
    victim = lib_dir(cache) / "libep_c.so" if target == "libep_c.so" else fused_libraries(cache)[0]
    src = tmp_path / "planted.c"
    src.write_text(PLANTED)
    subprocess.run([build.find_compiler(), "-shared", "-fPIC", f'-DMARKER="{marker}"', str(src), "-o", str(victim)],
                   check=True)
    errors = run_chain_in_subprocess(cache)
    assert not marker.exists(), "the planted library was loaded and run"
    assert max(errors.values()) < 1e-5, errors
    assert matches_sidecar(victim)


def test_cached_library_that_matches_its_sidecar_but_fails_to_load_is_rebuilt(cache):
    run_chain_in_subprocess(cache)
    victim = fused_libraries(cache)[0]
    junk = b"not an ELF file"
    victim.write_bytes(junk)
    victim.with_name(victim.name + ".sha256").write_text(hashlib.sha256(junk).hexdigest())
    assert max(run_chain_in_subprocess(cache).values()) < 1e-5
    assert victim.read_bytes() != junk and matches_sidecar(victim)


def test_processes_building_the_same_library_at_once_all_get_a_valid_one(tmp_path):
    env = dict(os.environ, EP_RUNTIME_CACHE=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", RUN_CHAIN], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        assert max(json.loads(out.strip().splitlines()[-1]).values()) < 1e-5
    d = lib_dir(tmp_path)
    assert len(fused_libraries(tmp_path)) == 1
    assert not [f.name for f in d.iterdir() if ".tmp" in f.name]
    artefacts = [f for f in d.iterdir() if f.suffix in (".o", ".so")]
    assert artefacts and all(matches_sidecar(f) for f in artefacts)


def test_compiler_failing_midway_leaves_nothing_half_written(tmp_path, monkeypatch):
    fake = tmp_path / "dying-cc"
    # writes half an object file where it was told to, then fails (like a full disk)
    fake.write_text('#!/bin/sh\nwhile [ $# -gt 1 ]; do [ "$1" = -o ] && printf "\\177ELF" > "$2"; shift; done\n'
                    'echo "No space left on device" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("EP_RUNTIME_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EP_RUNTIME_CC", str(fake))
    lib = build.Library(build.default_sources())
    with pytest.raises(ProviderError, match="No space left on device"):
        lib.build()
    assert sorted(f.name for f in lib.dir.iterdir()) == [".lock"]


def test_fused_cache_keeps_at_most_the_configured_number_of_libraries(cache, monkeypatch):
    monkeypatch.setenv("EP_RUNTIME_CACHE", str(cache))
    monkeypatch.setenv("EP_RUNTIME_C_CACHE_MAX_LIBS", "3")
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    made = []
    for n in range(1, 9):
        sess = strict_session(chain_model(n), fused=True)
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], chain_reference(n, x), rtol=RTOL, atol=ATOL)
        made.append(sorted(set(fused_libraries(cache)) - {p for ps in made for p in ps}))
        del sess
        time.sleep(0.01)  # distinct mtimes: the sidecars' mtimes are the LRU clock
    kept = fused_libraries(cache)
    assert len(kept) == 3
    assert set(kept) == {p for ps in made[-3:] for p in ps}, "the least recently used were not the ones removed"
    names = [f.name for f in lib_dir(cache).iterdir()]
    assert len([n for n in names if n.startswith("fused_")]) == 6, names  # each library and its sidecar
    # the first model's library was pruned: it is rebuilt, and still right
    sess = strict_session(chain_model(1), fused=True)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], chain_reference(1, x), rtol=RTOL, atol=ATOL)
    assert len(fused_libraries(cache)) == 3


def _fake_entry(folder: Path, name: str, size: int, used: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / name
    f.write_bytes(b"\0" * size)
    side = folder / (name + ".sha256")
    side.write_text("0" * 64)
    os.utime(side, (used, used))
    return f


def test_prune_removes_least_recently_used_until_within_the_size_bound(tmp_path, monkeypatch):
    monkeypatch.setenv("EP_RUNTIME_CACHE", str(tmp_path))
    monkeypatch.setenv("EP_RUNTIME_C_CACHE_MAX_MB", "1")
    root, mb, now = tmp_path / "embedded_c", 1024 * 1024, time.time()
    old_base = _fake_entry(root / "old", "libep_c.so", mb // 2, now - 300).parent
    kept_base = _fake_entry(root / "kept", "libep_c.so", mb // 2, now - 400).parent
    new_base = _fake_entry(root / "new", "libep_c.so", mb // 4, now - 10).parent
    old_lib = _fake_entry(new_base, "fused_a.so", mb // 8, now - 200)
    new_lib = _fake_entry(new_base, "fused_b.so", mb // 8, now - 5)
    stale_tmp = new_base / ".fused_c.so.1.ab.tmp.so"
    stale_tmp.write_bytes(b"half")
    os.utime(stale_tmp, (now - 2 * build.STALE_TMP_SECONDS, now - 2 * build.STALE_TMP_SECONDS))
    build.prune_cache(keep=[kept_base])
    assert kept_base.exists() and new_lib.exists() and new_base.exists()
    assert not old_base.exists() and not old_lib.exists() and not stale_tmp.exists()


@pytest.mark.parametrize("value", ["many", "0", "-3"])
def test_invalid_cache_bound_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("EP_RUNTIME_C_CACHE_MAX_LIBS", value)
    with pytest.raises(ProviderError, match=f"EP_RUNTIME_C_CACHE_MAX_LIBS='{value}' must be a whole number"):
        build.cache_limits()


def _mapped(path: Path) -> bool:
    return str(path) in Path("/proc/self/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc/self/maps to see loaded libraries")
def test_fused_library_is_unloaded_once_no_session_uses_it(cache, monkeypatch):
    monkeypatch.setenv("EP_RUNTIME_CACHE", str(cache))
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    first = strict_session(chain_model(4), fused=True)
    second = strict_session(chain_model(4), fused=True)
    (path,) = fused_libraries(cache)
    assert _mapped(path)
    del first
    gc.collect()
    assert _mapped(path), "unloaded while a session could still call it"
    np.testing.assert_allclose(second.run(None, {"x": x})[0], chain_reference(4, x), rtol=RTOL, atol=ATOL)
    del second
    gc.collect()
    assert not _mapped(path)


def test_large_fused_subgraph_is_split_into_several_functions_and_matches_cpu(cache, monkeypatch):
    monkeypatch.setenv("EP_RUNTIME_CACHE", str(cache))
    sources: list[str] = []
    real = build.Library.build_generated

    def spy(self, source, tag="fused"):
        sources.append(source)
        return real(self, source, tag)

    monkeypatch.setattr(build.Library, "build_generated", spy)
    model = chain_model(600)
    sess = strict_session(model, fused=True)
    (src,) = sources
    parts = src.count("int ep_fused_run_part")
    assert parts >= 600 // codegen.MAX_CALLS_PER_FUNCTION, parts
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)


def test_split_functions_report_the_failing_call_by_its_index_in_the_whole_sequence():
    calls = [Call("ep_relu", "relu", [("t", f"v{k}"), ("t", f"v{k + 1}")], inputs=[f"v{k}"], outputs=[f"v{k + 1}"])
             for k in range(7)]
    shapes = {f"v{k}": (4,) for k in range(8)}
    lines = codegen.emit_functions(calls, [f"n{k}" for k in range(7)], shapes, lambda n: f"io[{n[1:]}]",
                                   lambda k: "NULL", "run", "void *const *io, float *arena", max_calls=3)
    text = "\n".join(lines)
    assert [ln for ln in lines if ln.startswith("int run(")] == ["int run(void *const *io, float *arena);",
                                                                   "int run(void *const *io, float *arena)"]
    assert text.count("EP_PART int run_part") == 6  # three parts, each declared and defined
    part2 = text[text.index("EP_PART int run_part2(void *const *io, float *arena)\n"):]
    assert "return 7 * 16 + rc;" in part2 and "/* 6: n6 */" in part2  # call 6 is the 7th of the sequence
    assert text.count("rc = run_part") == 3


@pytest.mark.slow
def test_two_thousand_node_fused_subgraph_compiles_and_matches_cpu(cache, monkeypatch):
    monkeypatch.setenv("EP_RUNTIME_CACHE", str(cache))
    model = chain_model(2000)
    sess = strict_session(model, fused=True)
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)
