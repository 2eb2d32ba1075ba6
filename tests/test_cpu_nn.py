"""CPU kernels of the nn family: losses, normalizations, Swish/SwiGLU, CausalConvWithState and the
recurrent layers (RNN, GRU, LSTM). Kernels are called directly and compared with onnxruntime on a
one-node model where it has the op, with numpy written out by hand otherwise."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from ep_runtime.graph import attr_param_name
from providers.cpu import REGISTRY

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(7)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def run_kernel(op: str, inputs: list, attrs: dict | None = None, opset: int = 22, n_outputs: int = 1) -> list:
    version = onnx.defs.get_schema(op, opset).since_version
    k = [k for k in REGISTRY.versions(op) if k.covers(version)][-1]
    kwargs = {attr_param_name(a): v for a, v in (attrs or {}).items()}
    if "_num_outputs" in k.context_names:
        kwargs["_num_outputs"] = n_outputs
    args = list(inputs)
    while args and args[-1] is None:
        args.pop()
    out = k.fn(*args, **kwargs)
    out = list(out) if k.multi_output else [out]
    for o in out:
        assert type(o) is np.ndarray, f"{op} returned {type(o).__name__}"
    return out


def run_ort(op: str, inputs: list, attrs: dict | None = None, opset: int = 22, n_outputs: int = 1) -> list:
    inputs = list(inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    names = [f"i{j}" if x is not None else "" for j, x in enumerate(inputs)]
    outs = [f"o{j}" for j in range(n_outputs)]
    graph = helper.make_graph(
        [helper.make_node(op, names, outs, **(attrs or {}))], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
         for n, x in zip(names, inputs) if x is not None],
        [helper.make_empty_tensor_value_info(o) for o in outs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {n: x for n, x in zip(names, inputs) if x is not None})


def check(op: str, inputs: list, attrs: dict | None = None, opset: int = 22, n_outputs: int = 1,
          rtol: float = 1e-4, atol: float = 1e-5) -> None:
    got = run_kernel(op, inputs, attrs, opset, n_outputs)
    want = run_ort(op, inputs, attrs, opset, n_outputs)
    for g, w in zip(got[:n_outputs], want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 1, -5])
def test_softmax_cross_entropy_matches_onnxruntime(reduction, weighted, ignore_index):
    x = randn(3, 4, 2, 5)
    t = rng.integers(0, 4, size=(3, 2, 5)).astype(np.int64)
    if ignore_index is not None:
        t[0, 0, :2] = ignore_index
    w = rng.random(4).astype(np.float32) if weighted else None
    attrs = {"reduction": reduction} | ({} if ignore_index is None else {"ignore_index": ignore_index})
    check("SoftmaxCrossEntropyLoss", [x, t, w], attrs, opset=13, n_outputs=2)


def test_nll_loss_mean_divides_by_the_weights_of_kept_targets():
    x = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], np.float32))
    t = np.array([0, 1, 2], np.int64)
    w = np.array([1.0, 2.0, 4.0], np.float32)
    (got,) = run_kernel("NegativeLogLikelihoodLoss", [x, t, w], {"ignore_index": 2})
    want = -(x[0, 0] * 1 + x[1, 1] * 2) / 3
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_nll_loss_rejects_an_out_of_range_target():
    with pytest.raises(ValueError, match="target values"):
        run_kernel("NegativeLogLikelihoodLoss", [randn(2, 3), np.array([0, 3], np.int64)])


# --------------------------------------------------------------------------- normalizations


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_rms_normalization_by_hand(axis):
    x, scale = randn(2, 3, 4), randn(*(2, 3, 4)[axis:])
    (got,) = run_kernel("RMSNormalization", [x, scale], {"axis": axis, "epsilon": 1e-3}, opset=23)
    axes = tuple(range(axis % 3, 3))
    want = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=axes, keepdims=True) + 1e-3) * scale
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_rms_normalization_float16_computes_in_float32():
    x = (randn(2, 64) * 30).astype(np.float16)
    (got,) = run_kernel("RMSNormalization", [x, np.ones(64, np.float16)], opset=23)
    assert got.dtype == np.float16 and np.isfinite(got).all()


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [0, -1])
def test_lp_normalization_matches_onnxruntime(p, axis):
    check("LpNormalization", [randn(3, 4, 5)], {"p": p, "axis": axis}, opset=1)


def test_lp_normalization_of_a_zero_vector_is_zero():
    (got,) = run_kernel("LpNormalization", [np.zeros((2, 3), np.float32)], {"axis": 1})
    assert (got == 0).all()


def test_group_normalization_21_scales_per_channel():
    x, scale, bias = randn(2, 6, 3, 3), randn(6), randn(6)
    (got,) = run_kernel("GroupNormalization", [x, scale, bias], {"num_groups": 3}, opset=21)
    g = x.reshape(2, 3, -1)
    norm = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(got, norm * scale[:, None, None] + bias[:, None, None], rtol=1e-5, atol=1e-5)


def test_group_normalization_18_scales_per_group():
    x, scale, bias = randn(2, 6, 4), randn(3), randn(3)
    (got,) = run_kernel("GroupNormalization", [x, scale, bias], {"num_groups": 3, "epsilon": 1e-2}, opset=18)
    g = x.reshape(2, 3, -1)
    norm = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-2)
    np.testing.assert_allclose(got, (norm * scale[:, None] + bias[:, None]).reshape(x.shape), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        run_kernel("GroupNormalization", [x, randn(6), randn(6)], {"num_groups": 3}, opset=18)


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_normalization_matches_onnxruntime(axis):
    x = randn(3, 4, 5)
    check("LayerNormalization", [x, randn(*x.shape[axis:]), randn(*x.shape[axis:])], {"axis": axis},
          opset=17, n_outputs=3)


# --------------------------------------------------------------------------- activations


def test_swish_and_swiglu_by_hand():
    a, b = randn(3, 5) * 20, randn(3, 5)
    (s,) = run_kernel("Swish", [a], {"alpha": 0.5}, opset=24)
    np.testing.assert_allclose(s, a / (1 + np.exp(-0.5 * a.astype(np.float64))), rtol=1e-6, atol=1e-6)
    (y,) = run_kernel("SwiGLU", [a, b], {"alpha": 0.5}, opset=28)
    np.testing.assert_allclose(y, s * b, rtol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        run_kernel("SwiGLU", [a, b[:1]], opset=28)


def test_causal_conv_with_state_streams_like_one_call():
    """Two calls chained through the state equal one call on the whole sequence."""
    x, w, bias = randn(2, 3, 10), randn(3, 1, 4), randn(3)
    whole, state = run_kernel("CausalConvWithState", [x, w, bias], {"activation": "silu"}, opset=27, n_outputs=2)
    first, mid = run_kernel("CausalConvWithState", [x[..., :6], w, bias], {"activation": "silu"}, opset=27,
                            n_outputs=2)
    second, end = run_kernel("CausalConvWithState", [x[..., 6:], w, bias, mid], {"activation": "silu"}, opset=27,
                             n_outputs=2)
    np.testing.assert_allclose(np.concatenate([first, second], axis=2), whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(state, end)
    np.testing.assert_array_equal(state, x[..., -3:])


# --------------------------------------------------------------------------- recurrent layers

SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
LENS = np.array([5, 2, 0], np.int32)


def _rnn_inputs(gates: int, dirs: int, lstm: bool = False, lens: bool = True) -> list:
    ins = [randn(SEQ, BATCH, INPUT), randn(dirs, gates * HIDDEN, INPUT), randn(dirs, gates * HIDDEN, HIDDEN),
           randn(dirs, 2 * gates * HIDDEN), LENS if lens else None, randn(dirs, BATCH, HIDDEN)]
    if lstm:
        ins += [randn(dirs, BATCH, HIDDEN), randn(dirs, 3 * HIDDEN)]
    return ins


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op,gates,extra", [
    ("RNN", 1, {}),
    ("RNN", 1, {"activations": ["LeakyRelu"], "activation_alpha": [0.3], "clip": 2.0}),
    ("GRU", 3, {}),
    ("GRU", 3, {"linear_before_reset": 1, "clip": 1.5}),
    ("GRU", 3, {"activations": ["HardSigmoid", "Softsign"], "activation_alpha": [0.3], "activation_beta": [0.4]}),
    ("LSTM", 4, {}),
    ("LSTM", 4, {"input_forget": 1, "clip": 1.0}),
    ("LSTM", 4, {"activations": ["Sigmoid", "Affine", "ScaledTanh"], "activation_alpha": [0.5, 1.5],
                 "activation_beta": [0.1, 0.7]}),
])
def test_recurrent_layers_match_onnxruntime(op, gates, extra, direction):
    dirs = 2 if direction == "bidirectional" else 1
    attrs = dict(extra, hidden_size=HIDDEN, direction=direction)
    if "activations" in attrs and dirs == 2:
        attrs["activations"] = attrs["activations"] * 2
        for key in ("activation_alpha", "activation_beta"):
            if key in attrs:
                attrs[key] = attrs[key] * 2
    n_out = 3 if op == "LSTM" else 2
    check(op, _rnn_inputs(gates, dirs, op == "LSTM"), attrs, opset=14, n_outputs=n_out, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("extra", [{}, {"clip": 0.8}, {"activations": ["sigmoid", "tanh", "tanh"]}],
                         ids=["plain", "clip", "named_defaults"])
def test_lstm_without_peepholes_matches_onnxruntime(direction, extra):
    # default activations without peepholes take the in-place gate path; lengths 5, 2, 0 mask it
    dirs = 2 if direction == "bidirectional" else 1
    attrs = dict(extra, hidden_size=HIDDEN, direction=direction)
    if "activations" in attrs:
        attrs["activations"] = attrs["activations"] * dirs
    ins = _rnn_inputs(4, dirs, lstm=True)[:7]
    check("LSTM", ins, attrs, opset=14, n_outputs=3, rtol=1e-4, atol=1e-5)
    no_lens = list(ins)
    no_lens[4] = None
    check("LSTM", no_lens, attrs, opset=14, n_outputs=3, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,gates", [("RNN", 1), ("GRU", 3), ("LSTM", 4)])
def test_recurrent_layout_1_is_the_batch_major_transpose(op, gates):
    lstm = op == "LSTM"
    ins = _rnn_inputs(gates, 2, lstm)
    attrs = {"hidden_size": HIDDEN, "direction": "bidirectional"}
    n_out = 3 if lstm else 2
    ref = run_kernel(op, ins, attrs, opset=14, n_outputs=n_out)
    batch_major = list(ins)
    batch_major[0] = ins[0].transpose(1, 0, 2)
    batch_major[5] = ins[5].transpose(1, 0, 2)
    if lstm:
        batch_major[6] = ins[6].transpose(1, 0, 2)
    got = run_kernel(op, batch_major, dict(attrs, layout=1), opset=14, n_outputs=n_out)
    np.testing.assert_allclose(got[0], ref[0].transpose(2, 0, 1, 3), rtol=1e-6)
    for g, r in zip(got[1:], ref[1:]):
        np.testing.assert_allclose(g, r.transpose(1, 0, 2), rtol=1e-6)


def test_recurrent_steps_past_sequence_lens_are_zero_and_hold_the_state():
    """Y is zero past an entry's length, Y_h its state at its last step (zero for length 0)."""
    ins = _rnn_inputs(3, 1)
    y, y_h = run_kernel("GRU", ins, {"hidden_size": HIDDEN}, opset=14, n_outputs=2)
    assert (y[2:, 0, 1] == 0).all() and (y[:, 0, 2] == 0).all()
    np.testing.assert_array_equal(y_h[0, 1], y[1, 0, 1])
    assert (y_h[0, 2] == 0).all()


def test_recurrent_kernels_cover_every_schema_version():
    for op in ("RNN", "GRU", "LSTM"):
        for s in onnx.defs.get_all_schemas_with_history():
            if s.name == op and s.domain == "":
                assert any(k.covers(s.since_version) for k in REGISTRY.versions(op)), (op, s.since_version)


def test_lstm_rejects_a_wrong_weight_shape():
    ins = _rnn_inputs(4, 1, lstm=True)
    ins[1] = ins[1][:, :-1]
    with pytest.raises(ValueError, match="W must have shape"):
        run_kernel("LSTM", ins, {"hidden_size": HIDDEN}, opset=14)


# --------------------------------------------------------------------------- 2-D windows (flat layout)


WINDOWS = [  # (channels, group, kernel, strides, dilations, pads)
    (4, 1, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
    (4, 1, [3, 2], [2, 1], [1, 2], [0, 1, 2, 0]),
    (6, 6, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
    (6, 3, [2, 3], [3, 2], [2, 1], [1, 0, 0, 2]),
    (3, 1, [5, 5], [2, 2], [1, 1], [2, 2, 2, 2]),
]


@pytest.mark.parametrize("c, group, kernel, strides, dilations, pads", WINDOWS)
def test_conv_and_pools_over_strides_dilations_and_pads_match_onnxruntime(c, group, kernel, strides, dilations,
                                                                          pads):
    x = randn(2, c, 11, 9)
    check("Conv", [x, randn(4 * group, c // group, *kernel), randn(4 * group)],
          {"group": group, "kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": pads},
          rtol=1e-4, atol=1e-4)
    window = {"kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": pads}
    check("MaxPool", [x], window)
    for ceil_mode in (0, 1):
        for count_include_pad in (0, 1):
            check("AveragePool", [x], dict(window, ceil_mode=ceil_mode, count_include_pad=count_include_pad))


# --------------------------------------------------------------------------- ConvTranspose, Softmax


CONV_TRANSPOSE = [  # (kernel, strides, dilations, pads, output_padding, group): tiled, gapped and overlapping taps
    ([2, 2], [2, 2], [1, 1], [0, 0, 0, 0], [0, 0], 1),
    ([2, 3], [2, 3], [1, 1], [1, 0, 0, 2], [1, 0], 2),
    ([2, 2], [3, 3], [2, 2], [0, 0, 0, 0], [0, 0], 1),  # stride == dilated extent: a gap between the taps
    ([1, 1], [2, 2], [1, 1], [0, 0, 0, 0], [1, 1], 1),
    ([3, 3], [2, 2], [1, 1], [1, 1, 1, 1], [1, 1], 2),
    ([4, 4], [2, 2], [1, 1], [1, 1, 1, 1], [0, 0], 1),
]


@pytest.mark.parametrize("kernel, strides, dilations, pads, output_padding, group", CONV_TRANSPOSE)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_tiled_gapped_and_overlapping_taps_match_onnxruntime(kernel, strides, dilations, pads,
                                                                            output_padding, group, bias):
    x, w = randn(2, 4, 5, 6), randn(4, 3, *kernel)
    attrs = {"kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": pads,
             "output_padding": output_padding, "group": group}
    check("ConvTranspose", [x, w, randn(3 * group) if bias else None], attrs, rtol=1e-4, atol=1e-4)


def _softmax64(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.astype(np.float64).max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_rows_far_from_the_tensor_maximum_keep_their_precision():
    x = randn(6, 40) * 3
    x[1] -= 200  # exp(x - max) of this row underflows if shifted by the tensor's maximum
    x[2] += 90  # exp(x) overflows if not shifted at all
    x[3, 5] = -np.inf
    (y,) = run_kernel("Softmax", [x], {"axis": -1}, opset=13)
    want = _softmax64(x)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-30)
    for row in (x[:1], x[1:2], x[1:2] + 250, x[4:] * 20):
        (y,) = run_kernel("Softmax", [row], {"axis": -1}, opset=13)
        np.testing.assert_allclose(y, _softmax64(row), rtol=1e-5, atol=1e-30)


def test_softmax_of_nan_and_infinite_rows_is_nan_per_row():
    x = randn(3, 5)
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    with np.errstate(invalid="ignore"):
        (y,) = run_kernel("Softmax", [x], {"axis": -1}, opset=13)
    assert np.isnan(y[:2]).all() and np.isfinite(y[2]).all()
    np.testing.assert_allclose(y[2], _softmax64(x[2:])[0], rtol=1e-5)
