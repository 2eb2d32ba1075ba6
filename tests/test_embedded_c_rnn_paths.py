"""The code paths of the embedded C LSTM and GRU (csrc/ep_rnn.c) against the cpu provider, per node and fused:
one or two batch entries (H R^T as dot products over R) and three or more (over R transposed), few input rows
(the projection as W X^T) and many (X W^T, X read in place or gathered), several projection blocks, odd sizes,
every direction, both layouts, ragged sequence_lens, clip and ScaledTanh; and lowering.py's scratch size is
the C kernels' own."""

from __future__ import annotations

import ctypes

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.lowering import rnn_scratch
from tests.embedded_c_helpers import assert_matches_cpu

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

GATES = {"LSTM": 4, "GRU": 3}


def rnn_model(op: str, seq: int, batch: int, inputs: int, hidden: int, direction: str = "forward",
              layout: int = 0, lens: list[int] | None = None, initial: bool = False, peep: bool = False,
              bias: bool = True, seed: int = 0, **attrs) -> onnx.ModelProto:
    """One LSTM or GRU node with every output, its weights, biases, lengths and states as initializers."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    gh = GATES[op] * hidden

    def w(*s, scale: float = 0.3):
        return (rng.standard_normal(s) * scale).astype(np.float32)

    # R's scale keeps the recurrence contracting: over hundreds of steps a chaotic one amplifies rounding
    inits = {"W": w(dirs, gh, inputs, scale=min(0.3, inputs ** -0.5)),
             "R": w(dirs, gh, hidden, scale=min(0.3, 0.5 * hidden ** -0.5))}
    names = ["x", "W", "R", "", "", "", "", ""]
    if bias:
        inits["B"], names[3] = w(dirs, 2 * gh), "B"
    if lens is not None:
        inits["L"], names[4] = np.asarray(lens, np.int32), "L"
    states = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    if initial:
        inits["H0"], names[5] = w(*states), "H0"
        if op == "LSTM":
            inits["C0"], names[6] = w(*states), "C0"
    if peep:
        inits["P"], names[7] = w(dirs, 3 * hidden), "P"
    names = names[:max(k for k, n in enumerate(names) if n) + 1]
    outs = ["y", "y_h", "y_c"][:3 if op == "LSTM" else 2]
    node = helper.make_node(op, names, outs, hidden_size=hidden, direction=direction, layout=layout, **attrs)
    xs = [batch, seq, inputs] if layout else [seq, batch, inputs]
    g = helper.make_graph([node], op.lower(), [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                          [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


#: case -> rnn_model keywords (the op aside)
CASES = {
    "batch1_dot_products_odd_sizes": dict(seq=7, batch=1, inputs=5, hidden=13),
    "batch2_reverse_layout1": dict(seq=6, batch=2, inputs=3, hidden=9, direction="reverse", layout=1, initial=True),
    "batch3_transposed_R_bidirectional": dict(seq=5, batch=3, inputs=4, hidden=7, direction="bidirectional",
                                              initial=True),
    "batch5_transposed_R_ragged_layout1": dict(seq=6, batch=5, inputs=11, hidden=17, direction="bidirectional",
                                               layout=1, lens=[6, 1, 0, 4, 6]),
    "many_rows_x_in_place": dict(seq=40, batch=4, inputs=6, hidden=3),
    "many_rows_gathered_ragged_bidirectional": dict(seq=40, batch=4, inputs=6, hidden=3, direction="bidirectional",
                                                    lens=[40, 17, 0, 33]),
    "many_rows_layout1_reverse_no_bias": dict(seq=30, batch=3, inputs=2, hidden=5, direction="reverse", layout=1,
                                              bias=False),
    "clip_and_scaled_tanh": dict(seq=9, batch=2, inputs=4, hidden=6, clip=0.7),
    "batch1_hidden_16_lanes": dict(seq=4, batch=1, inputs=16, hidden=32, direction="bidirectional"),
}

#: several projection blocks (ep_rnn.h's EP_RNN_BLOCK_FLOATS)
BLOCK_CASES = {
    "blocks_many_rows_ragged_bidirectional": dict(seq=300, batch=4, inputs=300, hidden=40,
                                                  direction="bidirectional", lens=[300, 117, 0, 250]),
    "blocks_few_rows_reverse": dict(seq=1000, batch=1, inputs=8, hidden=128, direction="reverse"),
}


def _case_model(op: str, kwargs: dict) -> onnx.ModelProto:
    kwargs = dict(kwargs)
    if "clip" in kwargs:
        per = 3 if op == "LSTM" else 2
        kwargs.update(activations=["Sigmoid", "ScaledTanh", "ScaledTanh"][:per], activation_alpha=[1.3, 0.8][:per - 1],
                      activation_beta=[0.6, 1.7][:per - 1])
    if op == "LSTM" and kwargs.get("batch") == 3:
        kwargs["peep"] = True
    return rnn_model(op, **kwargs)


def _assert_matches_cpu(model: onnx.ModelProto, fused: bool) -> None:
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    feed = {"x": np.random.default_rng(1).standard_normal(shape).astype(np.float32)}
    assert_matches_cpu(model, feed, fused=fused)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_rnn_path_matches_cpu_provider(op, case, fused):
    _assert_matches_cpu(_case_model(op, CASES[case]), fused)


@pytest.mark.parametrize("case", ["batch1_dot_products_odd_sizes", "batch3_transposed_R_bidirectional",
                                  "many_rows_gathered_ragged_bidirectional"])
@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset_paths_match_cpu_provider(case, lbr):
    _assert_matches_cpu(rnn_model("GRU", linear_before_reset=lbr, **CASES[case]), fused=True)


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_rnn_over_several_projection_blocks_matches_cpu_provider(op, case):
    kwargs = BLOCK_CASES[case]
    gh = GATES[op] * kwargs["hidden"]
    block = 262144 // (kwargs["batch"] * (kwargs["inputs"] + 2 * gh))
    assert kwargs["seq"] > 2 * block  # at least three blocks
    assert (block * kwargs["batch"] <= gh) == ("few_rows" in case)  # the projection as W X^T, or as X W^T
    _assert_matches_cpu(rnn_model(op, **kwargs), fused=True)


@pytest.mark.parametrize("seq,batch,inputs,hidden,gates", [
    (5, 3, 4, 6, 4), (700, 1, 8, 96, 4), (230, 4, 300, 40, 3), (1, 1, 1, 1, 3), (0, 2, 3, 4, 4), (9, 0, 3, 4, 3),
    (3, 2, 0, 5, 4), (100000, 64, 512, 512, 4), (8, 2, 10, 16, 4), (40, 4, 6, 3, 3), (2, 1, 1, 0, 4)])
def test_rnn_scratch_planned_in_python_is_what_the_c_kernels_ask(seq, batch, inputs, hidden, gates):
    """lowering.py sizes the recurrent scratch without calling C: it must be ep_rnn_scratch_size's answer."""
    size = EmbeddedCExecutionProvider().library.load().ep_rnn_scratch_size
    size.restype = ctypes.c_int64
    size.argtypes = [ctypes.c_int64] * 5
    assert rnn_scratch(seq, batch, inputs, hidden, gates) == size(seq, batch, inputs, hidden, gates)


def test_rnn_scratch_holds_r_transposed_only_from_three_batch_entries():
    assert rnn_scratch(8, 3, 10, 16, 4) - rnn_scratch(8, 2, 10, 16, 4) > 64 * 16
    assert rnn_scratch(8, 2, 10, 16, 4) < 8 * 2 * (10 + 2 * 64) + 64 * 16


def test_rnn_scratch_of_a_long_sequence_is_bounded_by_the_block_not_the_sequence():
    short = rnn_scratch(1000, 8, 64, 128, 4)
    assert rnn_scratch(100000, 8, 64, 128, 4) == short
    assert short < 4 * 262144
