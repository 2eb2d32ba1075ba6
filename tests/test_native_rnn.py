"""The native LSTM recurrences (providers/cpu/native/rnn.py, csrc/rnn.c) against the numpy kernels.

With piecewise-linear activations (no tanh) every operation of the C code rounds as numpy's does, so
DynamicQuantizeLSTM must give the numpy kernel's exact bits: the same uint8 quantization of X and of
every H_{t-1}, exact integer products, the same float32 scaling and cell arithmetic. With the default
activations only the tanh approximation differs (a few ulp); the float LSTM also sums H R^T in its
own order. What the C code does not cover must come out of the numpy kernel unchanged.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime as ep
from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import rnn as ref_rnn
from providers.cpu.contrib import quantized_lstm as ref_q
from providers.cpu.native import library
from providers.cpu.native import rnn as nat
from tests.helpers.native import build_driver, run_driver

pytestmark = [pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

#: activations whose C and numpy forms round identically (the gates hold no tanh)
EXACT_ACTS = ["HardSigmoid", "Softsign", "Affine"]
#: a second exact set: relu-like gates and a thresholded output
EXACT_ACTS_2 = ["HardSigmoid", "LeakyRelu", "ThresholdedRelu"]


def quantized_inputs(rng, seq, batch, k, n, dirs, *, uint8=False, per_channel=False, lens=None, initial=False,
                     peepholes=False, layout_x=None):
    """The inputs of a DynamicQuantizeLSTM node, random but in a realistic range."""
    x = (layout_x if layout_x is not None else rng.standard_normal((seq, batch, k))).astype(np.float32)
    if uint8:
        w = rng.integers(0, 256, (dirs, k, 4 * n)).astype(np.uint8)
        r = rng.integers(0, 256, (dirs, n, 4 * n)).astype(np.uint8)
        wz = rng.integers(100, 156, dirs).astype(np.uint8)
        rz = rng.integers(100, 156, dirs).astype(np.uint8)
    else:
        w = rng.integers(-127, 128, (dirs, k, 4 * n)).astype(np.int8)
        r = rng.integers(-127, 128, (dirs, n, 4 * n)).astype(np.int8)
        wz = np.zeros(dirs, np.int8)
        rz = np.zeros(dirs, np.int8)
    shape = (dirs, 4 * n) if per_channel else (dirs,)
    ws = (rng.uniform(0.5, 1.5, shape) * 0.6 / (127 * np.sqrt(k))).astype(np.float32)
    rs = (rng.uniform(0.5, 1.5, shape) * 1.2 / (127 * np.sqrt(n))).astype(np.float32)
    if per_channel:  # per-channel zero points: one value per direction, repeated
        wz, rz = np.repeat(wz[:, None], 4 * n, 1), np.repeat(rz[:, None], 4 * n, 1)
    b = (rng.standard_normal((dirs, 8 * n)) * 0.1).astype(np.float32)
    h0 = c0 = None
    if initial:
        h0 = (rng.standard_normal((dirs, batch, n)) * 0.5).astype(np.float32)
        c0 = (rng.standard_normal((dirs, batch, n)) * 0.5).astype(np.float32)
    p = (rng.standard_normal((dirs, 3 * n)) * 0.1).astype(np.float32) if peepholes else None
    seq_lens = None if lens is None else np.array(lens, np.int32)
    return (x, w, r, b, seq_lens, h0, c0, p, ws, wz, rs, rz)


def both_quantized(args, **attrs):
    """(native, numpy) outputs of DynamicQuantizeLSTM; the native kernel must have run."""
    got = nat.native_dynamic_quantize_lstm(*args, **attrs)
    assert got is not None, "the native kernel left this node to numpy"
    want = ref_q.dynamic_quantize_lstm(*args, **attrs)
    assert len(got) == len(want) == attrs.get("num_outputs", 3)
    return got, want


def same_bits(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


LENS = {(1, 1): [1], (1, 3): [1, 0, 1], (7, 1): [4], (7, 3): [7, 0, 3]}


@pytest.mark.parametrize("hidden", [1, 3, 17, 64])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("seq", [1, 7])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_quantized_lstm_gives_the_numpy_kernels_bits(hidden, batch, seq, direction):
    rng = np.random.default_rng(hidden * 100 + batch * 10 + seq)
    dirs = 2 if direction == "bidirectional" else 1
    for variant in range(4):
        lens = LENS[(seq, batch)] if variant % 2 else None
        args = quantized_inputs(rng, seq, batch, 5 + variant, hidden, dirs, uint8=variant >= 2,
                                per_channel=variant in (1, 2), lens=lens, initial=variant in (1, 3))
        acts = (EXACT_ACTS if variant % 2 == 0 else EXACT_ACTS_2) * dirs
        got, want = both_quantized(args, direction=direction, hidden_size=hidden, activations=acts,
                                   activation_alpha=[0.25, 0.7, 0.3], activation_beta=[0.5, 0.05],
                                   clip=None if variant == 0 else 1.5, zero_finished=variant != 3)
        same_bits(got, want)


@pytest.mark.parametrize("uint8", [False, True], ids=["int8", "uint8"])
def test_quantized_lstm_with_peepholes_input_forget_and_clip_gives_the_numpy_kernels_bits(uint8):
    rng = np.random.default_rng(3)
    args = quantized_inputs(rng, 6, 3, 9, 12, 2, uint8=uint8, lens=[6, 2, 5], initial=True, peepholes=True)
    for input_forget in (0, 1):
        got, want = both_quantized(args, direction="bidirectional", activations=EXACT_ACTS * 2, clip=0.75,
                                   input_forget=input_forget)
        same_bits(got, want)


@pytest.mark.parametrize("hidden,k", [(1, 3), (17, 5), (64, 40), (130, 129)])
def test_quantized_lstm_reading_packed_or_plain_weights_gives_the_same_bits(hidden, k):
    # on a CPU with AVX-512 VNNI the weights are packed for vpdpbusd; the plain int8 rows (the
    # kernel of other CPUs) must give the same integers, and so the same outputs
    rng = np.random.default_rng(hidden + k)
    for uint8 in (False, True):
        args = quantized_inputs(rng, 7, 3, k, hidden, 2, uint8=uint8, lens=[7, 0, 3], initial=True)
        cache = ref_q._WeightCache(True)
        packed = nat.native_dynamic_quantize_lstm(*args, direction="bidirectional", cache=cache)
        weights = cache.get(args[1:3] + (args[9], args[11]), lambda: pytest.fail("the weights were not kept"))
        if weights[0][0].packed is None:
            pytest.skip("this CPU reads the weights unpacked only")
        for wq, rq in weights:
            wq.packed = rq.packed = None
        plain = nat.native_dynamic_quantize_lstm(*args, direction="bidirectional", cache=cache)
        same_bits(plain, packed)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lens", [None, [7, 0, 3]], ids=["full", "lens"])
def test_quantized_lstm_with_default_activations_matches_the_numpy_kernel(direction, lens):
    # the tanh approximation differs from numpy's by a few ulp; nothing else does
    rng = np.random.default_rng(5)
    dirs = 2 if direction == "bidirectional" else 1
    args = quantized_inputs(rng, 7, 3, 24, 32, dirs, lens=lens, initial=True, per_channel=True)
    got, want = both_quantized(args, direction=direction)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=2e-6, rtol=0)


def test_quantized_lstm_with_one_output_and_without_y_matches():
    rng = np.random.default_rng(7)
    args = quantized_inputs(rng, 5, 2, 6, 8, 1, lens=[5, 2])
    got, want = both_quantized(args, activations=EXACT_ACTS, num_outputs=1)
    same_bits(got, want)
    # without Y (zero_finished False) a finished entry's frozen state is quantized with the others
    got, want = both_quantized(args, activations=EXACT_ACTS, zero_finished=False)
    same_bits(got, want)


def test_quantized_lstm_with_a_nan_in_x_gives_the_numpy_kernels_nans():
    rng = np.random.default_rng(9)
    args = list(quantized_inputs(rng, 4, 2, 5, 3, 2))
    args[0][2, 1, 3] = np.nan
    assert nat.native_dynamic_quantize_lstm(*args, direction="bidirectional") is None  # left to numpy
    run = nat.DynamicQuantizeLSTM(direction="bidirectional", _num_outputs=3)
    outs = run(*args)
    assert all(np.isnan(o).all() for o in outs)


def test_quantized_lstm_with_a_nan_in_the_initial_state_gives_the_numpy_kernels_outputs():
    rng = np.random.default_rng(10)
    args = list(quantized_inputs(rng, 3, 2, 5, 4, 1, initial=True))
    args[5][0, 1, 2] = np.nan
    run = nat.DynamicQuantizeLSTM(_num_outputs=3)
    got, want = run(*args), ref_q.dynamic_quantize_lstm(*args)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)  # NaNs in the same places
    assert np.isnan(got[0]).all()


def assert_handed_to_numpy(args, **attrs) -> None:
    """The C recurrence declines these inputs (returns None) and the kernel gives the numpy kernel's bits."""
    assert nat.native_dynamic_quantize_lstm(*args, **attrs) is None
    run = nat.DynamicQuantizeLSTM(**attrs, _num_outputs=3)
    for g, w in zip(run(*args), ref_q.dynamic_quantize_lstm(*args, **attrs)):
        np.testing.assert_array_equal(g, w)


def test_quantized_lstm_whose_state_overflows_is_rerun_by_the_numpy_kernel():
    # Affine with a huge slope drives H to infinity: its quantization is no longer what the C code
    # reproduces, so the C call says so and the node runs on numpy
    rng = np.random.default_rng(12)
    args = quantized_inputs(rng, 6, 2, 5, 4, 1)
    acts = ["Affine", "Affine", "Affine"]
    attrs = dict(activations=acts, activation_alpha=[1e15, 1e15, 1e15], activation_beta=[0.0, 0.0, 0.0])
    assert_handed_to_numpy(args, **attrs)


def test_quantized_lstm_with_an_empty_sequence_or_softplus_runs_on_numpy():
    rng = np.random.default_rng(13)
    empty = quantized_inputs(rng, 0, 2, 5, 4, 1)
    assert_handed_to_numpy(empty)
    args = quantized_inputs(rng, 3, 2, 5, 4, 1)
    attrs = dict(activations=["Sigmoid", "Softplus", "Tanh"])
    assert_handed_to_numpy(args, **attrs)


def test_quantized_lstm_bad_inputs_raise_the_numpy_kernels_errors():
    rng = np.random.default_rng(14)
    x, w, r, *rest = quantized_inputs(rng, 3, 2, 5, 4, 1)
    with pytest.raises(ValueError, match="R must have shape"):
        nat.native_dynamic_quantize_lstm(x, w, r[:, :3], *rest)
    args = quantized_inputs(rng, 3, 2, 5, 4, 1, per_channel=True)
    rz = args[11].copy()
    rz[0, 5] = 3
    with pytest.raises(ValueError, match="per-channel R_zero_point of int8 weights must be all zero"):
        nat.native_dynamic_quantize_lstm(*args[:11], rz)


# --------------------------------------------------------------------------- float LSTM


def float_inputs(rng, seq, batch, k, n, dirs, *, lens=None, initial=False, peepholes=False, layout=0):
    x = rng.standard_normal((seq, batch, k) if layout == 0 else (batch, seq, k)).astype(np.float32)
    w = (rng.standard_normal((dirs, 4 * n, k)) * 0.3).astype(np.float32)
    r = (rng.standard_normal((dirs, 4 * n, n)) * 0.3).astype(np.float32)
    b = (rng.standard_normal((dirs, 8 * n)) * 0.1).astype(np.float32)
    h0 = c0 = None
    if initial:
        shape = (dirs, batch, n) if layout == 0 else (batch, dirs, n)
        h0 = (rng.standard_normal(shape) * 0.5).astype(np.float32)
        c0 = (rng.standard_normal(shape) * 0.5).astype(np.float32)
    p = (rng.standard_normal((dirs, 3 * n)) * 0.1).astype(np.float32) if peepholes else None
    return (x, w, r, b, None if lens is None else np.array(lens, np.int64), h0, c0, p)


def both_float(args, **attrs):
    got = nat.native_lstm(*args, **attrs)
    assert got is not None, "the native kernel left this node to numpy"
    want = ref_rnn.lstm(*args, **attrs)
    assert len(got) == len(want)
    return got, want


@pytest.mark.parametrize("hidden", [1, 3, 17, 64])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("seq", [1, 7])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_float_lstm_matches_the_numpy_kernel(hidden, batch, seq, direction):
    rng = np.random.default_rng(hidden * 100 + batch * 10 + seq + 1)
    dirs = 2 if direction == "bidirectional" else 1
    for variant in range(4):
        layout = variant % 2
        args = float_inputs(rng, seq, batch, 6, hidden, dirs, lens=LENS[(seq, batch)] if variant >= 2 else None,
                            initial=variant in (1, 2), peepholes=variant == 3, layout=layout)
        got, want = both_float(args, direction=direction, hidden_size=hidden, layout=layout, num_outputs=3,
                               clip=None if variant < 2 else 1.2, input_forget=int(variant == 3))
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_float_lstm_with_exact_activations_is_close_and_elu_runs_on_numpy():
    rng = np.random.default_rng(21)
    args = float_inputs(rng, 5, 3, 7, 9, 2, lens=[5, 0, 2], initial=True)
    got, want = both_float(args, direction="bidirectional", activations=EXACT_ACTS_2 * 2, clip=2.0, num_outputs=3)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    acts = ["Sigmoid", "Elu", "Tanh"]
    assert nat.native_lstm(*args, direction="bidirectional", activations=acts) is None
    run = nat.LSTM(direction="bidirectional", activations=acts, _num_outputs=3)
    for g, w in zip(run(*args), ref_rnn.lstm(*args, direction="bidirectional", activations=acts, num_outputs=3)):
        np.testing.assert_array_equal(g, w)


def test_float_lstm_with_a_nan_input_propagates_it_like_numpy():
    rng = np.random.default_rng(22)
    args = float_inputs(rng, 4, 2, 5, 6, 1)
    args[0][1, 0, 2] = np.nan
    got, want = both_float(args, num_outputs=3)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.isnan(got[0][1:, :, 0]).all() and not np.isnan(got[0][0, :, 1]).any()


def test_float_lstm_with_an_empty_sequence_runs_on_numpy():
    rng = np.random.default_rng(23)
    args = float_inputs(rng, 0, 2, 5, 4, 1)
    assert nat.native_lstm(*args) is None
    for g, w in zip(nat.LSTM(_num_outputs=3)(*args), ref_rnn.lstm(*args, num_outputs=3)):
        np.testing.assert_array_equal(g, w)


def constant_lstm_node(args, **attrs):
    """The function a session runs for an LSTM node whose W, R, B and P are initializers (as the factory
    sees them: the node's input names, the graph's initializer names)."""
    names = ["X", "W", "R", "B", "", "H0", "C0", "P"][:len(args)]
    names = [name if args[i] is not None else "" for i, name in enumerate(names)]
    node = SimpleNamespace(inputs=names)
    graph = SimpleNamespace(is_constant={"W", "R", "B", "P"}.__contains__)
    return nat.LSTM(**attrs, _node=node, _graph=graph, _num_outputs=3)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("variant", ["plain", "initial states", "peepholes and clip", "strided x"])
def test_lstm_node_with_constant_weights_gives_native_lstms_bits_on_every_run(direction, variant, monkeypatch):
    rng = np.random.default_rng(51)
    dirs = 2 if direction == "bidirectional" else 1
    x, w, r, b, _, h0, c0, p = float_inputs(rng, 3, 2, 5, 17, dirs, initial=variant == "initial states",
                                            peepholes=variant == "peepholes and clip")
    attrs = dict(direction=direction, hidden_size=17, clip=1.5 if variant == "peepholes and clip" else None)
    run = constant_lstm_node((x, w, r, b, None, h0, c0, p), **attrs)
    full = nat.native_lstm
    calls = []
    monkeypatch.setattr(nat, "native_lstm", lambda *a, **k: calls.append(1) or full(*a, **k))
    kept = []
    for step in range(3):
        xs = rng.standard_normal(x.shape).astype(np.float32)
        if variant == "strided x":
            xs = rng.standard_normal((3, 2, 10)).astype(np.float32)[:, :, ::2]
        states = [None if s is None else (s + step).astype(np.float32) for s in (h0, c0)]
        got = run(xs, w, r, b, None, *states, p)
        want = full(xs, w, r, b, None, *states, p, **attrs, num_outputs=3)
        same_bits(got, want)
        for g, v in zip(got, ref_rnn.lstm(xs, w, r, b, None, *states, p, **attrs, num_outputs=3)):
            np.testing.assert_allclose(g, v, rtol=1e-5, atol=1e-6)
        kept.append((got, [g.copy() for g in got]))
    assert len(calls) == 1, "runs after the first should skip native_lstm's setup"
    for got, copy in kept:  # no run overwrote the outputs of an earlier one
        same_bits(got, copy)


def test_lstm_node_with_constant_weights_follows_new_shapes_and_new_weights():
    rng = np.random.default_rng(52)
    x, w, r, b, _, h0, c0, _ = float_inputs(rng, 4, 3, 6, 9, 1, initial=True)
    run = constant_lstm_node((x, w, r, b, None, h0, c0), hidden_size=9)
    for seq, batch, weights in ((4, 3, (w, r, b)), (4, 3, (w, r, b)), (2, 1, (w, r, b)), (2, 1, (w * 0.5, r, b))):
        xs = rng.standard_normal((seq, batch, 6)).astype(np.float32)
        states = [np.ascontiguousarray(s[:, :batch]) for s in (h0, c0)]
        got = run(xs, *weights, None, *states)
        same_bits(got, nat.native_lstm(xs, *weights, None, *states, hidden_size=9, num_outputs=3))


def test_lstm_node_with_constant_weights_still_raises_the_numpy_kernels_errors():
    rng = np.random.default_rng(53)
    x, w, r, b, _, h0, c0, _ = float_inputs(rng, 4, 3, 6, 9, 1, initial=True)
    run = constant_lstm_node((x, w, r, b, None, h0, c0), hidden_size=9)
    run(x, w, r, b, None, h0, c0)
    with pytest.raises(ValueError, match="initial state must have shape"):
        run(x, w, r, b, None, h0[:, :2], c0)


# --------------------------------------------------------------------------- threads, sessions


def _split(call):
    """Results on 1, 2 and 3 threads; each call on more than one must have used the pool."""
    results = []
    for threads in (1, 2, 3):
        with intra_op_thread_limit(threads):
            jobs = library.LIB.ep_pool_jobs()
            results.append(call())
            assert (library.LIB.ep_pool_jobs() > jobs) == (threads > 1), "the call should be split over the threads"
    return results


def test_native_lstms_give_the_same_bits_on_1_2_and_3_threads():
    rng = np.random.default_rng(31)
    # large enough that the int8 products of every step (and X's projection) and the float H R^T split
    q_args = quantized_inputs(rng, 3, 3, 128, 840, 1, lens=[3, 1, 2], initial=True)
    f_args = float_inputs(rng, 3, 3, 16, 420, 1, lens=[3, 1, 2], initial=True)
    for call in (lambda: nat.native_dynamic_quantize_lstm(*q_args), lambda: nat.native_lstm(*f_args, num_outputs=3)):
        one, two, three = _split(call)
        same_bits(two, one)
        same_bits(three, one)


def quantized_lstm_model(rng, n=6, k=5):
    """DynamicQuantizeLSTM (of X) and an LSTM (of X2), weights as initializers; and an input for X."""
    x, w, r, b, _, _, _, _, ws, wz, rs, rz = quantized_inputs(rng, 4, 2, k, n, 1)
    inits = [numpy_helper.from_array(v, name) for v, name in
             ((w, "W"), (r, "R"), (b, "B"), (ws, "ws"), (wz, "wz"), (rs, "rs"), (rz, "rz"))]
    inits += [numpy_helper.from_array((rng.standard_normal((1, 12, n)) * 0.3).astype(np.float32), "FW"),
              numpy_helper.from_array((rng.standard_normal((1, 12, 3)) * 0.3).astype(np.float32), "FR")]
    nodes = [helper.make_node("DynamicQuantizeLSTM", ["X", "W", "R", "B", "", "", "", "", "ws", "wz", "rs", "rz"],
                              ["Y", "Y_h", "Y_c"], domain="com.microsoft", hidden_size=n, name="qlstm"),
             helper.make_node("LSTM", ["X2", "FW", "FR"], ["Z", "Z_h"], hidden_size=3, name="lstm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 2, k]),
                                           helper.make_tensor_value_info("X2", TensorProto.FLOAT, [4, 2, n])],
                              [helper.make_tensor_value_info(v, TensorProto.FLOAT, None) for v in ("Z", "Y_h")],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)], ir_version=10)
    return model, x


def test_sessions_run_lstm_and_dynamic_quantize_lstm_natively_and_match_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(41)
    model, x = quantized_lstm_model(rng)
    sess = ep.InferenceSession(model.SerializeToString(), providers=["cpu"])
    native = {d.node.name for d in sess.get_partition().decisions if any("kernel native" in n for n in d.notes)}
    assert {"qlstm", "lstm"} <= native
    feeds = {"X": x, "X2": rng.standard_normal((4, 2, 6)).astype(np.float32)}
    got = sess.run(None, feeds)
    for g, a in zip(got, sess.run(None, feeds)):  # the packed weights kept from the first run
        np.testing.assert_array_equal(g, a)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    want = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- the C code under sanitizers

SANITIZER_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ep_native.h"

static unsigned long long seed = 88172645463325252ULL;
static int64_t rnd(int64_t lo, int64_t hi) { /* xorshift in [lo, hi] */
    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
    return lo + (int64_t)(seed % (unsigned long long)(hi - lo + 1));
}
static float rndf(void) { return (float)rnd(-1000, 1000) / 1000.0f; }
static long calls;

static void fail(const char *what, int64_t a, int64_t b, int64_t c) {
    printf("MISMATCH %s %ld %ld %ld\n", what, (long)a, (long)b, (long)c);
    exit(1);
}

/* the projection of integer-valued x (scale 1: q = x + zero exactly) against int64 sums */
static void check_project(int64_t rows, int64_t k, int64_t cols) {
    const int32_t x_zero = (int32_t)rnd(0, 255), w_zero = (int32_t)rnd(-20, 20);
    float *x = malloc(sizeof(float) * rows * k), *scale = malloc(sizeof(float) * cols);
    float *y[3];
    int8_t *w = malloc(k * cols);
    int32_t *sums = malloc(sizeof(int32_t) * cols);
    for (int64_t i = 0; i < rows * k; i++) x[i] = (float)(rnd(0, 255) - x_zero);
    for (int64_t j = 0; j < cols; j++) {
        scale[j] = 0.001f * (float)rnd(1, 9);
        sums[j] = 0;
        for (int64_t i = 0; i < k; i++) { w[j * k + i] = (int8_t)rnd(-128, 127); sums[j] += w[j * k + i]; }
    }
    const int64_t size = ep_qlstm_packed_size(cols, k);
    int8_t *packed = size ? malloc(size) : NULL;
    if (packed && ep_qlstm_pack(w, cols, k, packed) != 0) fail("pack", cols, k, 0);
    for (int v = 0; v < 3; v++) {
        y[v] = malloc(sizeof(float) * rows * cols);
        if (ep_qlstm_project_f32(x, rows, k, 1.0f, x_zero, w, v == 2 ? packed : NULL, sums, w_zero, cols, scale,
                                 y[v], v == 0 ? 1 : 3) != 0) fail("project rc", rows, k, cols);
        calls++;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) {
            int64_t exact = 0;
            for (int64_t i = 0; i < k; i++) exact += (int64_t)x[r * k + i] * (w[j * k + i] - w_zero);
            const float want = (float)exact * scale[j];
            for (int v = 0; v < 3; v++)
                if (memcmp(&y[v][r * cols + j], &want, sizeof want) != 0) fail("project", rows, k, cols);
        }
    for (int v = 0; v < 3; v++) free(y[v]);
    free(x); free(scale); free(w); free(sums); free(packed);
}

/* a quantized and a float direction: plain and packed weights, 1 and 3 threads, the same bits (the
 * sixth call, a float direction with input_forget, only runs under the sanitizers) */
static void check_recurrence(int64_t seq, int64_t batch, int64_t n, int with_lens) {
    const int64_t cols = 4 * n;
    float *xw = malloc(sizeof(float) * seq * batch * cols), *rs = malloc(sizeof(float) * cols);
    float *bias = malloc(sizeof(float) * cols), *p = malloc(sizeof(float) * 3 * n);
    float *h0 = malloc(sizeof(float) * batch * n), *c0 = malloc(sizeof(float) * batch * n);
    float *rf = malloc(sizeof(float) * n * cols);
    int8_t *r = malloc(cols * n);
    int32_t *sums = malloc(sizeof(int32_t) * cols);
    int64_t *lens = malloc(sizeof(int64_t) * batch);
    for (int64_t i = 0; i < seq * batch * cols; i++) xw[i] = rndf();
    for (int64_t j = 0; j < cols; j++) { rs[j] = 0.002f; bias[j] = rndf() * 0.1f; sums[j] = 0; }
    for (int64_t i = 0; i < 3 * n; i++) p[i] = rndf() * 0.1f;
    for (int64_t i = 0; i < batch * n; i++) { h0[i] = rndf(); c0[i] = rndf(); }
    for (int64_t i = 0; i < n * cols; i++) rf[i] = rndf() * 0.2f;
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < n; i++) { r[j * n + i] = (int8_t)rnd(-128, 127); sums[j] += r[j * n + i]; }
    for (int64_t b = 0; b < batch; b++) lens[b] = rnd(0, seq);
    const int64_t size = ep_qlstm_packed_size(cols, n);
    int8_t *packed = size ? malloc(size) : NULL;
    if (packed) ep_qlstm_pack(r, cols, n, packed);
    const int32_t acts[3] = {0, 1, 1}, exact_acts[3] = {7, 8, 3};
    const float alpha[3] = {0.2f, 0.0f, 0.5f}, beta[3] = {0.5f, 0.0f, 0.1f};
    const int64_t out = seq * batch * n + 2 * batch * n;
    float *res[6];
    for (int v = 0; v < 6; v++) {
        res[v] = malloc(sizeof(float) * out);
        float *y = res[v], *h = y + seq * batch * n, *c = h + batch * n;
        const int64_t threads = v % 3 == 0 ? 1 : 3;
        int rc;
        if (v < 3)
            rc = ep_qlstm_f32(xw, r, v == 2 ? packed : NULL, sums, 3, rs, bias, p, h0, c0,
                              with_lens ? lens : NULL, with_lens, y, h, c, seq, batch, n, with_lens ? exact_acts : acts,
                              alpha, beta, 1.5f, with_lens, 0, threads);
        else
            rc = ep_lstm_f32(xw, rf, p, h0, c0, with_lens ? lens : NULL, y, h, c, seq, batch, n, acts, alpha, beta,
                             1.5f, with_lens, v == 5, v == 5 ? 1 : threads);
        if (rc != 0) fail("recurrence rc", seq, batch, n);
        calls++;
    }
    if (memcmp(res[0], res[1], sizeof(float) * out) || memcmp(res[0], res[2], sizeof(float) * out))
        fail("quantized recurrence", seq, batch, n);
    if (memcmp(res[3], res[4], sizeof(float) * out)) fail("float recurrence", seq, batch, n);
    for (int v = 0; v < 6; v++) free(res[v]);
    free(xw); free(rs); free(bias); free(p); free(h0); free(c0); free(rf); free(r); free(sums); free(lens);
    free(packed);
}

/* ep_lstm_x_f32 (X projected in C, forward and reverse) against ep_lstm_f32 given the projection */
static void check_x_projection(int64_t seq, int64_t batch, int64_t k, int64_t n) {
    const int64_t cols = 4 * n, rows = seq * batch, out = rows * n + 2 * batch * n;
    float *x = malloc(sizeof(float) * rows * k), *wt = malloc(sizeof(float) * k * cols);
    float *bias = malloc(sizeof(float) * cols), *rf = malloc(sizeof(float) * n * cols);
    float *h0 = malloc(sizeof(float) * batch * n), *c0 = malloc(sizeof(float) * batch * n);
    float *xw = malloc(sizeof(float) * rows * cols);
    float *got = malloc(sizeof(float) * out), *want = malloc(sizeof(float) * out);
    for (int64_t i = 0; i < rows * k; i++) x[i] = rndf();
    for (int64_t i = 0; i < k * cols; i++) wt[i] = rndf() * 0.3f;
    for (int64_t i = 0; i < n * cols; i++) rf[i] = rndf() * 0.2f;
    for (int64_t j = 0; j < cols; j++) bias[j] = rndf() * 0.1f;
    for (int64_t i = 0; i < batch * n; i++) { h0[i] = rndf(); c0[i] = rndf(); }
    const int32_t acts[3] = {0, 1, 1};
    const float alpha[3] = {0}, beta[3] = {0};
    for (int reverse = 0; reverse < 2; reverse++) {
        for (int64_t t = 0; t < seq; t++)
            for (int64_t b = 0; b < batch; b++)
                for (int64_t j = 0; j < cols; j++) {
                    const float *xr = x + ((reverse ? seq - 1 - t : t) * batch + b) * k;
                    double sum = 0.0;
                    for (int64_t i = 0; i < k; i++) sum += (double)xr[i] * wt[i * cols + j];
                    xw[(t * batch + b) * cols + j] = (float)sum + bias[j];
                }
        if (ep_lstm_f32(xw, rf, NULL, h0, c0, NULL, want, want + rows * n, want + rows * n + batch * n, seq, batch,
                        n, acts, alpha, beta, 0.0f, 0, 0, 1) != 0) fail("float recurrence rc", seq, batch, n);
        if (ep_lstm_x_f32(x, k, reverse, wt, bias, rf, NULL, h0, c0, got, got + rows * n, got + rows * n + batch * n,
                          seq, batch, n, acts, alpha, beta, 0.0f, 0, 0, 3) != 0) fail("x recurrence rc", seq, batch, n);
        calls += 2;
        for (int64_t i = 0; i < out; i++) {
            const float d = got[i] - want[i];
            if (d > 1e-4f || d < -1e-4f) fail("x projection", seq, batch, k);
        }
    }
    free(x); free(wt); free(bias); free(rf); free(h0); free(c0); free(xw); free(got); free(want);
}

int main(void) {
    for (int64_t seq = 1; seq <= 3; seq++)
        for (int64_t k = 1; k <= 33; k += 16) check_x_projection(seq, 4 - seq, k, seq * 7 + 1);
    const int64_t ks[] = {1, 3, 4, 17, 64, 129}, colss[] = {4, 12, 68, 128, 132, 260};
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) check_project(1 + a % 3 * 2, ks[a], colss[b]);
    const int64_t ns[] = {1, 3, 17, 33, 64};
    for (int a = 0; a < 5; a++)
        for (int64_t batch = 1; batch <= 3; batch += 2)
            for (int with_lens = 0; with_lens < 2; with_lens++)
                check_recurrence(1 + a % 2 * 6, batch, ns[a], with_lens);
    printf("sanitizers OK: %ld calls\n", calls);
    return 0;
}
"""


def test_the_lstm_kernels_run_clean_under_sanitizers(tmp_path):
    """rnn.c over odd sizes (k and hidden sizes that are not multiples of 4, 16 or 128, empty and short
    sequences) built with AddressSanitizer and UndefinedBehaviorSanitizer and with every call split
    over threads: nothing reads or writes out of bounds, the projection equals int64 sums exactly, and
    plain and packed weights, 1 and 3 threads give the same bits, X projected in C is the projection given."""
    run_driver(build_driver(tmp_path, SANITIZER_DRIVER, ["parallel.c", "rnn.c"], no_clones=False), "sanitizers OK")
