"""An LSTM or GRU whose W and R are constants reads them transposed once at lowering time (`ep_lstm_rt`,
`ep_gru_rt`): same results as the kernel that reads them as they are (R given at run time), the model's W and R
no longer carried, and a vendor kernel of the op still gets the default call on them (docs/embedded-c.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from ep_runtime import GraphOptimizationLevel
from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider, build
from providers.embedded_c.calls import Call
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.lowering import lower
from providers.embedded_c.quant import settle_packed
from tests.embedded_c_helpers import cpu_run, strict_session
from tests.test_embedded_c_rnn_paths import CASES, _case_model

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

OPS = Path(__file__).resolve().parents[1] / "providers" / "embedded_c" / "csrc" / "ops"


def _r_as_input(model: onnx.ModelProto) -> tuple[onnx.ModelProto, np.ndarray]:
    """The model with its initializer R turned into a graph input (so the kernel gets it at run time)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    r = next(i for i in m.graph.initializer if i.name == "R")
    value = onnx.numpy_helper.to_array(r)
    m.graph.initializer.remove(r)
    m.graph.input.append(helper.make_tensor_value_info("R", onnx.TensorProto.FLOAT, list(value.shape)))
    return m, value


def _feed(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return {"x": np.random.default_rng(1).standard_normal(shape).astype(np.float32)}


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_rnn_with_constant_w_and_r_lowers_to_them_transposed_once(op):
    model = _case_model(op, CASES["batch5_transposed_R_ragged_layout1"])
    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 14})
    call = lower(graph.nodes[0], graph)
    func = "ep_" + op.lower()
    assert isinstance(call, Call) and call.func == func + "_rt"
    (wt_name, wt), (rt_name, rt) = call.constants.items()
    np.testing.assert_array_equal(wt, graph.initializers["W"].transpose(0, 2, 1))
    np.testing.assert_array_equal(rt, graph.initializers["R"].transpose(0, 2, 1))
    assert call.args[:3] == [("t", "x"), ("t", wt_name), ("t", rt_name)]
    settled = settle_packed([call], graph.nodes, {})[0]  # the default kernel: W^T, R^T carried, W and R not
    assert settled.func == func + "_rt" and {wt_name, rt_name} <= set(settled.inputs)
    assert not {"W", "R"} & set(settled.inputs)
    vendor = settle_packed([call], graph.nodes, {op: "mine.c"})[0]  # a vendor's kernel: the model's W and R
    assert vendor.func == func and vendor.args[:3] == [("t", "x"), ("t", "W"), ("t", "R")]
    assert {"W", "R"} <= set(vendor.inputs) and not vendor.constants and vendor.scratch == call.scratch


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_rnn_r_transposed_at_lowering_matches_r_read_at_run_time(op, case, fused):
    """Both directions, sequence_lens, layout 1, peepholes (LSTM, batch 3), clip: the two kernels agree."""
    model = _case_model(op, CASES[case])
    feed = _feed(model)
    computed, r = _r_as_input(model)
    sess_const = strict_session(model, fused=fused)
    sess_input = strict_session(computed, fused=fused)
    got = sess_const.run(None, feed)
    want = sess_input.run(None, {**feed, "R": r})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def _vendor_source(tmp_path: Path, op: str) -> Path:
    """A vendor's source defining only the contract's ep_lstm / ep_gru (the default without its _rt entry)."""
    text = (OPS / f"{op.lower()}.c").read_text()
    cut = text.index(f"int ep_{op.lower()}_rt(")
    path = tmp_path / f"vendor_{op.lower()}.c"
    path.write_text(text[:cut])
    return path


@pytest.mark.parametrize("level", [GraphOptimizationLevel.ORT_DISABLE_ALL, GraphOptimizationLevel.ORT_ENABLE_ALL],
                         ids=["optimizations_off", "optimizations_on"])
@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_vendor_rnn_kernel_gets_the_model_r_through_the_default_call(tmp_path, op, fused, level):
    model = _case_model(op, CASES["batch3_transposed_R_bidirectional"])
    feed = _feed(model)
    sess = strict_session(model, optimization_level=level, kernels={op: str(_vendor_source(tmp_path, op))},
                          fused=fused)
    assert f"kernel vendor:vendor_{op.lower()}.c" in sess.get_partition().explain()
    for g, w in zip(sess.run(None, feed), cpu_run(model, feed)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_exported_lstm_carries_r_transposed_builds_strict_c99_and_matches(tmp_path):
    model = _case_model("LSTM", CASES["batch5_transposed_R_ragged_layout1"])
    out = tmp_path / "out"
    res = export_model(model, out)
    sources = "".join(p.read_text() for p in sorted(out.glob("*.c")))
    assert "ep_lstm_rt(" in sources
    _, _, got, want = verify(model, res)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    cc = build.find_compiler()
    for src in sorted(out.glob("*.c")):
        subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c", src.name, "-o",
                        str(tmp_path / (src.stem + ".o"))], cwd=out, check=True)
