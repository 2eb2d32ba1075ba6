"""The C operator library is strict C99: every file compiles alone with -pedantic -Wall -Wextra
-Werror, uses nothing beyond libc and <math.h>, never allocates, and its operators run clean under
AddressSanitizer and UndefinedBehaviorSanitizer."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from providers.embedded_c import EmbeddedCExecutionProvider, build
from providers.embedded_c.export import export_model, verify
from tests.embedded_c_helpers import ATOL, RTOL, lenet_model, mlp_model, single_node_model
from tests.test_embedded_c_kernels import CASES

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

C_FILES = sorted(list(build.CSRC.glob("*.c")) + list(build.OPS_DIR.glob("*.c")))
ALL_FILES = C_FILES + sorted(list(build.CSRC.glob("*.h")) + list(build.OPS_DIR.glob("*.h")))


@pytest.mark.parametrize("path", C_FILES, ids=lambda p: p.name)
def test_every_c_file_compiles_strict_c99(path, tmp_path):
    cmd = [build.find_compiler(), *build.STRICT_FLAGS, f"-I{build.CSRC}", f"-I{build.OPS_DIR}",
           "-c", str(path), "-o", str(tmp_path / "x.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_sources_use_only_libc_and_math_and_never_allocate(path):
    text = path.read_text()
    system = set(re.findall(r"#include <([^>]+)>", text))
    assert system <= {"math.h", "stddef.h", "stdint.h", "string.h"}, system
    assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", text)


def test_one_header_per_operator():
    for c in build.OPS_DIR.glob("*.c"):
        assert (build.OPS_DIR / f"{c.stem}.h").exists(), c.name
        assert f'#include "{c.stem}.h"' in c.read_text()


SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def test_operators_run_clean_under_sanitizers(tmp_path):
    rng = np.random.default_rng(0)
    for case, (op, inputs, consts, attrs) in sorted(CASES.items()):
        model = single_node_model(op, inputs, consts=consts, **attrs)
        res = export_model(model, tmp_path / case)
        _, _, got, want = verify(model, res, seed=int(rng.integers(1 << 30)), extra_flags=SANITIZE)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=case)
    for build_model in (mlp_model, lenet_model):
        model = build_model()
        res = export_model(model, tmp_path / build_model.__name__)
        _, _, got, want = verify(model, res, extra_flags=SANITIZE)
        np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)


GUARDS = Path(__file__).parent / "embedded_c" / "kernel_guards.c"


def test_operators_refuse_disagreeing_shapes_and_bad_parameters_under_sanitizers(tmp_path):
    """Each operator checks its descriptors and parameters before touching memory: strides 0, a
    1-element BatchNormalization scale, an output larger than its input... return an error code
    (tests/embedded_c/kernel_guards.c), and nothing reads or writes out of bounds on the way."""
    exe = tmp_path / "guards"
    cmd = [build.find_compiler(), *build.STRICT_FLAGS, "-O1", *SANITIZE, f"-I{build.CSRC}", f"-I{build.OPS_DIR}",
           str(GUARDS), *map(str, C_FILES), "-lm", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "guards OK" in run.stdout, run.stdout + run.stderr[-4000:]
