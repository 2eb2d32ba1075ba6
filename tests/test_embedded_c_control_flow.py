"""If, the comparisons and the logical operators on the embedded C provider (fused, per node, and export)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import GraphOptimizationLevel, InferenceSession, SessionOptions
from providers.embedded_c import build, codegen
from providers.embedded_c.export import export_model, verify

pytestmark = pytest.mark.skipif(build.find_compiler() is None, reason="no C compiler")

RTOL, ATOL = 1e-4, 1e-5


def _session(model: onnx.ModelProto, fused: bool) -> InferenceSession:
    return InferenceSession(model.SerializeToString(),
                            providers=[("embedded_c", {"fused": fused, "poison_outputs": True}), "cpu"])


def _providers(sess: InferenceSession) -> set[str]:
    return {line.split()[2] for line in sess.get_partition().explain().splitlines()[1:] if line.strip()
            and not line.startswith(("nodes per", "subgraphs", "  [", "device copies"))}


def _vi(name: str, dtype: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _streaming_audio() -> onnx.ModelProto:
    sys.path.insert(0, ".")
    from bench import zoo

    return zoo.build("streaming_audio", **zoo.SMALL_SIZES["streaming_audio"])


def _audio_feed(model: onnx.ModelProto, sr: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(sr)
    return {"audio": (rng.standard_normal((1, 512)) * 0.5).astype(np.float32),
            "state": rng.standard_normal((2, 1, 32)).astype(np.float32), "sr": np.asarray(sr, np.int64)}


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "per_node"])
def test_streaming_audio_runs_whole_on_embedded_c_and_matches_onnxruntime_on_both_branches(fused):
    model = _streaming_audio()
    sess = _session(model, fused)
    assert _providers(sess) == {"EmbeddedCExecutionProvider"}
    ref = ort.InferenceSession(model.SerializeToString())
    for sr in (16000, 8000):
        feed = _audio_feed(model, sr)
        for got, want in zip(sess.run(None, feed), ref.run(None, feed)):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_streaming_audio_exports_strict_c99_and_verifies_on_both_branches(tmp_path):
    model = _streaming_audio()
    res = export_model(model, tmp_path / "out", dims={"batch": 1})
    assert res.dtypes["sr"] == np.int64
    header = (tmp_path / "out" / "model.h").read_text()
    assert "const int64_t *in_2" in header
    for src in sorted((tmp_path / "out").glob("*.c")):
        proc = subprocess.run([build.find_compiler(), "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c",
                               str(src), "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    for sr in (16000, 8000):
        _, _, got, want = verify(model, res, {"batch": 1}, feed=_audio_feed(model, sr))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def _if_model(then_out_shape: tuple[int, ...] = (2, 3), nested: bool = True) -> onnx.ModelProto:
    """y, z = If(sum(x) > t): then (Relu(x) * 2 + a nested If's output, the branch's constant c, copied
    into z), else (Neg(x), Abs(x))."""
    c = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "c")
    two = numpy_helper.from_array(np.asarray(2.0, np.float32), "two")
    inner_then = helper.make_graph([helper.make_node("Exp", ["x"], ["ie"])], "inner_then", [],
                                   [_vi("ie", TensorProto.FLOAT, [2, 3])])
    inner_else = helper.make_graph([helper.make_node("Abs", ["r"], ["ia"])], "inner_else", [],
                                   [_vi("ia", TensorProto.FLOAT, [2, 3])])
    then_nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mul", ["r", "two"], ["m"])]
    if nested:  # the inner else-branch reads r, a value local to the outer then-branch
        then_nodes.append(helper.make_node("If", ["flag"], ["inner"], then_branch=inner_then, else_branch=inner_else))
        then_nodes.append(helper.make_node("Add", ["m", "inner"], ["tout"]))
        then_inits = [two]
    else:
        then_nodes.append(helper.make_node("Reshape", ["m", "shape"], ["tout"]))
        then_inits = [two, numpy_helper.from_array(np.asarray(then_out_shape, np.int64), "shape")]
    last = "tout"
    then = helper.make_graph(then_nodes, "then", [], [_vi(last, TensorProto.FLOAT, list(then_out_shape)),
                                                      _vi("c", TensorProto.FLOAT, [2, 3])], then_inits + [c])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["n"]), helper.make_node("Abs", ["x"], ["a"])], "else",
                              [], [_vi("n", TensorProto.FLOAT, [2, 3]), _vi("a", TensorProto.FLOAT, [2, 3])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "t"], ["cond"]),
             helper.make_node("Not", ["cond"], ["ncond"]),
             helper.make_node("Xor", ["cond", "ncond"], ["nflag"]),  # always true
             helper.make_node("And", ["nflag", "flag_in"], ["flag"]),
             helper.make_node("If", ["cond"], ["y", "z"], then_branch=then, else_branch=other)]
    g = helper.make_graph(nodes, "if_model", [_vi("x", TensorProto.FLOAT, [2, 3]), _vi("t", TensorProto.FLOAT, []),
                                              _vi("flag_in", TensorProto.BOOL, [])],
                          [_vi("y", TensorProto.FLOAT, None), _vi("z", TensorProto.FLOAT, [2, 3])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "per_node"])
def test_if_with_a_nested_if_and_a_constant_output_matches_onnxruntime(fused):
    model = _if_model()
    sess = _session(model, fused)
    assert _providers(sess) == {"EmbeddedCExecutionProvider"}
    ref = ort.InferenceSession(model.SerializeToString())
    x = np.array([[1.0, -2.0, 3.0], [-0.5, 0.25, 4.0]], np.float32)
    for t, flag in ((-100.0, True), (-100.0, False), (100.0, True)):  # both inner branches, then the outer else
        feed = {"x": x, "t": np.asarray(t, np.float32), "flag_in": np.asarray(flag)}
        for got, want in zip(sess.run(None, feed), ref.run(None, feed)):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_if_exports_and_verifies_on_both_branches(tmp_path):
    model = _if_model()
    res = export_model(model, tmp_path / "out")
    x = np.array([[1.0, -2.0, 3.0], [-0.5, 0.25, 4.0]], np.float32)
    for t, flag in ((-100.0, True), (-100.0, False), (100.0, True)):
        _, _, got, want = verify(model, res, feed={"x": x, "t": np.asarray(t, np.float32), "flag_in": np.asarray(flag)})
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_if_split_into_parts_keeps_its_steps_and_still_matches(tmp_path, monkeypatch):
    """Parts of at most 2 steps: the If (10 steps with its branches and the nested If) stands whole in the
    last part, its branches' calls numbered on from it (the codes a failing call returns)."""
    monkeypatch.setattr(codegen, "MAX_CALLS_PER_FUNCTION", 2)
    model = _if_model()
    res = export_model(model, tmp_path / "out")
    text = (res.outdir / "model.c").read_text()
    last = text[text.index("model_run_nodes_part3("):]
    assert "model_run_nodes_part4(" not in text and "int taken5;" in last and "int taken8;" in last
    assert "return 15 * 16 + rc;" in last  # step 14: the else-branch's Abs
    x = np.array([[1.0, -2.0, 3.0], [-0.5, 0.25, 4.0]], np.float32)
    for t, flag in ((-100.0, True), (-100.0, False), (100.0, True)):
        _, _, got, want = verify(model, res, feed={"x": x, "t": np.asarray(t, np.float32), "flag_in": np.asarray(flag)})
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_if_whose_branches_give_an_output_different_shapes_is_refused_with_both_shapes():
    model = _if_model(then_out_shape=(3, 2), nested=False)
    sess = _session(model, fused=True)
    explain = sess.get_partition().explain()
    line = next(row for row in explain.splitlines() if " If " in row)
    assert "CPUExecutionProvider" in line
    assert "branches give output 'y' different shapes (then [3, 2], else [2, 3])" in line


def _compare_model() -> onnx.ModelProto:
    ops = ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"]
    nodes, outs = [], []
    for dt, (a, b) in {"f": ("fa", "fb"), "i": ("ia", "ib"), "u": ("ua", "ub")}.items():
        for op in ops:
            nodes.append(helper.make_node(op, [a, b], [f"{op}_{dt}"]))
            outs.append(_vi(f"{op}_{dt}", TensorProto.BOOL, [3, 4]))
    nodes.append(helper.make_node("Equal", ["p", "q"], ["Equal_b"]))
    for op in ("And", "Or", "Xor"):
        nodes.append(helper.make_node(op, ["p", "q"], [f"{op}_b"]))
    nodes.append(helper.make_node("Not", ["p"], ["Not_b"]))
    outs += [_vi(f"{op}_b", TensorProto.BOOL, [3, 4]) for op in ("Equal", "And", "Or", "Xor", "Not")]
    ins = [_vi("fa", TensorProto.FLOAT, [3, 4]), _vi("fb", TensorProto.FLOAT, [4]),
           _vi("ia", TensorProto.INT64, [3, 1]), _vi("ib", TensorProto.INT64, [1, 4]),
           _vi("ua", TensorProto.UINT8, [3, 4]), _vi("ub", TensorProto.UINT8, []),
           _vi("p", TensorProto.BOOL, [3, 4]), _vi("q", TensorProto.BOOL, [4])]
    return helper.make_model(helper.make_graph(nodes, "cmp", ins, outs), opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "per_node"])
def test_comparisons_and_logical_ops_broadcast_like_onnxruntime_nan_included(fused):
    model = _compare_model()
    sess = _session(model, fused)
    assert _providers(sess) == {"EmbeddedCExecutionProvider"}
    rng = np.random.default_rng(0)
    fa = rng.integers(-2, 3, (3, 4)).astype(np.float32)
    fa[0, 0] = np.nan
    feed = {"fa": fa, "fb": np.array([0, 1, np.nan, -1], np.float32),
            "ia": rng.integers(-2, 3, (3, 1)), "ib": rng.integers(-2, 3, (1, 4)),
            "ua": rng.integers(0, 4, (3, 4)).astype(np.uint8), "ub": np.asarray(2, np.uint8),
            "p": rng.integers(0, 2, (3, 4)).astype(bool), "q": np.array([True, False, True, False])}
    ref = ort.InferenceSession(model.SerializeToString())
    for name, got, want in zip([o.name for o in model.graph.output], sess.run(None, feed), ref.run(None, feed)):
        assert got.dtype == np.bool_, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_comparison_of_float64_is_refused_by_dtype_and_runs_on_cpu():
    g = helper.make_graph([helper.make_node("Less", ["p", "q"], ["y"])], "g",
                          [_vi("p", TensorProto.DOUBLE, [2]), _vi("q", TensorProto.DOUBLE, [2])],
                          [_vi("y", TensorProto.BOOL, [2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    sess = _session(model, fused=True)
    line = sess.get_partition().explain().splitlines()[1]
    assert "CPUExecutionProvider" in line and "dtype: Less of float64 unsupported" in line
    got = sess.run(None, {"p": np.array([1.0, 2.0]), "q": np.array([2.0, 2.0])})[0]
    np.testing.assert_array_equal(got, [True, False])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "per_node"])
def test_unfolded_constants_in_both_branches_keep_their_own_values(fused):
    """Optimization off: Constant nodes stay, at the top and in each branch under the same name k."""
    def branch(name: str, value: float) -> onnx.GraphProto:
        k = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.full(3, value, np.float32)))
        return helper.make_graph([k, helper.make_node("Add", ["x", "k"], ["o"])], name, [],
                                 [_vi("o", TensorProto.FLOAT, [3])])

    nodes = [helper.make_node("Constant", [], ["zero"], value_float=0.0),
             helper.make_node("Greater", ["s", "zero"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", 10.0),
                              else_branch=branch("else", -10.0))]
    g = helper.make_graph(nodes, "g", [_vi("x", TensorProto.FLOAT, [3]), _vi("s", TensorProto.FLOAT, [])],
                          [_vi("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    so = SessionOptions()
    so.graph_optimization_level = GraphOptimizationLevel.ORT_DISABLE_ALL
    so.disable_cpu_ep_fallback = True
    sess = InferenceSession(model.SerializeToString(), so, providers=[("embedded_c", {"fused": fused})])
    x = np.array([1.0, 2.0, 3.0], np.float32)
    for s, add in ((1.0, 10.0), (-1.0, -10.0)):
        np.testing.assert_array_equal(sess.run(None, {"x": x, "s": np.asarray(s, np.float32)})[0], x + add)
