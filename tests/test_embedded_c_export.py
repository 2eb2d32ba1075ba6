"""`ep-runtime export-c` writes a standalone C99 folder (no malloc, one static arena planned by
liveness) that builds with `cc -std=c99 *.c -lm` and computes what the cpu provider computes."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ep_runtime.cli import main
from providers.embedded_c import EmbeddedCExecutionProvider, build, codegen
from providers.embedded_c.calls import Call
from providers.embedded_c.codegen import plan_arena
from providers.embedded_c.export import ExportError, build_folder, export_model, run_folder, verify
from tests.embedded_c_helpers import ATOL, RTOL, lenet_model, mlp_model, single_node_model
from tests.test_embedded_c_models import DATA, ILL_CONDITIONED_SOFTMAX, LIGHT

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")
FAST_EXPORT = {"squeezenet", "shufflenet"}


@pytest.mark.parametrize("build_model", [mlp_model, lenet_model], ids=["mlp", "lenet"])
def test_exported_model_matches_cpu_provider(tmp_path, build_model):
    model = build_model()
    res = export_model(model, tmp_path / "out")
    abs_err, _, got, want = verify(model, res)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_folder_builds_with_plain_cc_and_has_no_malloc(tmp_path):
    out = tmp_path / "out"
    export_model(lenet_model(), out)
    sources = sorted(p.name for p in out.glob("*.c"))
    assert {"model.c", "main.c", "conv.c", "ep_tensor.c"} <= set(sources)
    for p in out.glob("*.[ch]"):
        assert "malloc" not in p.read_text(), p.name
    subprocess.run([build.find_compiler(), "-std=c99", *sources, "-lm", "-o", "prog"], cwd=out, check=True)
    run = subprocess.run([str(out / "prog")], capture_output=True, text=True, check=True)
    assert "model_run returned 0" in run.stdout
    header = (out / "model.h").read_text()
    assert "int model_run(const float *in_0, float *out_0);" in header
    assert "#define MODEL_ARENA_BYTES" in header and "#define MODEL_INPUT_0_SIZE 1568" in header


def test_arena_shares_memory_between_values_whose_lifetimes_do_not_overlap():
    calls = [Call("f", "f", [], inputs=["x"], outputs=["a"]), Call("f", "f", [], inputs=["a"], outputs=["b"]),
             Call("f", "f", [], inputs=["b"], outputs=["c"]), Call("f", "f", [], inputs=["c"], outputs=["y"])]
    plan = plan_arena(calls, {"a", "b", "c"}, {"a": 400, "b": 400, "c": 400})  # bytes: 100 floats each
    assert plan.offsets["a"] == plan.offsets["c"] != plan.offsets["b"]
    assert plan.size == 896 and plan.total_intermediate == 1200  # two blocks of 448 (64-byte aligned)


def test_export_reports_arena_weights_and_per_node_table(tmp_path, capsys):
    path = tmp_path / "lenet.onnx"
    onnx.save(lenet_model(), path)
    assert main(["export-c", str(path), "-o", str(tmp_path / "out"), "--verify"]) == 0
    text = capsys.readouterr().out
    assert "arena:" in text and "weights:" in text and "sum of intermediate sizes:" in text
    assert "Conv" in text and "ram (arena slice)" in text
    assert "verify:" in text and "largest abs error" in text and "OK" in text


def test_hostile_names_never_reach_the_c_source_unsanitised(tmp_path):
    names = {"x": 'in"put\n*/ int', "c1": "*/ #include <stdlib.h> /*", "r1": "while", "p1": "a\\\nb",
             "f": "??/", "y": 'out" */ x'}
    model = lenet_model(names=names)
    res = export_model(model, tmp_path / "out")
    _, _, got, want = verify(model, res)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)
    text = "".join(p.read_text() for p in (tmp_path / "out").glob("*.[ch]"))
    for raw in ('in"put', "#include <stdlib.h>", "??/", 'out" */', "a\\\nb"):
        assert raw not in text, raw


def test_all_unsupported_nodes_are_listed_at_once(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Hardmax", ["a"], ["b"], name="erf1"),
             helper.make_node("LpNormalization", ["b"], ["c"], name="abs1"), helper.make_node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ExportError) as exc:
        export_model(model, tmp_path / "out")
    assert "'erf1' (Hardmax)" in str(exc.value) and "'abs1' (LpNormalization)" in str(exc.value)


def test_symbolic_dims_are_pinned_with_dim(tmp_path, capsys):
    model = single_node_model("Relu", {"x": ("batch", 3)})
    with pytest.raises(ExportError, match="--dim"):
        export_model(model, tmp_path / "a")
    res = export_model(model, tmp_path / "b", dims={"batch": 4})
    assert res.inputs[0][1] == (4, 3)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert main(["export-c", str(path), "-o", str(tmp_path / "c"), "--dim", "batch=2", "--verify"]) == 0


@pytest.mark.parametrize("name", [n if n in FAST_EXPORT else pytest.param(n, marks=pytest.mark.slow) for n in LIGHT])
def test_light_model_exports_and_matches_cpu_provider(tmp_path, name):
    model = onnx.load(os.path.join(DATA, f"light_{name}.onnx"))
    res = export_model(model, tmp_path / "out")
    abs_err, _, got, want = verify(model, res)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ILL_CONDITIONED_SOFTMAX.get(name, ATOL))


def test_exported_folder_is_strict_c99_and_weights_are_string_tables(tmp_path):
    out = tmp_path / "out"
    export_model(lenet_model(), out)
    weights = (out / "weights_0.c").read_text()
    assert '"\\x' in weights and "f," not in weights  # byte strings, not float literals
    cc = build.find_compiler()
    for src in sorted(out.glob("*.c")):
        subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c", src.name, "-o",
                        str(tmp_path / (src.stem + ".o"))], cwd=out, check=True)


def test_weights_of_every_float_survive_the_byte_tables(tmp_path):
    """NaN, infinities, -0.0, denormals and extremes read back bit for bit from the exported tables."""
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38, -1.17e-38, 0.1], np.float32)
    model = single_node_model("Add", {"x": (8,)}, (8,), consts={"c": special})
    res = export_model(model, tmp_path / "out")
    exe = build_folder(res.outdir)
    got = run_folder(exe, [np.full(8, -0.0, np.float32)], [(8,)])[0]  # x + -0.0 is x, bit for bit
    np.testing.assert_array_equal(got.view(np.uint32), special.view(np.uint32))


def test_big_model_run_is_split_into_parts_and_still_matches(tmp_path, monkeypatch):
    monkeypatch.setattr(codegen, "MAX_CALLS_PER_FUNCTION", 2)  # lenet: 9 calls (its Conv+Relu pairs are one each)
    model = lenet_model()
    res = export_model(model, tmp_path / "out")
    text = (res.outdir / "model.c").read_text()
    assert "model_run_nodes_part3(" in text
    _, _, got, want = verify(model, res)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)


def test_symbolic_batch_model_exports_with_dim_and_matches(tmp_path):
    from tests.test_embedded_c_specialise import with_symbolic_dim

    model = with_symbolic_dim(lenet_model(), 0, "N")
    res = export_model(model, tmp_path / "out", dims={"N": 3})
    assert res.inputs[0][1] == (3, 1, 28, 28) and res.outputs[0][1] == (3, 10)
    _, _, got, want = verify(model, res, dims={"N": 3})
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_resnet50_size_export_builds_with_o2(tmp_path):
    """A resnet50-size export (25M weights, 120 nodes after folding) compiles; see docs/embedded-c.md for times."""
    model = onnx.load(os.path.join(DATA, "light_resnet50.onnx"))
    res = export_model(model, tmp_path / "out")
    assert res.weight_bytes > 90_000_000
    exe = build_folder(res.outdir, opt="-O2")
    assert exe.exists()
