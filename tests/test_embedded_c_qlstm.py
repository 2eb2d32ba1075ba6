"""com.microsoft DynamicQuantizeLSTM on the embedded C provider (csrc/ops/dynamicquantizelstm.c) gives the cpu
provider's outputs: the same uint8 quantization of X and of every H_{t-1}, exact integer products, the same
scaling; only the activations' approximations differ (~1e-7). Every direction, int8 and uint8 weights, scales
per direction and per column, sequence_lens, initial states, peepholes, clip, input_forget; the int8 LSTM
bench models now run whole."""

from __future__ import annotations

import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime.graph import Graph
from ep_runtime.provider import Refusal
from providers.embedded_c import EmbeddedCExecutionProvider, build
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.lowering import lower
from tests.embedded_c_helpers import assert_matches_cpu, cpu_run, strict_session
from tests.test_embedded_c_csrc import SANITIZE
from tests.test_native_rnn import EXACT_ACTS, quantized_inputs

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

RTOL, ATOL = 1e-5, 1e-6
NAMES = ["x", "W", "R", "B", "lens", "h0", "c0", "P", "W_scale", "W_zero_point", "R_scale", "R_zero_point"]


def qlstm_model(args, direction: str, hidden: int, outputs=("Y", "Y_h", "Y_c"), runtime=(), **attrs):
    """One DynamicQuantizeLSTM node over `args` (quantized_inputs' order): X and the names in `runtime` are
    graph inputs, the others initializers; an omitted output is an empty name."""
    vals = dict(zip(NAMES, args))
    x, w = vals["x"], vals["W"]
    inputs = ["x", *runtime]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in vals.items() if v is not None and k not in inputs]
    node = helper.make_node("DynamicQuantizeLSTM", [k if vals[k] is not None else "" for k in NAMES], list(outputs),
                            domain="com.microsoft", direction=direction, hidden_size=hidden, **attrs)
    seq, batch, _ = x.shape
    dirs = w.shape[0]
    shapes = [(seq, dirs, batch, hidden), (dirs, batch, hidden), (dirs, batch, hidden)]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, s) for o, s in zip(outputs, shapes) if o]
    ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(vals[k].dtype), list(vals[k].shape))
           for k in inputs]
    graph = helper.make_graph([node], "qlstm", ins, outs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets)


#: variant -> (uint8 weights, per-column scales and zero points, sequence_lens, initial states)
VARIANTS = {"int8": (False, False, False, False), "int8_per_column_lens_initial": (False, True, True, True),
            "uint8_per_column": (True, True, False, False), "uint8_lens_initial": (True, False, True, True)}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_dynamic_quantize_lstm_matches_cpu_provider(direction, variant, fused):
    uint8, per_column, lens, initial = VARIANTS[variant]
    dirs = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(len(variant) * 7 + dirs)
    for seq, batch, k, n in ((7, 3, 5, 17), (1, 1, 3, 1), (9, 2, 33, 64)):
        lengths = [seq, 0, max(seq - 3, 1)][:batch] if lens and batch > 1 else None
        args = quantized_inputs(rng, seq, batch, k, n, dirs, uint8=uint8, per_channel=per_column, lens=lengths,
                                initial=initial)
        assert_matches_cpu(qlstm_model(args, direction, n), {"x": args[0]}, fused=fused, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("rows", [4, 5, 6, 7, 11, 70, 131])
def test_dynamic_quantize_lstm_projects_whole_and_partial_groups_of_four_rows_like_cpu(rows):
    """The input projection takes X four rows (steps x batch) at a time, in blocks of 64 rows: whole groups, a
    last group of 1, 2 or 3 rows and a last partial block give the cpu provider's outputs (uint8 weights: every
    zero-point term of the products nonzero)."""
    rng = np.random.default_rng(rows)
    seq, batch = (rows, 1) if rows % 2 else (rows // 2, 2)
    args = quantized_inputs(rng, seq, batch, 70, 12, 2, uint8=True, per_channel=True, initial=True)
    assert_matches_cpu(qlstm_model(args, "bidirectional", 12), {"x": args[0]}, fused=True, rtol=RTOL, atol=ATOL)


def test_dynamic_quantize_lstm_projects_a_wide_input_in_blocks_of_columns_like_cpu():
    """With 4100 inputs a block of the projection takes 60 of W's 80 columns (256 KiB of bytes): the columns of
    the second, partial block give the cpu provider's outputs too."""
    args = quantized_inputs(np.random.default_rng(3), 6, 1, 4100, 20, 1, uint8=True, per_channel=True)
    assert_matches_cpu(qlstm_model(args, "forward", 20), {"x": args[0]}, fused=True, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("uint8", [False, True], ids=["int8", "uint8"])
def test_dynamic_quantize_lstm_with_peepholes_input_forget_clip_and_activations_matches_cpu(uint8):
    rng = np.random.default_rng(3)
    args = quantized_inputs(rng, 6, 3, 9, 12, 2, uint8=uint8, lens=[6, 2, 5], initial=True, peepholes=True)
    for input_forget in (0, 1):
        model = qlstm_model(args, "bidirectional", 12, activations=EXACT_ACTS * 2, clip=0.75,
                            activation_alpha=[0.25, 0.7, 0.3], activation_beta=[0.5, 0.05], input_forget=input_forget)
        assert_matches_cpu(model, {"x": args[0]}, fused=True, rtol=RTOL, atol=ATOL)


def test_dynamic_quantize_lstm_without_y_quantizes_finished_states_as_they_are():
    """With Y an output, an entry past its length is quantized as zeros (onnxruntime reads its Y rows);
    without, as its last H: the shared scale of H_{t-1} changes, and so do the others' states."""
    rng = np.random.default_rng(5)
    args = quantized_inputs(rng, 8, 3, 6, 10, 1, lens=[8, 2, 5], initial=True)
    feed = {"x": args[0]}
    with_y = cpu_run(qlstm_model(args, "forward", 10), feed)
    without = assert_matches_cpu(qlstm_model(args, "forward", 10, outputs=("", "Y_h", "Y_c")), feed, fused=True,
                                 rtol=RTOL, atol=ATOL)
    assert not np.array_equal(with_y[1], without[0])  # the case tells the two apart


def test_dynamic_quantize_lstm_with_sequence_lens_given_at_run_time_matches_cpu():
    rng = np.random.default_rng(6)
    args = quantized_inputs(rng, 5, 4, 7, 9, 2, lens=[5, 0, 3, 1], initial=True)
    model = qlstm_model(args, "bidirectional", 9, runtime=("lens",))
    assert_matches_cpu(model, {"x": args[0], "lens": args[4]}, fused=True, rtol=RTOL, atol=ATOL)


def test_dynamic_quantize_lstm_with_a_nan_in_x_gives_nan_outputs_like_cpu():
    rng = np.random.default_rng(9)
    args = list(quantized_inputs(rng, 4, 2, 5, 3, 2))
    args[0][2, 1, 3] = np.nan
    got = strict_session(qlstm_model(args, "bidirectional", 3), fused=True).run(None, {"x": args[0]})
    want = cpu_run(qlstm_model(args, "bidirectional", 3), {"x": args[0]})
    for g, w in zip(got, want):
        assert np.isnan(w).all() and np.isnan(g).all()


def _lowered(model):
    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 17, "com.microsoft": 1})
    return lower(graph.nodes[0], graph)


def test_dynamic_quantize_lstm_with_weights_computed_at_run_time_is_refused_with_a_reason():
    args = quantized_inputs(np.random.default_rng(1), 3, 1, 4, 5, 1)
    refusal = _lowered(qlstm_model(args, "forward", 5, runtime=("R",)))
    assert isinstance(refusal, Refusal) and "must be constants" in refusal.reason


def test_dynamic_quantize_lstm_with_zero_points_differing_per_column_is_refused_with_a_reason():
    args = list(quantized_inputs(np.random.default_rng(2), 3, 1, 4, 5, 1, uint8=True, per_channel=True))
    args[9] = args[9].copy()
    args[9][0, 3] += 1
    refusal = _lowered(qlstm_model(args, "forward", 5))
    assert isinstance(refusal, Refusal) and "one value per direction" in refusal.reason


def test_dynamic_quantize_lstm_prepares_w_and_r_transposed_and_flipped_once():
    args = quantized_inputs(np.random.default_rng(4), 3, 2, 4, 5, 2, uint8=True)
    call = _lowered(qlstm_model(args, "bidirectional", 5))
    assert call.func == "ep_dynamicquantizelstm"
    made = list(call.constants.values())
    wt, r_sums = made[0], made[4]
    np.testing.assert_array_equal(wt.view(np.uint8), args[1].transpose(0, 2, 1) ^ 0x80)
    np.testing.assert_array_equal(r_sums, (args[2].astype(np.int64) - 128).sum(axis=1))
    zero_points = next(v for kind, v in call.args if kind == "i64s")
    assert zero_points == [int(z) - 128 for z in (*args[9], *args[11])]
    assert not {"W", "R"} & set(call.inputs)  # the model's weights are not carried


def test_exported_dynamic_quantize_lstm_builds_strict_c99_runs_clean_under_sanitizers_and_matches(tmp_path):
    args = quantized_inputs(np.random.default_rng(8), 6, 3, 7, 11, 2, uint8=True, per_channel=True, lens=[6, 0, 4],
                            initial=True, peepholes=True)
    model = qlstm_model(args, "bidirectional", 11)
    out = tmp_path / "out"
    res = export_model(model, out)
    _, _, got, want = verify(model, res, extra_flags=SANITIZE, feed={"x": args[0]})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    cc = build.find_compiler()
    for src in sorted(out.glob("*.c")):
        subprocess.run([cc, *build.STRICT_FLAGS, "-c", src.name, "-o", str(tmp_path / (src.stem + ".o"))], cwd=out,
                       check=True)


def test_kernel_gate_runs_the_kits_dynamic_quantize_lstm_cases_on_the_default_kernel():
    """The kit has cases for the contrib op when asked for it by name (ep_runtime.testing.cases), so a vendor
    kernel of it is gated; the default kernel passes them all."""
    from providers.embedded_c.gate import check_kernel

    report = check_kernel("DynamicQuantizeLSTM", build.OPS_DIR / "dynamicquantizelstm.c")
    assert report.passed, report.report()
    ran = {r.case for r in report.selftest.cases if r.status == "passed"}
    assert {"kit_DynamicQuantizeLSTM_int8_forward", "kit_DynamicQuantizeLSTM_uint8_bidirectional"} <= ran
