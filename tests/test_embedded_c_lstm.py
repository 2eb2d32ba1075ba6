"""LSTM on the embedded C provider: every direction, optional B / initial_h / initial_c / P, clip and
input_forget match the cpu provider per node and fused; an LSTM -> Squeeze -> Gemm model runs in C,
fused and exported; layout 1, every ONNX activation (with alpha and beta) and ragged sequence_lens
(constant or fed at run time) too; an unknown activation is refused with a reason."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.export import export_model, verify
from tests.embedded_c_helpers import ATOL, RTOL, assert_matches_cpu, cpu_run, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6


def lstm_model(direction: str = "forward", bias: bool = True, initial: bool = False, peep: bool = False,
               seq_lens: np.ndarray | None = None, outputs: tuple[int, ...] = (0, 1, 2), seed: int = 0,
               **attrs) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1

    def w(*s):
        return (rng.standard_normal(s) * 0.5).astype(np.float32)

    inits = {"W": w(dirs, 4 * HIDDEN, INPUT), "R": w(dirs, 4 * HIDDEN, HIDDEN)}
    names = ["x", "W", "R", "", "", "", "", ""]
    if bias:
        inits["B"] = w(dirs, 8 * HIDDEN)
        names[3] = "B"
    if seq_lens is not None:
        inits["L"] = np.asarray(seq_lens, np.int32)
        names[4] = "L"
    if initial:
        inits["H0"], inits["C0"] = w(dirs, BATCH, HIDDEN), w(dirs, BATCH, HIDDEN)
        names[5], names[6] = "H0", "C0"
    if peep:
        inits["P"] = w(dirs, 3 * HIDDEN)
        names[7] = "P"
    while names and not names[-1]:
        names.pop()
    out_names = ["y", "y_h", "y_c"]
    node_outs = [out_names[k] if k in outputs else "" for k in range(max(outputs) + 1)]
    node = helper.make_node("LSTM", names, node_outs, hidden_size=HIDDEN, direction=direction, **attrs)
    g = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [SEQ, BATCH, INPUT])],
                          [helper.make_tensor_value_info(out_names[k], TensorProto.FLOAT, None) for k in outputs],
                          [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


def lstm_classifier(seed: int = 0) -> onnx.ModelProto:
    """x (seq 8, batch 2, 10) -> LSTM(16) -> Y_h -> Squeeze -> Gemm(5) -> Softmax."""
    rng = np.random.default_rng(seed)

    def w(*s):
        return (rng.standard_normal(s) * 0.3).astype(np.float32)

    inits = {"W": w(1, 64, 10), "R": w(1, 64, 16), "B": w(1, 128), "axes": np.array([0], np.int64),
             "Wg": w(16, 5), "bg": w(5)}
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], hidden_size=16),
             helper.make_node("Squeeze", ["h", "axes"], ["hs"]),
             helper.make_node("Gemm", ["hs", "Wg", "bg"], ["z"]),
             helper.make_node("Softmax", ["z"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "lstm_classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 2, 10])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
                          [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


CASES = {
    "forward": {},
    "reverse": {"direction": "reverse"},
    "bidirectional": {"direction": "bidirectional", "initial": True},
    "no_bias": {"bias": False},
    "initial_states": {"initial": True},
    "peepholes": {"peep": True, "initial": True},
    "bidirectional_peepholes": {"direction": "bidirectional", "peep": True},
    "clip": {"clip": 0.4, "initial": True},
    "input_forget": {"input_forget": 1},
    "only_y_h": {"outputs": (1,)},
    "only_y": {"outputs": (0,)},
    "explicit_default_activations": {"direction": "bidirectional", "activations": ["Sigmoid", "Tanh", "Tanh"] * 2},
    "full_sequence_lens": {"seq_lens": np.full(BATCH, SEQ)},
    "layout1": {"layout": 1},  # x [5, 3, 4] read batch first: batch 5, seq 3
    "relu_activation": {"activations": ["Relu", "Tanh", "Tanh"]},
    "activations_with_alpha_beta": {"direction": "bidirectional", "activations": [
        "HardSigmoid", "ScaledTanh", "Affine", "Sigmoid", "LeakyRelu", "Softsign"],
        "activation_alpha": [0.3, 0.9, 1.5, 0.2], "activation_beta": [0.4, 1.1, -0.1]},
    "ragged_sequence_lens": {"seq_lens": np.array([5, 3, 1])},
    "ragged_reverse_with_a_zero_length": {"direction": "reverse", "seq_lens": np.array([2, 0, 5]), "initial": True},
    "ragged_bidirectional_layout1": {"direction": "bidirectional", "seq_lens": np.array([3, 1, 0, 2, 3]), "layout": 1},
}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_lstm_matches_cpu_provider(case, fused):
    model = lstm_model(**CASES[case])
    feed = {"x": np.random.default_rng(1).standard_normal((SEQ, BATCH, INPUT)).astype(np.float32)}
    assert_matches_cpu(model, feed, fused=fused)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_lstm_classifier_runs_entirely_in_c(fused):
    model = lstm_classifier()
    feed = {"x": np.random.default_rng(2).standard_normal((8, 2, 10)).astype(np.float32)}
    got = strict_session(model, fused=fused).run(None, feed)
    np.testing.assert_allclose(got[0], cpu_run(model, feed)[0], rtol=RTOL, atol=ATOL)


def test_lstm_classifier_exports_and_matches_cpu_provider(tmp_path):
    model = lstm_classifier()
    res = export_model(model, tmp_path / "out")
    assert (tmp_path / "out" / "lstm.c").exists()
    _, _, got, want = verify(model, res)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL, atol=ATOL)


def test_lstm_with_an_unknown_activation_is_refused_with_a_reason():
    model = lstm_model(activations=["Sigmoid", "Gelu", "Tanh"])
    text = InferenceSession(model, providers=["embedded_c", "cpu"]).get_partition().explain()
    assert "activation 'gelu' unsupported" in text, text


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_lstm_sequence_lens_computed_at_run_time_match_cpu_provider(fused):
    """sequence_lens fed as a graph input (int32), not a constant."""
    model = lstm_model(direction="bidirectional")
    node = model.graph.node[0]
    node.input[4:] = []
    node.input.extend(["L"])
    model.graph.input.extend([helper.make_tensor_value_info("L", TensorProto.INT32, [BATCH])])
    feed = {"x": np.random.default_rng(3).standard_normal((SEQ, BATCH, INPUT)).astype(np.float32),
            "L": np.array([3, 5, 0], np.int32)}
    for g, w in zip(strict_session(model, fused=fused).run(None, feed), cpu_run(model, feed)):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
