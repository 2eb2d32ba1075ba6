"""CPU kernels of the attention family: Attention (23-25), FlexAttention (ai.onnx.preview),
LinearAttention and RotaryEmbedding. Kernels are called directly and checked against values worked
out by hand or against a naive per-head numpy loop."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ep_runtime.session import InferenceSession
from providers.cpu import REGISTRY
from tests.helpers import kernels

rng = np.random.default_rng(11)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def run_kernel(op: str, inputs: list, attrs: dict | None = None, opset: int = 24, n_outputs: int = 1,
               domain: str = "") -> list:
    return kernels.run_kernel(op, inputs, attrs, opset, n_outputs, domain)


def naive_attention(q, k, v, bias=None, scale=None):
    """Per (batch, head) loops, kv head h // group, float64."""
    b, hq, sq, d = q.shape
    hkv = k.shape[1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    y = np.zeros((b, hq, sq, v.shape[3]))
    for bi in range(b):
        for h in range(hq):
            kv = h // (hq // hkv)
            s = q[bi, h].astype(np.float64) @ k[bi, kv].T.astype(np.float64) * scale
            if bias is not None:
                s = s + np.broadcast_to(bias, (b, hq, sq, k.shape[2]))[bi, h]
            p = np.exp(s - s.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            y[bi, h] = p @ v[bi, kv]
    return y


# --- Attention -------------------------------------------------------------------------------


def test_attention_single_query_by_hand():
    q = np.array([[[[1.0, 0.0]]]], np.float32)
    k = np.array([[[[1.0, 0.0], [0.0, 1.0]]]], np.float32)
    v = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)
    (y,) = run_kernel("Attention", [q, k, v], {"scale": 1.0})
    p0 = math.e / (math.e + 1)
    np.testing.assert_allclose(y[0, 0, 0], [p0 * 1 + (1 - p0) * 3, p0 * 2 + (1 - p0) * 4], rtol=1e-6)


def test_attention_causal_first_query_sees_only_first_key():
    q, k, v = randn(1, 2, 3, 4), randn(1, 2, 3, 4), randn(1, 2, 3, 5)
    (y,) = run_kernel("Attention", [q, k, v], {"is_causal": 1})
    np.testing.assert_allclose(y[:, :, 0], v[:, :, 0], rtol=1e-6)
    tril = np.where(np.tril(np.ones((3, 3), bool)), 0.0, -np.inf)
    np.testing.assert_allclose(y, naive_attention(q, k, v, tril), rtol=1e-5, atol=1e-6)


def test_attention_gqa_broadcasts_kv_heads_to_query_groups():
    q, k, v = randn(2, 6, 4, 8), randn(2, 2, 5, 8), randn(2, 2, 5, 3)
    (y,) = run_kernel("Attention", [q, k, v])
    assert y.shape == (2, 6, 4, 3)
    np.testing.assert_allclose(y, naive_attention(q, k, v), rtol=1e-5, atol=1e-6)


def test_attention_3d_inputs_split_and_merge_heads():
    q4, k4, v4 = randn(2, 4, 3, 8), randn(2, 2, 5, 8), randn(2, 2, 5, 6)
    to3 = lambda x: x.transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1)  # noqa: E731
    (y,) = run_kernel("Attention", [to3(q4), to3(k4), to3(v4)], {"q_num_heads": 4, "kv_num_heads": 2})
    np.testing.assert_allclose(y, to3(naive_attention(q4, k4, v4)), rtol=1e-5, atol=1e-6)


def test_attention_float_and_bool_masks_broadcast():
    q, k, v = randn(2, 3, 4, 8), randn(2, 3, 6, 8), randn(2, 3, 6, 8)
    fmask = randn(2, 1, 4, 6)
    (y,) = run_kernel("Attention", [q, k, v, fmask])
    np.testing.assert_allclose(y, naive_attention(q, k, v, fmask), rtol=1e-5, atol=1e-6)
    bmask = rng.random((4, 6)) > 0.3
    bmask[:, 0] = True
    (y,) = run_kernel("Attention", [q, k, v, bmask])
    np.testing.assert_allclose(y, naive_attention(q, k, v, np.where(bmask, 0.0, -np.inf)), rtol=1e-5, atol=1e-6)


def test_attention_short_mask_is_padded_with_minus_inf():
    q, k, v = randn(1, 1, 2, 4), randn(1, 1, 5, 4), randn(1, 1, 5, 4)
    (y,) = run_kernel("Attention", [q, k, v, np.zeros((2, 3), np.float32)])
    np.testing.assert_allclose(y, naive_attention(q, k[:, :, :3], v[:, :, :3]), rtol=1e-5, atol=1e-6)


def test_attention_fully_masked_row_gives_zeros_not_nan():
    q, k, v = randn(1, 2, 2, 8), randn(1, 2, 2, 8), randn(1, 2, 2, 8)
    mask = np.array([[True, True], [False, False]])
    y, _, _, probs = run_kernel("Attention", [q, k, v, mask], {"qk_matmul_output_mode": 3}, n_outputs=4)
    assert np.isfinite(y).all() and np.isfinite(probs).all()
    np.testing.assert_array_equal(y[:, :, 1], 0)
    np.testing.assert_array_equal(probs[:, :, 1], 0)
    np.testing.assert_allclose(probs[:, :, 0].sum(-1), 1, rtol=1e-6)


def test_attention_past_and_present_kv_cache_with_offset_causal():
    q, k, v = randn(1, 2, 2, 4), randn(1, 2, 2, 4), randn(1, 2, 2, 4)
    pk, pv = randn(1, 2, 3, 4), randn(1, 2, 3, 4)
    pk_before = pk.copy()
    y, present_k, present_v = run_kernel("Attention", [q, k, v, None, pk, pv], {"is_causal": 1}, n_outputs=3)
    np.testing.assert_array_equal(present_k, np.concatenate([pk, k], axis=2))
    np.testing.assert_array_equal(present_v, np.concatenate([pv, v], axis=2))
    # bottom-right causal: query i sees keys j <= i + 3
    allowed = np.arange(5)[None, :] <= np.arange(2)[:, None] + 3
    ref = naive_attention(q, present_k, present_v, np.where(allowed, 0.0, -np.inf))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pk, pk_before)  # inputs are left alone


def test_attention_nonpad_kv_seqlen_ignores_padding_keys():
    q, k, v = randn(2, 2, 1, 4), randn(2, 2, 6, 4), randn(2, 2, 6, 4)
    k_before = k.copy()
    (y,) = run_kernel("Attention", [q, k, v, None, None, None, np.array([3, 6])], {"is_causal": 1})
    np.testing.assert_allclose(y[:1], naive_attention(q[:1], k[:1, :, :3], v[:1, :, :3]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[1:], naive_attention(q[1:], k[1:], v[1:]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(k, k_before)


def test_attention_softcap_and_qk_matmul_output_modes():
    q, k, v = randn(1, 1, 3, 4), randn(1, 1, 3, 4), randn(1, 1, 3, 4)
    mask = randn(3, 3)
    raw = q[0, 0] @ k[0, 0].T / 2.0
    capped = 1.5 * np.tanh(raw / 1.5)
    outs = {m: run_kernel("Attention", [q, k, v, mask], {"softcap": 1.5, "qk_matmul_output_mode": m},
                          n_outputs=4)[3][0, 0] for m in range(4)}
    np.testing.assert_allclose(outs[0], raw, rtol=1e-5)
    np.testing.assert_allclose(outs[1], capped, rtol=1e-5)
    np.testing.assert_allclose(outs[2], capped + mask, rtol=1e-5)
    e = np.exp(capped + mask - (capped + mask).max(-1, keepdims=True))
    np.testing.assert_allclose(outs[3], e / e.sum(-1, keepdims=True), rtol=1e-5)


def test_attention_sliding_window_opset25():
    q, k, v = randn(1, 1, 5, 2), randn(1, 1, 5, 2), randn(1, 1, 5, 2)
    (y,) = run_kernel("Attention", [q, k, v], {"left_window_size": 1, "right_window_size": 0}, opset=25)
    diff = np.arange(5)[:, None] - np.arange(5)[None, :]
    allowed = (diff >= 0) & (diff <= 1)
    np.testing.assert_allclose(y, naive_attention(q, k, v, np.where(allowed, 0.0, -np.inf)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_attention_16bit_keeps_dtype(dtype):
    q, k, v = randn(1, 2, 3, 8), randn(1, 2, 4, 8), randn(1, 2, 4, 8)
    (y,) = run_kernel("Attention", [q.astype(dtype), k.astype(dtype), v.astype(dtype)], {"is_causal": 1})
    assert y.dtype == np.dtype(dtype)
    tril = np.where(np.arange(4)[None, :] <= np.arange(3)[:, None], 0.0, -np.inf)
    np.testing.assert_allclose(y.astype(np.float32), naive_attention(q, k, v, tril), rtol=0.05, atol=0.05)


@pytest.mark.parametrize(("inputs", "attrs", "opset", "message"), [
    (lambda: [randn(1, 1, 2, 4)] * 3 + [None, randn(1, 1, 2, 4)], {}, 24, "past_key and past_value"),
    (lambda: [randn(1, 2, 8)] * 3, {}, 24, "q_num_heads"),
    (lambda: [randn(1, 3, 2, 4), randn(1, 2, 2, 4), randn(1, 2, 2, 4)], {}, 24, "multiple"),
    (lambda: [randn(1, 2, 2, 4)] * 3, {"q_num_heads": 2, "kv_num_heads": 2}, 25, "4-D"),
    (lambda: [randn(1, 1, 2, 4)] * 3 + [randn(2, 7)], {}, 24, "attn_mask covers 7"),
])
def test_attention_rejects_bad_input(inputs, attrs, opset, message):
    with pytest.raises(ValueError, match=message):
        run_kernel("Attention", inputs(), attrs, opset=opset)


def test_attention_registered_for_every_schema_version():
    versions = sorted({s.since_version for s in onnx.defs.get_all_schemas_with_history() if s.name == "Attention"
                       and s.domain == ""})
    for ver in versions:
        assert any(k.covers(ver) for k in REGISTRY.versions("Attention")), ver


# --- RotaryEmbedding -------------------------------------------------------------------------


def test_rotary_quarter_turn_by_hand():
    x = np.arange(1, 9, dtype=np.float32).reshape(1, 1, 2, 4)  # (B, H, S, D)
    cos = np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)  # position 0: identity, 1: 90 degrees
    sin = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    pos = np.array([[0, 1]])
    x_before = x.copy()
    (y,) = run_kernel("RotaryEmbedding", [x, cos, sin, pos], opset=23)
    np.testing.assert_array_equal(y[0, 0, 0], [1, 2, 3, 4])
    np.testing.assert_array_equal(y[0, 0, 1], [-7, -8, 5, 6])  # halves (5,6),(7,8) -> (-x2, x1)
    (yi,) = run_kernel("RotaryEmbedding", [x, cos, sin, pos], {"interleaved": 1}, opset=23)
    np.testing.assert_array_equal(yi[0, 0, 1], [-6, 5, -8, 7])  # pairs (5,6),(7,8)
    np.testing.assert_array_equal(x, x_before)


def test_rotary_partial_dim_3d_input_keeps_tail():
    x = randn(2, 3, 2 * 6)  # (B, S, H*D), D = 6, rotate the first 4
    cos, sin = randn(2, 3, 2), randn(2, 3, 2)
    (y,) = run_kernel("RotaryEmbedding", [x, cos, sin], {"num_heads": 2, "rotary_embedding_dim": 4}, opset=23)
    xh, yh = x.reshape(2, 3, 2, 6), y.reshape(2, 3, 2, 6)
    np.testing.assert_array_equal(yh[..., 4:], xh[..., 4:])
    c, s = cos[:, :, None], sin[:, :, None]
    np.testing.assert_allclose(yh[..., :2], c * xh[..., :2] - s * xh[..., 2:4], rtol=1e-6)
    np.testing.assert_allclose(yh[..., 2:4], s * xh[..., :2] + c * xh[..., 2:4], rtol=1e-6)


def test_rotary_rejects_bad_cache_width():
    with pytest.raises(ValueError, match="rotary_embedding_dim / 2"):
        run_kernel("RotaryEmbedding", [randn(1, 1, 2, 8), randn(4, 3), randn(4, 3), np.array([[0, 1]])], opset=23)


# --- LinearAttention -------------------------------------------------------------------------


def test_linear_attention_linear_rule_is_causal_unnormalized_attention():
    b, t, h, d = 2, 5, 2, 4
    q, k, v = randn(b, t, h * d), randn(b, t, h * d), randn(b, t, h * d)
    y, state = run_kernel("LinearAttention", [q, k, v], {"q_num_heads": h, "kv_num_heads": h,
                                                         "update_rule": "linear"}, opset=27, n_outputs=2)
    q4, k4, v4 = (x.reshape(b, t, h, d).transpose(0, 2, 1, 3) for x in (q, k, v))
    scores = q4 @ k4.transpose(0, 1, 3, 2) * np.tril(np.ones((t, t))) / math.sqrt(d)
    ref = (scores @ v4).transpose(0, 2, 1, 3).reshape(b, t, h * d)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state, k4.transpose(0, 1, 3, 2) @ v4, rtol=1e-4, atol=1e-5)


def test_linear_attention_gated_delta_one_step_by_hand():
    q = np.array([[[1.0, 0.0]]], np.float32)
    k = np.array([[[0.0, 1.0]]], np.float32)
    v = np.array([[[2.0, 4.0]]], np.float32)
    past = np.ones((1, 1, 2, 2), np.float32)
    decay = np.full((1, 1, 1), np.log(0.5), np.float32)
    beta = np.full((1, 1, 1), 0.5, np.float32)
    y, state = run_kernel("LinearAttention", [q, k, v, past, decay, beta],
                          {"q_num_heads": 1, "kv_num_heads": 1, "scale": 1.0}, opset=27, n_outputs=2)
    # S = 0.5 * ones; retrieved = S^T k = [0.5, 0.5]; v' = 0.5 * (v - retrieved) = [0.75, 1.75]
    # S += k ⊗ v' -> row 1 becomes [1.25, 2.25]; o = q^T S = row 0 = [0.5, 0.5]
    np.testing.assert_allclose(state[0, 0], [[0.5, 0.5], [1.25, 2.25]], rtol=1e-6)
    np.testing.assert_allclose(y[0, 0], [0.5, 0.5], rtol=1e-6)


def test_linear_attention_requires_decay_for_gated():
    x = randn(1, 2, 4)
    with pytest.raises(ValueError, match="requires the decay"):
        run_kernel("LinearAttention", [x, x, x], {"q_num_heads": 1, "kv_num_heads": 1, "update_rule": "gated"},
                   opset=27, n_outputs=2)


# --- FlexAttention ---------------------------------------------------------------------------


def flex_model(score_mod: onnx.GraphProto | None = None) -> onnx.ModelProto:
    attrs = {"score_mod": score_mod} if score_mod is not None else {}
    node = helper.make_node("FlexAttention", ["Q", "K", "V"], ["Y"], domain="ai.onnx.preview", **attrs)
    graph = helper.make_graph([node], "flex", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                                               for n in "QKV"],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26),
                                                   helper.make_opsetid("ai.onnx.preview", 1)])


def test_flex_attention_gqa_matches_naive():
    q, k, v = randn(1, 4, 3, 8), randn(1, 2, 5, 8), randn(1, 2, 5, 8)
    (y,) = InferenceSession(flex_model(), providers=["cpu"]).run(None, {"Q": q, "K": k, "V": v})
    np.testing.assert_allclose(y, naive_attention(q, k, v), rtol=1e-5, atol=1e-6)


def test_flex_attention_score_mod_subgraph_runs():
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    body = helper.make_graph([helper.make_node("Mul", ["s", "zero"], ["out"])], "score_mod",
                             [helper.make_tensor_value_info("s", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [zero])
    q, k, v = randn(1, 2, 3, 4), randn(1, 2, 5, 4), randn(1, 2, 5, 4)
    (y,) = InferenceSession(flex_model(body), providers=["cpu"]).run(None, {"Q": q, "K": k, "V": v})
    # all scores zeroed -> uniform attention -> every query gets the mean of V
    np.testing.assert_allclose(y, np.broadcast_to(v.mean(axis=2, keepdims=True), y.shape), rtol=1e-5, atol=1e-6)
