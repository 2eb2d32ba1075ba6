"""CPU kernels of providers/cpu/rnn.py (RNN, GRU, LSTM), compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from providers.cpu import REGISTRY
from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1245)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


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
