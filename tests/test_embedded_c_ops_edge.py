"""The operators real edge models need (activations of mobile nets, Pad, Slice, Split, Gather,
LayerNormalization, Resize, Pow, Reduce*, LogSoftmax, depthwise and grouped Conv) run on the
embedded C provider like the cpu provider, per node and fused, on odd sizes, with NaN kept where
numpy keeps it; bad attributes and shapes are refused with a reason."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession
from ep_runtime.errors import KernelError
from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.affine import fuse_affine_runs
from providers.embedded_c.export import export_model, verify
from providers.embedded_c.lowering import lower
from providers.embedded_c.provider import call_shapes
from tests.embedded_c_helpers import ATOL, RTOL, cpu_run, single_node_model, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

R = np.random.default_rng(7)


def _x(*shape):
    return R.standard_normal(shape).astype(np.float32)


def _i64(*v):
    return np.asarray(v, dtype=np.int64)


#: case -> (op, inputs, constants, attributes, opset)
CASES = {
    "hardsigmoid": ("HardSigmoid", {"x": (3, 7)}, {}, {"alpha": 0.3, "beta": 0.4}, 17),
    "hardswish": ("HardSwish", {"x": (2, 3, 5)}, {}, {}, 17),
    "gelu_erf": ("Gelu", {"x": (4, 9)}, {}, {}, 20),
    "gelu_tanh": ("Gelu", {"x": (4, 9)}, {}, {"approximate": "tanh"}, 20),
    "swish": ("Swish", {"x": (5, 3)}, {}, {"alpha": 1.5}, 24),
    "elu": ("Elu", {"x": (3, 5)}, {}, {"alpha": 0.7}, 17),
    "softplus": ("Softplus", {"x": (3, 5)}, {}, {}, 17),
    "erf": ("Erf", {"x": (7,)}, {}, {}, 17),
    "sqrt": ("Sqrt", {"x": (3, 4)}, {}, {}, 17),
    "exp": ("Exp", {"x": (3, 4)}, {}, {}, 17),
    "log": ("Log", {"x": (3, 4)}, {}, {}, 17),
    "abs": ("Abs", {"x": (3, 4)}, {}, {}, 17),
    "neg": ("Neg", {"x": (3, 4)}, {}, {}, 17),
    "reciprocal": ("Reciprocal", {"x": (3, 4)}, {}, {}, 17),
    "floor": ("Floor", {"x": (3, 5)}, {}, {}, 17),
    "ceil": ("Ceil", {"x": (3, 5)}, {}, {}, 17),
    "pow_const_two": ("Pow", {"x": (2, 5, 3)}, {"e": np.float32(2.0)}, {}, 17),
    "pow_broadcast": ("Pow", {"x": (2, 5, 3), "e": (5, 1)}, {}, {}, 17),
    "pad_constant": ("Pad", {"x": (1, 3, 5, 4)}, {"pads": _i64(0, 0, 1, 2, 0, 0, 2, 1), "v": np.float32(1.5)},
                     {}, 17),
    "pad_crop": ("Pad", {"x": (2, 5, 7)}, {"pads": _i64(0, -1, 2, 0, 2, -3)}, {}, 17),
    "pad_reflect": ("Pad", {"x": (1, 2, 5, 6)}, {"pads": _i64(0, 0, 3, 2, 0, 0, 4, 5)}, {"mode": "reflect"}, 17),
    "pad_edge": ("Pad", {"x": (1, 2, 3, 3)}, {"pads": _i64(0, 1, 2, 2, 0, 0, 1, 3)}, {"mode": "edge"}, 17),
    "pad_wrap": ("Pad", {"x": (2, 5, 3)}, {"pads": _i64(0, 2, 1, 0, 3, 2)}, {"mode": "wrap"}, 19),
    "pad_axes": ("Pad", {"x": (2, 3, 4)}, {"pads": _i64(1, 2, 3, 0), "v": np.float32(0.0), "axes": _i64(-1, 0)},
                 {}, 18),
    "pad_legacy": ("Pad", {"x": (3, 4)}, {}, {"pads": [1, 0, 0, 2], "value": -1.0}, 2),
    "slice_steps": ("Slice", {"x": (5, 7, 9)}, {"s": _i64(1, -2, 0), "e": _i64(5, -8, 9), "a": _i64(0, 1, 2),
                                                "st": _i64(2, -2, 3)}, {}, 17),
    "slice_clamped": ("Slice", {"x": (4, 6)}, {"s": _i64(-100, 2), "e": _i64(2**62, 100)}, {}, 17),
    "slice_focus": ("Slice", {"x": (1, 3, 8, 8)}, {"s": _i64(1, 0), "e": _i64(2**62, 2**62), "a": _i64(2, 3),
                                                   "st": _i64(2, 2)}, {}, 17),
    "slice_legacy": ("Slice", {"x": (4, 5)}, {}, {"starts": [1], "ends": [3], "axes": [1]}, 9),
    "slice_step2_last_axis_long_odd_rows": ("Slice", {"x": (2, 3, 5, 75)}, {"s": _i64(1, 1), "e": _i64(2**62, 74),
                                                                           "a": _i64(2, 3), "st": _i64(1, 2)}, {}, 17),
    "gather_axis1": ("Gather", {"x": (3, 5, 4)}, {"i": _i64(4, 0, -1)}, {"axis": 1}, 17),
    "gather_scalar": ("Gather", {"x": (6, 4)}, {"i": np.int64(-2)}, {}, 17),
    "gather_2d_indices": ("Gather", {"x": (7, 3)}, {"i": _i64([[1, 2], [6, 0]])}, {"axis": 0}, 17),
    "gather_int32_empty": ("Gather", {"x": (7, 3)}, {"i": np.zeros((0,), np.int32)}, {"axis": 1}, 17),
    "layernorm_last": ("LayerNormalization", {"x": (2, 5, 7)}, {"s": _x(7), "b": _x(7)}, {"epsilon": 1e-3}, 17),
    "layernorm_two_axes": ("LayerNormalization", {"x": (3, 4, 5)}, {"s": _x(4, 5)}, {"axis": 1}, 17),
    "resize_nearest_asymmetric": ("Resize", {"x": (1, 2, 3, 5)}, {"roi": np.zeros(0, np.float32),
                                                                 "sc": np.float32([1, 1, 2, 2])},
                                  {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                   "nearest_mode": "floor"}, 13),
    "resize_nearest_default": ("Resize", {"x": (1, 1, 5, 3)}, {"roi": np.zeros(0, np.float32),
                                                              "sc": np.float32([1, 1, 1.6, 2.5])}, {}, 13),
    "resize_linear_pytorch": ("Resize", {"x": (2, 3, 5, 7)}, {"roi": np.zeros(0, np.float32),
                                                             "sc": np.float32([1, 1, 2, 2])},
                              {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, 13),
    "resize_linear_align_sizes": ("Resize", {"x": (1, 2, 4, 6)},
                                  {"roi": np.zeros(0, np.float32), "sc": np.zeros(0, np.float32),
                                   "sz": _i64(1, 2, 7, 3)},
                                  {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, 13),
    "resize_cubic_down": ("Resize", {"x": (1, 1, 9, 8)}, {"roi": np.zeros(0, np.float32),
                                                         "sc": np.float32([1, 1, 0.5, 0.75])},
                          {"mode": "cubic"}, 13),
    "resize_linear_antialias_3d": ("Resize", {"x": (2, 9, 11)}, {"roi": np.zeros(0, np.float32),
                                                                "sc": np.float32([1, 0.6, 0.5])},
                                   {"mode": "linear", "antialias": 1}, 18),
    "reducemean_axes_keep": ("ReduceMean", {"x": (2, 5, 3, 7)}, {}, {"axes": [1, 3]}, 17),
    "reducemean_input_axes": ("ReduceMean", {"x": (3, 4, 5)}, {"a": _i64(-1)}, {"keepdims": 0}, 18),
    "reducesum_all": ("ReduceSum", {"x": (3, 4, 5)}, {}, {"keepdims": 0}, 13),
    "reducemax_axis0": ("ReduceMax", {"x": (5, 3, 2)}, {}, {"axes": [0]}, 17),
    "reducemin_noop": ("ReduceMin", {"x": (4, 3)}, {"a": np.zeros(0, np.int64)}, {"noop_with_empty_axes": 1}, 18),
    "logsoftmax_axis1": ("LogSoftmax", {"x": (2, 7, 3)}, {}, {"axis": 1}, 13),
    "logsoftmax_legacy": ("LogSoftmax", {"x": (2, 3, 4)}, {}, {"axis": 1}, 11),
    "convtranspose_2x2_stride2": ("ConvTranspose", {"x": (1, 4, 5, 7), "w": (4, 3, 2, 2), "b": (3,)}, {},
                                  {"strides": [2, 2]}, 17),
    "convtranspose_groups_pads_dilations": ("ConvTranspose", {"x": (2, 4, 5, 6), "w": (4, 3, 3, 3)}, {},
                                            {"group": 2, "strides": [2, 1], "pads": [1, 0, 2, 1],
                                             "dilations": [1, 2], "output_padding": [1, 0]}, 17),
    "convtranspose_output_shape_1d": ("ConvTranspose", {"x": (1, 3, 9), "w": (3, 2, 4)}, {},
                                      {"strides": [3], "output_shape": [30]}, 17),
    "convtranspose_same_upper": ("ConvTranspose", {"x": (1, 2, 4, 5), "w": (2, 5, 3, 3), "b": (5,)}, {},
                                 {"strides": [2, 2], "auto_pad": "SAME_UPPER"}, 17),
    "conv_depthwise_stride2_odd": ("Conv", {"x": (1, 5, 11, 9), "w": (5, 1, 3, 3), "b": (5,)}, {},
                                   {"group": 5, "strides": [2, 2], "pads": [1, 1, 1, 1]}, 17),
    "conv_depthwise_multiplier_dilated": ("Conv", {"x": (2, 3, 9, 10), "w": (6, 1, 3, 5)}, {},
                                          {"group": 3, "dilations": [2, 1], "pads": [2, 2, 2, 2]}, 17),
    "conv_grouped_asym_pads": ("Conv", {"x": (1, 6, 7, 8), "w": (9, 2, 2, 3), "b": (9,)}, {},
                               {"group": 3, "strides": [1, 2], "pads": [0, 1, 1, 2]}, 17),
    "conv_depthwise_1d_same_lower": ("Conv", {"x": (1, 4, 13), "w": (4, 1, 4)}, {},
                                     {"group": 4, "auto_pad": "SAME_LOWER", "strides": [2]}, 17),
}

#: ops that must keep NaN (and whose cpu result on NaN is NaN)
NAN_CASES = ["convtranspose_2x2_stride2", "reducemean_axes_keep", "reducemax_axis0", "reducemin_noop",
             "logsoftmax_axis1", "hardsigmoid", "hardswish", "gelu_erf", "gelu_tanh", "swish", "elu", "softplus",
             "erf", "sqrt", "exp", "abs", "neg", "pad_reflect", "slice_steps", "gather_axis1", "layernorm_last",
             "resize_linear_pytorch", "resize_nearest_asymmetric", "conv_depthwise_stride2_odd", "pow_const_two"]


def _feed(inputs, nan: bool = False):
    feed = {}
    for name, shape in inputs.items():
        a = _x(*shape)
        if name == "x" and nan and a.size:
            flat = a.reshape(-1)
            flat[::3] = np.nan
            flat[1 if a.size > 1 else 0] = np.inf
        feed[name] = a
    return feed


def _model(case):
    op, inputs, consts, attrs, opset = CASES[case]
    return single_node_model(op, inputs, consts=consts, opset=opset, **attrs), inputs


def _assert_matches(got, want, case):
    for g, w in zip(got, want):
        assert g.shape == w.shape, case
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=case)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_edge_operator_matches_cpu_provider(case, fused):
    model, inputs = _model(case)
    feed = _feed(inputs)
    if CASES[case][0] in ("Sqrt", "Log"):
        feed["x"] = np.abs(feed["x"]) + 0.1
    _assert_matches(strict_session(model, fused=fused).run(None, feed), cpu_run(model, feed), case)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", NAN_CASES)
def test_edge_operator_keeps_nan_and_inf_like_the_cpu_provider(case, fused):
    model, inputs = _model(case)
    feed = _feed(inputs, nan=True)
    got = strict_session(model, fused=fused).run(None, feed)
    want = cpu_run(model, feed)
    assert np.isnan(want[0]).any(), case  # the case really feeds NaN through
    _assert_matches(got, want, case)


def test_split_into_uneven_parts_matches_cpu_provider_per_node_and_fused():
    node = helper.make_node("Split", ["x", "s"], ["a", "b", "c"], axis=-1)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 10])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in "abc"],
                          [numpy_helper.from_array(_i64(3, 0, 7), "s")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    feed = {"x": _x(2, 3, 10)}
    for fused in (False, True):
        _assert_matches(strict_session(model, fused=fused).run(None, feed), cpu_run(model, feed), "split")


def test_split_num_outputs_matches_cpu_provider():
    model = single_node_model("Split", {"x": (7, 2)}, opset=18, n_outputs=3, axis=0, num_outputs=3)
    feed = {"x": _x(7, 2)}
    _assert_matches(strict_session(model, fused=True).run(None, feed), cpu_run(model, feed), "split18")


def _explain(model) -> str:
    return InferenceSession(model, providers=["embedded_c", "cpu"]).get_partition().explain()


@pytest.mark.parametrize("op, inputs, consts, attrs, opset, reason", [
    ("Gather", {"x": (3, 4)}, {"i": _i64(0, 3)}, {}, 17, "outside [-3, 3)"),
    ("Pad", {"x": (3, 4)}, {"pads": _i64(0, 0, 1)}, {}, 17, "3 pads given for 2 axes"),
    ("Pad", {"x": (3, 4)}, {"pads": _i64(-1, 0, 1, 0)}, {"mode": "reflect"}, 17, "negative (cropping) pads"),
    ("Slice", {"x": (3, 4)}, {"s": _i64(0), "e": _i64(2), "a": _i64(0), "st": _i64(0)}, {}, 17, "step must not"),
    ("Resize", {"x": (1, 1, 2, 2)}, {"roi": np.zeros(0, np.float32), "sc": np.float32([2, 1, 2, 2])}, {}, 13,
     "last two axes only"),
    ("Resize", {"x": (1, 1, 2, 2)}, {"roi": np.float32([0, 0, 0, 0, 1, 1, 1, 1]), "sc": np.float32([1, 1, 2, 2])},
     {"coordinate_transformation_mode": "tf_crop_and_resize"}, 13, "tf_crop_and_resize unsupported"),
    ("Gelu", {"x": (3,)}, {}, {"approximate": "erf"}, 20, "approximate='erf' unsupported"),
    ("LayerNormalization", {"x": (2, 6)}, {"s": _x(3)}, {}, 17, "does not hold one value per element"),
])
def test_bad_edge_operator_is_refused_with_a_reason(op, inputs, consts, attrs, opset, reason):
    model = single_node_model(op, inputs, consts=consts, opset=opset, **attrs)
    assert reason in _explain(model)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("itype", [TensorProto.INT64, TensorProto.INT32])
def test_gather_with_indices_computed_at_run_time_matches_cpu_provider(itype, fused):
    """Token ids fed as a graph input (a transformer's embedding lookup), negative ones included."""
    node = helper.make_node("Gather", ["x", "i"], ["y"], axis=0)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [9, 5]),
                                        helper.make_tensor_value_info("i", itype, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    dt = np.int64 if itype == TensorProto.INT64 else np.int32
    feed = {"x": _x(9, 5), "i": np.array([[0, 8, -1], [3, -9, 4]], dt)}
    sess = strict_session(model, fused=fused)
    _assert_matches(sess.run(None, feed), cpu_run(model, feed), "gather runtime")
    feed["i"][0, 0] = 9  # out of range: an error naming the node, never a read past the table
    with pytest.raises(KernelError, match="Gather"):
        sess.run(None, feed)


def _silu_hardswish_gelu_model(opset: int):
    """x -> x * Sigmoid(x) -> x * HardSigmoid(x) -> erf GELU: the chains the rewrites fuse."""
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["a"]),
             helper.make_node("HardSigmoid", ["a"], ["h"], alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["a", "h"], ["b"]),
             helper.make_node("Div", ["b", "sq2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["b", "e1"], ["m"]),
             helper.make_node("Mul", ["m", "half"], ["y"])]
    g = helper.make_graph(nodes, "acts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5, 5])],
                          [numpy_helper.from_array(np.float32(np.sqrt(2.0)), "sq2"),
                           numpy_helper.from_array(np.float32(1.0), "one"),
                           numpy_helper.from_array(np.float32(0.5), "half")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("opset, fused_ops", [(24, {"Swish", "HardSwish", "Gelu"}), (17, {"HardSwish"})])
def test_activation_chains_fuse_onto_the_embedded_c_provider_and_match(opset, fused_ops):
    model = _silu_hardswish_gelu_model(opset)
    feed = {"x": _x(2, 3, 5, 5) * 4}
    sess = strict_session(model, fused=True)
    ops = {n.op_type for n in sess.get_graph().nodes}
    assert fused_ops <= ops, ops
    _assert_matches(sess.run(None, feed), cpu_run(model, feed), f"acts{opset}")


@pytest.mark.slow
def test_edge_operators_export_and_run_clean_under_sanitizers(tmp_path):
    """Every case above, exported as standalone C and built with ASan and UBSan, matches the cpu provider."""
    from providers.embedded_c.export import export_model, verify
    from tests.test_embedded_c_csrc import SANITIZE

    for k, case in enumerate(sorted(CASES)):
        model, _ = _model(case)
        res = export_model(model, tmp_path / case)
        _, _, got, want = verify(model, res, seed=k, extra_flags=SANITIZE)
        _assert_matches(got, want, case)


def _gru_model(direction="forward", bias=True, initial=False, seq_lens=None, layout=0, outputs=(0, 1), **attrs):
    """GRU over x [5, 3, 4] (seq 5, batch 3; read batch first under layout 1), hidden 6."""
    rng = np.random.default_rng(9)
    dirs = 2 if direction == "bidirectional" else 1
    seq, batch = (3, 5) if layout else (5, 3)
    inits = {"W": (rng.standard_normal((dirs, 18, 4)) * 0.5).astype(np.float32),
             "R": (rng.standard_normal((dirs, 18, 6)) * 0.5).astype(np.float32)}
    names = ["x", "W", "R", "", "", ""]
    if bias:
        inits["B"] = (rng.standard_normal((dirs, 36)) * 0.5).astype(np.float32)
        names[3] = "B"
    if seq_lens is not None:
        inits["L"] = np.asarray(seq_lens, np.int32)
        names[4] = "L"
    if initial:
        inits["H0"] = rng.standard_normal((batch, dirs, 6) if layout else (dirs, batch, 6)).astype(np.float32)
        names[5] = "H0"
    while not names[-1]:
        names.pop()
    outs = ["y", "y_h"]
    node = helper.make_node("GRU", names, [outs[k] if k in outputs else "" for k in range(max(outputs) + 1)],
                            hidden_size=6, direction=direction, layout=layout, **attrs)
    g = helper.make_graph([node], "gru", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 3, 4])],
                          [helper.make_tensor_value_info(outs[k], TensorProto.FLOAT, None) for k in outputs],
                          [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


GRU_CASES = {
    "forward": {},
    "reverse_initial": {"direction": "reverse", "initial": True},
    "bidirectional_linear_before_reset": {"direction": "bidirectional", "linear_before_reset": 1, "initial": True},
    "no_bias_clip": {"bias": False, "clip": 0.5},
    "layout1_initial": {"layout": 1, "initial": True},
    "ragged_bidirectional": {"direction": "bidirectional", "seq_lens": [5, 0, 2]},
    "ragged_layout1_reverse": {"direction": "reverse", "layout": 1, "seq_lens": [3, 1, 0, 2, 3], "initial": True},
    "activations": {"direction": "bidirectional", "activations": ["HardSigmoid", "Relu", "Sigmoid", "Elu"],
                    "activation_alpha": [0.3, 0.7], "activation_beta": [0.45]},
    "only_y_h": {"outputs": (1,)},
}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(GRU_CASES))
def test_gru_matches_cpu_provider(case, fused):
    model = _gru_model(**GRU_CASES[case])
    feed = {"x": _x(5, 3, 4)}
    _assert_matches(strict_session(model, fused=fused).run(None, feed), cpu_run(model, feed), f"gru {case}")


def test_gru_exports_and_runs_clean_under_sanitizers(tmp_path):
    from providers.embedded_c.export import export_model, verify
    from tests.test_embedded_c_csrc import SANITIZE

    model = _gru_model(direction="bidirectional", seq_lens=[5, 0, 2], initial=True)
    res = export_model(model, tmp_path / "gru")
    _, _, got, want = verify(model, res, extra_flags=SANITIZE)
    _assert_matches(got, want, "gru export")


def test_lstm_with_ragged_lengths_and_layout1_exports_and_runs_clean_under_sanitizers(tmp_path):
    from providers.embedded_c.export import export_model, verify
    from tests.test_embedded_c_csrc import SANITIZE
    from tests.test_embedded_c_lstm import lstm_model

    model = lstm_model(direction="bidirectional", seq_lens=np.array([3, 1, 0, 2, 3]), layout=1, peep=True,
                       activations=["HardSigmoid", "Tanh", "Softsign"] * 2)
    res = export_model(model, tmp_path / "lstm")
    _, _, got, want = verify(model, res, extra_flags=SANITIZE)
    _assert_matches(got, want, "lstm export")


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_a_1x1_depthwise_conv_after_a_concat_runs_without_scratch_and_matches(fused, multiplier):
    # a 1x1 depthwise Conv has no scratch (ep_conv_scratch_size); its direct path used to write the
    # phase planes anyway: through NULL (a crash) or over the arena (the Concat's output beside it)
    nodes = [helper.make_node("Concat", ["a", "b"], ["p"], axis=2),
             helper.make_node("Conv", ["p", "w"], ["c"], group=4), helper.make_node("Relu", ["c"], ["y"])]
    w = np.random.default_rng(2).standard_normal((4 * multiplier, 1, 1)).astype(np.float32)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 4, 3]),
                                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4 * multiplier, 11])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    feed = {"a": _x(2, 4, 3), "b": _x(2, 4, 8)}
    _assert_matches(strict_session(model, fused=fused).run(None, feed), cpu_run(model, feed), "1x1 depthwise")


def _affine_model(consts, *, second_reader: bool = False, opset: int = 17):
    """x -> Relu -> (Mul / Add by each constant in turn) -> y on a [2, 3, 5, 7] input; with `second_reader`
    the first op's output is a graph output too."""
    nodes, inits, prev = [helper.make_node("Relu", ["x"], ["r"])], [], "r"
    for k, (op, value) in enumerate(consts):
        out = "y" if k == len(consts) - 1 else f"t{k}"
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), f"c{k}"))
        nodes.append(helper.make_node(op, [prev, f"c{k}"] if k % 2 == 0 else [f"c{k}", prev], [out]))
        prev = out
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if second_reader:
        outs.append(helper.make_tensor_value_info("t0", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "affine", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 7])],
                          outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _affine_funcs(model, vendor=None) -> list[str]:
    graph = Graph(onnx.shape_inference.infer_shapes(model).graph, {"": 17})
    calls = [lower(n, graph) for n in graph.nodes]
    keep = {o.name for o in graph.outputs}
    merged, nodes = fuse_affine_runs(calls, graph.nodes, graph, keep, call_shapes(graph, calls), vendor)
    assert len(merged) == len(nodes)
    return [c.func for c in merged]


#: case -> the run of (op, constant) after the Relu
AFFINE_RUNS = {
    "scalar_mul_add": [("Mul", [1.7]), ("Add", [-0.3])],
    "channel_add_mul_scalar_add": [("Add", np.float32([0.5, -1, 2]).reshape(3, 1, 1)), ("Mul", [[[[3.0]]]]),
                                   ("Add", np.float32([1, 2, 3]).reshape(1, 3, 1, 1))],
    "scalar_rank0_then_channel": [("Mul", np.float32(0.25)), ("Mul", np.float32([2, -2, 0.5]).reshape(3, 1, 1))],
}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(AFFINE_RUNS))
def test_a_run_of_mul_and_add_by_constants_is_one_affine_pass_and_matches_cpu(case, fused):
    model = _affine_model(AFFINE_RUNS[case])
    assert _affine_funcs(model) == ["ep_relu", "ep_affine"]
    x = _x(2, 3, 5, 7)
    x.reshape(-1)[::11] = np.nan
    x.reshape(-1)[5] = np.inf
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)


def test_runs_that_would_change_meaning_stay_separate_ops():
    # the first op's output is read outside the run
    assert _affine_funcs(_affine_model(AFFINE_RUNS["scalar_mul_add"], second_reader=True)) == \
        ["ep_relu", "ep_mul", "ep_add"]
    # a constant along the last axis, not the channels; one that broadcasts x up; a non-finite one
    for run in ([("Mul", [2.0]), ("Add", np.float32(np.arange(7)))],
                [("Mul", [2.0]), ("Add", np.ones((2, 3, 5, 7), np.float32))],
                [("Mul", [2.0]), ("Add", np.ones((4, 2, 3, 5, 7), np.float32))],
                [("Mul", [np.inf]), ("Add", [1.0])]):
        assert "ep_affine" not in _affine_funcs(_affine_model(run))
    # a vendor kernel for either op runs as the vendor wrote it
    for vendor in ({"Mul": "my_mul.c"}, {"Add": "my_add.c"}):
        assert _affine_funcs(_affine_model(AFFINE_RUNS["scalar_mul_add"]), vendor) == ["ep_relu", "ep_mul", "ep_add"]
    # one op alone is one pass already
    assert _affine_funcs(_affine_model([("Mul", [2.0])])) == ["ep_relu", "ep_mul"]


def test_an_exported_affine_run_builds_and_verifies(tmp_path):
    model = _affine_model(AFFINE_RUNS["channel_add_mul_scalar_add"])
    res = export_model(model, tmp_path / "out")
    assert "ep_affine(" in (tmp_path / "out" / "model.c").read_text()
    assert (tmp_path / "out" / "affine.c").exists()
    _, _, got, want = verify(model, res)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)
