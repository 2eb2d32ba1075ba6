"""Attention family: Attention (23, 24, 25), ai.onnx.preview FlexAttention (1) and LinearAttention (27).

Softmax attention is written with speed in mind: one batched matmul over (batch, heads) for the
scores and one for the output, grouped-query heads broadcast by a reshape (no K/V repeat), the
additive bias built once at its smallest broadcastable shape, and a stable softmax in place.

Precision follows the reference: element-wise steps run in the input dtype (numpy rounds each
float16 / bfloat16 op), matrix products of 16-bit floats run in float32 and are rounded back to the
input dtype, and `softmax_precision` converts the biased scores before the softmax.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import onnx

from ep_runtime.graph import Graph
from ep_runtime.provider import ExecutionProvider
from ep_runtime.subgraph import SubgraphRunner

from .control_flow import bodies_supported
from .registry import kernel

#: TensorProto element types accepted by `softmax_precision`.
_PRECISIONS = {
    onnx.TensorProto.FLOAT: np.dtype(np.float32),
    onnx.TensorProto.FLOAT16: np.dtype(np.float16),
    onnx.TensorProto.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
    onnx.TensorProto.DOUBLE: np.dtype(np.float64),
}
_SMALL_FLOATS = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in a's dtype; 16-bit floats multiply in float32 (BLAS) and round once at the end."""
    if a.dtype in _SMALL_FLOATS:
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)
    r = np.matmul(a, b)
    return r if r.dtype == a.dtype else r.astype(a.dtype)


def _softmax_last(x: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis, in place on `x` (a fresh array). A row that is all -inf
    (fully masked) gives zeros instead of NaN."""
    m = x.max(axis=-1, keepdims=True)
    m[np.isneginf(m)] = 0
    x -= m
    np.exp(x, out=x)
    s = x.sum(axis=-1, keepdims=True)
    s[s == 0] = 1
    x /= s
    return x


def _precision(softmax_precision: int | None, op: str) -> np.dtype | None:
    if softmax_precision is None:
        return None
    if softmax_precision not in _PRECISIONS:
        raise ValueError(f"{op}: softmax_precision {softmax_precision} is not one of float, float16, bfloat16, "
                         "double")
    return _PRECISIONS[softmax_precision]


# --------------------------------------------------------------------------------------------
# Attention


def _split_heads(x: np.ndarray, heads: int | None, name: str) -> np.ndarray:
    """(B, S, H*D) -> (B, H, S, D)."""
    if heads is None or heads <= 0:
        raise ValueError(f"Attention: 3-D inputs need positive q_num_heads and kv_num_heads attributes "
                         f"(got {heads} for {name})")
    b, s, hidden = x.shape
    if hidden % heads:
        raise ValueError(f"Attention: {name} hidden size {hidden} is not divisible by its {heads} heads")
    return x.reshape(b, s, heads, hidden // heads).transpose(0, 2, 1, 3)


def _frontier_mask(q_len: int, kv_len: int, offset: int | np.ndarray, left: int, right: int,
                   causal: bool) -> np.ndarray:
    """Allowed (query, key) pairs for the causal and sliding-window constraints: a bool (q, kv)
    array, or (B, 1, q, kv) when `offset` is per batch. A query at block index i sits at absolute
    position p = i + offset; causal keeps j <= p, the window keeps p - left <= j <= p + right."""
    i = np.arange(q_len).reshape(q_len, 1)
    j = np.arange(kv_len).reshape(1, kv_len)
    per_batch = np.ndim(offset) > 0
    pos = i + (np.reshape(offset, (-1, 1, 1)) if per_batch else int(offset))
    diff = pos - j
    allowed = np.ones(diff.shape, dtype=bool)
    if causal:
        allowed &= diff >= 0
    if left >= 0:
        allowed &= diff <= left
    if right >= 0:
        allowed &= -diff <= right
    if per_batch:
        allowed = allowed.reshape(allowed.shape[0], 1, q_len, kv_len)
    return allowed


def _attention_bias(attn_mask: np.ndarray | None, nonpad: np.ndarray | None, past_len: int | None,
                    q_len: int, kv_len: int, batch: int, dtype: np.dtype, is_causal: int, left: int,
                    right: int) -> np.ndarray | None:
    """The additive bias (0 / -inf / float mask), at the smallest shape broadcastable to
    (B, H, q, kv), or None when nothing masks the scores."""
    bias = None
    if attn_mask is not None:
        pad = kv_len - attn_mask.shape[-1]
        if pad < 0:
            raise ValueError(f"Attention: attn_mask covers {attn_mask.shape[-1]} keys, more than the "
                             f"{kv_len} keys of past and current K")
        if attn_mask.dtype == np.bool_:
            bias = np.where(attn_mask, dtype.type(0), dtype.type(-np.inf))
        else:
            bias = attn_mask.astype(dtype, copy=False)
        if pad:
            bias = np.pad(bias, [(0, 0)] * (bias.ndim - 1) + [(0, pad)], constant_values=-np.inf)
    if is_causal or left >= 0 or right >= 0:
        if past_len is None and nonpad is not None:
            offset: int | np.ndarray = nonpad.reshape(-1).astype(np.int64) - q_len
        else:
            offset = past_len or 0
        allowed = _frontier_mask(q_len, kv_len, offset, left, right, bool(is_causal))
        frontier = np.where(allowed, dtype.type(0), dtype.type(-np.inf))
        bias = frontier if bias is None else bias + frontier
    if nonpad is not None:
        keep = np.arange(kv_len) < nonpad.reshape(-1, 1)
        pad_bias = np.where(keep, dtype.type(0), dtype.type(-np.inf)).reshape(batch, 1, 1, kv_len)
        bias = pad_bias if bias is None else bias + pad_bias
    return bias


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, attn_mask: np.ndarray | None = None,
              past_key: np.ndarray | None = None, past_value: np.ndarray | None = None,
              nonpad_kv_seqlen: np.ndarray | None = None, *, scale: float | None = None, is_causal: int = 0,
              q_num_heads: int | None = None, kv_num_heads: int | None = None,
              softmax_precision: int | None = None, softcap: float = 0.0, qk_matmul_output_mode: int = 0,
              left_window_size: int = -1, right_window_size: int = -1,
              num_outputs: int = 1) -> tuple[np.ndarray | None, ...]:
    """Scaled dot-product attention: (Y, present_key, present_value, qk_matmul_output)."""
    op = "Attention"
    if not q.ndim == k.ndim == v.ndim or q.ndim not in (3, 4):
        raise ValueError(f"{op}: Q, K and V must all be 3-D or all 4-D, got shapes {q.shape}, {k.shape}, {v.shape}")
    if (past_key is None) != (past_value is None):
        raise ValueError(f"{op}: past_key and past_value must be given together")
    if nonpad_kv_seqlen is not None and past_key is not None:
        raise ValueError(f"{op}: nonpad_kv_seqlen (external KV cache) cannot be combined with past_key/past_value")
    if left_window_size < -1 or right_window_size < -1:
        raise ValueError(f"{op}: left_window_size and right_window_size must be -1 or >= 0, got "
                         f"{left_window_size} and {right_window_size}")
    if qk_matmul_output_mode not in (0, 1, 2, 3):
        raise ValueError(f"{op}: qk_matmul_output_mode must be 0, 1, 2 or 3, got {qk_matmul_output_mode}")
    dtype = q.dtype
    three_d = q.ndim == 3
    if three_d:
        q = _split_heads(q, q_num_heads, "Q")
        k = _split_heads(k, kv_num_heads, "K")
        v = _split_heads(v, kv_num_heads, "V")
    batch, hq, q_len, head = q.shape
    if k.shape[0] != batch or v.shape[0] != batch or k.shape[1] != v.shape[1] or k.shape[2] != v.shape[2]:
        raise ValueError(f"{op}: K {k.shape} and V {v.shape} do not match each other or Q's batch {batch}")
    if k.shape[3] != head:
        raise ValueError(f"{op}: Q and K head sizes differ ({head} and {k.shape[3]})")
    hkv = k.shape[1]
    if hkv == 0 or hq % hkv:
        raise ValueError(f"{op}: q_num_heads {hq} must be a multiple of kv_num_heads {hkv}")

    past_len = None
    if past_key is not None:
        if past_key.shape[:2] != k.shape[:2] or past_value.shape[:2] != v.shape[:2] \
                or past_key.shape[3] != k.shape[3] or past_value.shape[3] != v.shape[3] \
                or past_key.shape[2] != past_value.shape[2]:
            raise ValueError(f"{op}: past_key {past_key.shape} / past_value {past_value.shape} do not match "
                             f"K {k.shape} / V {v.shape} (batch, kv heads, head size)")
        past_len = past_key.shape[2]
        k = np.concatenate((past_key, k), axis=2)
        v = np.concatenate((past_value, v), axis=2)
    present_key, present_value = k, v
    kv_len = k.shape[2]
    if nonpad_kv_seqlen is not None and nonpad_kv_seqlen.size != batch:
        raise ValueError(f"{op}: nonpad_kv_seqlen has {nonpad_kv_seqlen.size} values for a batch of {batch}")

    if scale is None:
        scale = 1 / np.sqrt(head)
    root = dtype.type(np.sqrt(scale))
    group = hq // hkv
    # Grouped heads: query head h reads kv head h // group, so view Q as (B, Hkv, group*q, D).
    qs = (q * root).reshape(batch, hkv, group * q_len, head)
    kt = np.swapaxes(k * root, -1, -2)
    scores = _matmul(qs, kt).reshape(batch, hq, q_len, kv_len)

    # Scores are updated in place where no requested qk_matmul_output still needs them.
    want_qk = qk_matmul_output_mode if num_outputs > 3 else -1
    if softcap and softcap > 0:
        cap = dtype.type(softcap)
        capped = scores / cap
        np.tanh(capped, out=capped)
        capped *= cap
    else:
        capped = scores
    bias = _attention_bias(attn_mask, nonpad_kv_seqlen, past_len, q_len, kv_len, batch, dtype, is_causal,
                           left_window_size, right_window_size)
    qk_out = {0: scores, 1: capped}.get(want_qk)
    biased = capped.copy() if capped is qk_out else capped
    if bias is not None:
        biased += bias
    sm_dtype = _precision(softmax_precision, op)
    if sm_dtype is not None and sm_dtype != biased.dtype:
        probs = biased.astype(sm_dtype)
    else:
        probs = biased.copy() if want_qk == 2 else biased
    if want_qk == 2:
        qk_out = biased
    probs = _softmax_last(probs)
    if bias is not None:
        fully_masked = np.isneginf(bias.max(axis=-1, keepdims=True))
        if fully_masked.any():
            probs = np.where(fully_masked, probs.dtype.type(0), probs)
    if probs.dtype != dtype:
        probs = probs.astype(dtype)
    if want_qk == 3:
        qk_out = probs

    dv = v.shape[3]
    y = _matmul(probs.reshape(batch, hkv, group * q_len, kv_len), v).reshape(batch, hq, q_len, dv)
    if three_d:
        y = y.transpose(0, 2, 1, 3).reshape(batch, q_len, hq * dv)
    return (y, present_key, present_value, qk_out)[:max(num_outputs, 1)]


@kernel("Attention", since=23, until=24, multi_output=True)
def Attention_23(q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, *,
                 scale: float | None = None, is_causal: int = 0, q_num_heads: int | None = None,
                 kv_num_heads: int | None = None, softmax_precision: int | None = None, softcap: float = 0.0,
                 qk_matmul_output_mode: int = 0, _num_outputs: int = 1):
    """Attention-23/24 (24 adds the nonpad_kv_seqlen input of an external KV cache)."""
    return attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, scale=scale, is_causal=is_causal,
                     q_num_heads=q_num_heads, kv_num_heads=kv_num_heads, softmax_precision=softmax_precision,
                     softcap=softcap, qk_matmul_output_mode=qk_matmul_output_mode, num_outputs=_num_outputs)


@kernel("Attention", since=25, multi_output=True)
def Attention(q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, *,
              scale: float | None = None, is_causal: int = 0, q_num_heads: int | None = None,
              kv_num_heads: int | None = None, softmax_precision: int | None = None, softcap: float = 0.0,
              qk_matmul_output_mode: int = 0, left_window_size: int = -1, right_window_size: int = -1,
              _num_outputs: int = 1):
    """Attention-25: adds sliding-window bounds; q_num_heads/kv_num_heads are only for 3-D inputs."""
    if q.ndim == 4 and (q_num_heads is not None or kv_num_heads is not None):
        raise ValueError("Attention: q_num_heads and kv_num_heads must not be given for 4-D inputs")
    return attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, scale=scale, is_causal=is_causal,
                     q_num_heads=q_num_heads, kv_num_heads=kv_num_heads, softmax_precision=softmax_precision,
                     softcap=softcap, qk_matmul_output_mode=qk_matmul_output_mode,
                     left_window_size=left_window_size, right_window_size=right_window_size,
                     num_outputs=_num_outputs)


# --------------------------------------------------------------------------------------------
# FlexAttention (ai.onnx.preview)


def _run_mod(runner: SubgraphRunner | None, x: np.ndarray, outer: dict[str, Any] | None, name: str) -> np.ndarray:
    if runner is None:
        return x
    if len(runner.input_names) != 1 or len(runner.output_names) != 1:
        raise ValueError(f"FlexAttention: {name} must take one input and produce one output, it has "
                         f"{len(runner.input_names)} inputs and {len(runner.output_names)} outputs")
    out = np.asarray(runner([x], outer or {})[0])
    if out.shape != x.shape:
        raise ValueError(f"FlexAttention: {name} changed the shape {x.shape} into {out.shape}")
    return out.astype(x.dtype, copy=False)


@kernel("FlexAttention", since=1, domain="ai.onnx.preview", factory=True,
        supports=bodies_supported("score_mod", "prob_mod"))
def FlexAttention(*, scale: float | None = None, score_mod: onnx.GraphProto | None = None,
                  prob_mod: onnx.GraphProto | None = None, softmax_precision: int | None = None,
                  _graph: Graph, _provider: ExecutionProvider):
    """softmax(score_mod(Q K^T * scale)) -> prob_mod -> @ V over rank-4 inputs, GQA by head groups.
    Scores, softmax and the final product run in the softmax precision (float32 for 16-bit inputs)."""
    score_run = SubgraphRunner(score_mod, _graph, _provider) if score_mod is not None else None
    prob_run = SubgraphRunner(prob_mod, _graph, _provider) if prob_mod is not None else None
    sm_dtype = _precision(softmax_precision, "FlexAttention")

    def run(q: np.ndarray, k: np.ndarray, v: np.ndarray, *, _outer: dict[str, Any] | None = None) -> np.ndarray:
        if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
            raise ValueError(f"FlexAttention: Q, K, V must be rank 4, got shapes {q.shape}, {k.shape}, {v.shape}")
        batch, hq, q_len, head = q.shape
        _, hkv, kv_len, _ = k.shape
        if k.shape[3] != head or v.shape[1] != hkv or v.shape[2] != kv_len:
            raise ValueError(f"FlexAttention: shapes Q {q.shape}, K {k.shape}, V {v.shape} do not match")
        if hkv == 0 or hq % hkv:
            raise ValueError(f"FlexAttention: q heads {hq} must be a multiple of kv heads {hkv}")
        group = hq // hkv
        s = 1.0 / np.sqrt(head) if scale is None else scale
        root = np.asarray(np.sqrt(np.float32(s)), dtype=q.dtype)
        compute = sm_dtype or (np.dtype(np.float32) if q.dtype.itemsize < 4 else q.dtype)
        qs = (q * root).reshape(batch, hkv, group * q_len, head)
        scores = _matmul(qs, np.swapaxes(k * root, -1, -2)).reshape(batch, hq, q_len, kv_len)
        scores = scores.astype(compute)
        scores = _run_mod(score_run, scores, _outer, "score_mod")
        m = scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores - m)
        probs /= probs.sum(axis=-1, keepdims=True)
        probs = _run_mod(prob_run, probs, _outer, "prob_mod")
        y = np.matmul(probs.reshape(batch, hkv, group * q_len, kv_len), v.astype(compute))
        return y.reshape(batch, hq, q_len, v.shape[3]).astype(v.dtype, copy=False)

    return run


# --------------------------------------------------------------------------------------------
# LinearAttention

_UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")


def _to_heads(x: np.ndarray, heads: int, name: str) -> np.ndarray:
    """(B, T, H*D) -> float32 (B, H, T, D)."""
    if x.ndim != 3:
        raise ValueError(f"LinearAttention: {name} must be rank 3 (B, T, H*D), got shape {x.shape}")
    b, t, hd = x.shape
    if hd % heads:
        raise ValueError(f"LinearAttention: {name} last dim {hd} is not divisible by {heads} heads")
    return x.reshape(b, t, heads, hd // heads).transpose(0, 2, 1, 3).astype(np.float32)


@kernel("LinearAttention", since=27, multi_output=True)
def LinearAttention(query, key, value, past_state=None, decay=None, beta=None, *, chunk_size: int = 64,
                    kv_num_heads: int | None = None, q_num_heads: int | None = None, scale: float = 0.0,
                    update_rule: str = "gated_delta"):
    """Recurrent linear attention over a (B, H_kv, d_k, d_v) state, accumulated in float32:
    per token, decay the state (gated), correct the value by what the state already holds (delta),
    add k ⊗ v, and read o = scale * q^T S with query heads grouped over the kv heads."""
    op = "LinearAttention"
    if isinstance(update_rule, bytes):
        update_rule = update_rule.decode()
    if update_rule not in _UPDATE_RULES:
        raise ValueError(f"{op}: update_rule {update_rule!r} is not one of {', '.join(_UPDATE_RULES)}")
    if q_num_heads is None or kv_num_heads is None:
        raise ValueError(f"{op}: the q_num_heads and kv_num_heads attributes are required")
    if q_num_heads <= 0 or kv_num_heads <= 0 or q_num_heads % kv_num_heads:
        raise ValueError(f"{op}: q_num_heads ({q_num_heads}) must be a positive multiple of kv_num_heads "
                         f"({kv_num_heads})")
    gated = update_rule in ("gated", "gated_delta")
    delta = update_rule in ("delta", "gated_delta")
    if gated != (decay is not None):
        raise ValueError(f"{op}: update_rule {update_rule!r} {'requires' if gated else 'forbids'} the decay input")
    if delta != (beta is not None):
        raise ValueError(f"{op}: update_rule {update_rule!r} {'requires' if delta else 'forbids'} the beta input")

    q4 = _to_heads(query, q_num_heads, "query")
    k4 = _to_heads(key, kv_num_heads, "key")
    v4 = _to_heads(value, kv_num_heads, "value")
    b, _, t, d_k = q4.shape
    d_v = v4.shape[3]
    if k4.shape[:3] != (b, kv_num_heads, t) or k4.shape[3] != d_k or v4.shape[:3] != (b, kv_num_heads, t):
        raise ValueError(f"{op}: key {key.shape} / value {value.shape} do not match query {query.shape}")
    group = q_num_heads // kv_num_heads

    g4 = None
    if decay is not None:
        if decay.ndim != 3 or decay.shape[:2] != (b, t) or decay.shape[2] not in (kv_num_heads, kv_num_heads * d_k):
            raise ValueError(f"{op}: decay must have shape (B, T, kv_num_heads) or (B, T, kv_num_heads*d_k), "
                             f"got {decay.shape}")
        g4 = np.exp(_to_heads(decay, kv_num_heads, "decay"))  # (B, H_kv, T, 1 or d_k)
    b4 = None
    if beta is not None:
        if beta.ndim != 3 or beta.shape[:2] != (b, t) or beta.shape[2] not in (kv_num_heads, 1):
            raise ValueError(f"{op}: beta must have shape (B, T, kv_num_heads) or (B, T, 1), got {beta.shape}")
        b4 = _to_heads(beta, beta.shape[2], "beta")  # (B, H_kv or 1, T, 1)

    if past_state is not None:
        if past_state.shape != (b, kv_num_heads, d_k, d_v):
            raise ValueError(f"{op}: past_state shape {past_state.shape} is not {(b, kv_num_heads, d_k, d_v)}")
        state_dtype = past_state.dtype
        state = past_state.astype(np.float32)
    else:
        state_dtype = query.dtype
        state = np.zeros((b, kv_num_heads, d_k, d_v), dtype=np.float32)
    scale_val = np.float32(1.0 / np.sqrt(d_k) if not scale else scale)

    # Query heads grouped per kv head: (B, H_kv, T, group, d_k).
    qg = q4.reshape(b, kv_num_heads, group, t, d_k).transpose(0, 1, 3, 2, 4)
    out = np.empty((b, kv_num_heads, t, group, d_v), dtype=np.float32)
    for i in range(t):
        k_t = k4[:, :, i, :, None]  # (B, H, d_k, 1)
        v_t = v4[:, :, i, None, :]  # (B, H, 1, d_v)
        if g4 is not None:
            state = state * g4[:, :, i, :, None]
        if b4 is not None:
            retrieved = np.matmul(k4[:, :, i, None, :], state)  # (B, H, 1, d_v)
            v_t = b4[:, :, i, :, None] * (v_t - retrieved)
        state = state + k_t * v_t
        out[:, :, i] = np.matmul(qg[:, :, i], state)
    out *= scale_val
    output = out.transpose(0, 2, 1, 3, 4).reshape(b, t, q_num_heads * d_v).astype(query.dtype)
    return output, state.astype(state_dtype)
