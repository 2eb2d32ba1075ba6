"""Attention fusions of the com.microsoft domain: Attention (BERT/GPT-2 self-attention with the
QKV projection fused in), QAttention (the same with a quantized projection), MultiHeadAttention
(projected Q, K, V), GroupQueryAttention (decoder LLMs with a KV cache) and RotaryEmbedding.

Masks follow onnxruntime: a masked (query, key) pair gets `mask_filter_value` (default -10000)
added to its scaled score, not -inf, so a fully padded row still attends (uniformly over the
keys causality allows); keys in the future of a unidirectional query are excluded outright. The scaled
dot-product itself is `..attention.attention`."""

from __future__ import annotations

import numpy as np

from ep_runtime.graph import Graph, Node

from ..attention import attention
from ..registry import kernel
from ..rotary import RotaryEmbedding as rotary
from ._common import MS, check_8bit, float_scale, zero_point
from .quantized import column_param, integer_matmul

DEFAULT_MASK_FILTER = -10000.0


def _heads(x: np.ndarray, heads: int, what: str, op: str) -> np.ndarray:
    """(B, S, N*H) -> (B, N, S, H)."""
    b, s, hidden = x.shape
    if heads <= 0 or hidden % heads:
        raise ValueError(f"{op}: {what} hidden size {hidden} is not divisible by num_heads {heads}")
    return x.reshape(b, s, heads, hidden // heads).transpose(0, 2, 1, 3)


def key_mask(mask: np.ndarray, batch: int, q_len: int, total: int, past: int, op: str) -> np.ndarray:
    """Which (query, key) pairs a mask input hides, as bool broadcastable to (B, 1, S, T): 1-D
    right-padding lengths (B), 1-D end/start positions (2B), raw 0/1 masks (B, T), (B, S, T), or
    (B, 1, max, max) of which the rows of the current queries are used."""
    if mask.ndim == 1 and mask.shape[0] == batch:
        return (np.arange(total) >= mask.reshape(batch, 1).astype(np.int64)).reshape(batch, 1, 1, total)
    if mask.ndim == 1 and mask.shape[0] == 2 * batch:
        end, start = mask[:batch].reshape(batch, 1), mask[batch:].reshape(batch, 1)
        j = np.arange(total)
        return ((j >= end) | (j < start)).reshape(batch, 1, 1, total)
    if mask.ndim == 2 and mask.shape == (batch, total):
        return (mask == 0).reshape(batch, 1, 1, total)
    if mask.ndim == 3 and mask.shape == (batch, q_len, total):
        return (mask == 0)[:, None]
    if mask.ndim == 4 and mask.shape[:2] == (batch, 1) and mask.shape[2] >= past + q_len and mask.shape[3] >= total:
        return (mask[:, :, past:past + q_len, :total] == 0)
    raise ValueError(f"{op}: mask of shape {mask.shape} is none of (B), (2B), (B, T), (B, S, T), (B, 1, M, M) "
                     f"for B={batch}, S={q_len}, T={total}")


def score_bias(mask: np.ndarray | None, attention_bias: np.ndarray | None, unidirectional: int, batch: int,
               heads: int, q_len: int, total: int, past: int, mask_filter_value: float, op: str) -> np.ndarray | None:
    """The float32 bias added to the scaled scores, broadcastable to (B, N, S, T), or None: a pair
    the mask hides gets mask_filter_value, a future key (unidirectional) -inf, plus attention_bias."""
    bias = None
    if mask is not None:
        bias = np.where(key_mask(mask, batch, q_len, total, past, op), np.float32(mask_filter_value), np.float32(0))
    if unidirectional:
        future = np.arange(total)[None, :] > np.arange(q_len)[:, None] + past
        causal = np.where(future, np.float32(-np.inf), np.float32(0))
        bias = causal if bias is None else bias + causal
    if attention_bias is not None:
        try:
            np.broadcast_shapes(attention_bias.shape, (batch, heads, q_len, total))
        except ValueError:
            raise ValueError(f"{op}: attention_bias of shape {attention_bias.shape} does not broadcast to "
                             f"(B, N, S, T) = {(batch, heads, q_len, total)}") from None
        ab = attention_bias.astype(np.float32)
        bias = ab if bias is None else bias + ab
    return bias


def _refuse_attributes(**unsupported: object):
    """A supports= check refusing nodes whose attribute differs from the given value."""

    def check(node: Node, graph: Graph) -> str | None:
        for name, ok in unsupported.items():
            value = node.attrs.get(name, ok)
            if value != ok:
                return f"{name}={value} not supported"
        return None

    return check


def self_attention(qkv: np.ndarray, sizes: list[int], mask_index, past, attention_bias, *, num_heads: int,
                   scale: float | None, mask_filter_value: float | None, unidirectional: int, num_outputs: int,
                   op: str) -> tuple:
    """Attention over a projected (B, S, q+k+v) tensor split into num_heads heads; `past`
    (2, B, N, P, H) is prepended to K and V and (output, present) returned."""
    q, k, v = np.split(qkv, [sizes[0], sizes[0] + sizes[1]], axis=-1)
    q, k, v = (_heads(t, num_heads, n, op) for t, n in ((q, "Q"), (k, "K"), (v, "V")))
    batch, _, q_len, _ = q.shape
    past_key = past_value = None
    past_len = 0
    if past is not None:
        if past.ndim != 5 or past.shape[0] != 2 or past.shape[1:3] != (batch, num_heads) or \
                past.shape[4] != k.shape[3] or sizes[1] != sizes[2]:
            raise ValueError(f"{op}: past must be (2, B, N, P, H) = (2, {batch}, {num_heads}, P, {k.shape[3]}) "
                             f"with equal K and V sizes, got {past.shape}")
        past_key, past_value, past_len = past[0].astype(qkv.dtype), past[1].astype(qkv.dtype), past.shape[3]
    total = past_len + k.shape[2]
    score = score_bias(mask_index, attention_bias, unidirectional, batch, num_heads, q_len, total, past_len,
                       DEFAULT_MASK_FILTER if mask_filter_value is None else mask_filter_value, op)
    y, present_key, present_value = attention(q, k, v, None if score is None else score.astype(qkv.dtype), past_key,
                                              past_value, scale=scale or None, num_outputs=3)
    y = y.transpose(0, 2, 1, 3).reshape(batch, q_len, -1)
    if num_outputs < 2:
        return (y,)
    if present_key.shape != present_value.shape:
        raise ValueError(f"{op}: present needs equal K and V hidden sizes, got {sizes[1]} and {sizes[2]}")
    return y, np.stack([present_key, present_value])


def _qkv_sizes(qkv_hidden_sizes: list[int] | None, width: int, op: str) -> list[int]:
    sizes = list(qkv_hidden_sizes) if qkv_hidden_sizes else [width // 3] * 3
    if len(sizes) != 3 or sum(sizes) != width or sizes[0] != sizes[1]:
        raise ValueError(f"{op}: qkv_hidden_sizes {sizes} must be 3 sizes (Q and K equal) summing to "
                         f"the weights' width {width}")
    return sizes


@kernel("Attention", 1, domain=MS, multi_output=True, supports=_refuse_attributes(do_rotary=0,
                                                                                   past_present_share_buffer=0))
def Attention(x, weights, bias=None, mask_index=None, past=None, attention_bias=None, past_sequence_length=None, *,
              num_heads: int | None = None, qkv_hidden_sizes: list[int] | None = None, scale: float | None = None,
              mask_filter_value: float | None = None, unidirectional: int = 0, do_rotary: int = 0,
              past_present_share_buffer: int = 0, rotary_embedding_dim: int = 0, _num_outputs: int = 1):
    """Self-attention with the QKV projection: [Q K V] = input @ weights + bias, split into
    num_heads heads; `past` (2, B, N, P, H) is prepended to K and V and `present` returned."""
    op = "Attention"
    if num_heads is None:
        raise ValueError(f"{op}: the num_heads attribute is required")
    if x.ndim != 3 or x.dtype.kind != "f":
        raise ValueError(f"{op}: input must be a 3-D float tensor (B, S, hidden), got {x.dtype} {x.shape}")
    if weights.ndim != 2 or weights.shape[0] != x.shape[2]:
        raise ValueError(f"{op}: weights must be (input_hidden, q+k+v hidden) with input_hidden {x.shape[2]}, "
                         f"got {weights.shape}")
    sizes = _qkv_sizes(qkv_hidden_sizes, weights.shape[1], op)
    qkv = np.matmul(x, weights.astype(x.dtype, copy=False))
    if bias is not None:
        if bias.shape != (weights.shape[1],):
            raise ValueError(f"{op}: bias must have shape ({weights.shape[1]},), got {bias.shape}")
        qkv = qkv + bias.astype(x.dtype, copy=False)
    return self_attention(qkv, sizes, mask_index, past, attention_bias, num_heads=num_heads, scale=scale,
                          mask_filter_value=mask_filter_value, unidirectional=unidirectional,
                          num_outputs=_num_outputs, op=op)


@kernel("QAttention", 1, domain=MS, multi_output=True, supports=_refuse_attributes(do_rotary=0,
                                                                                    past_present_share_buffer=0))
def QAttention(x, weight, bias, input_scale, weight_scale, mask_index=None, input_zero_point=None,
               weight_zero_point=None, past=None, *, num_heads: int | None = None, scale: float | None = None,
               mask_filter_value: float | None = None, unidirectional: int = 0, do_rotary: int = 0,
               past_present_share_buffer: int = 0, _num_outputs: int = 1):
    """Attention whose projection is quantized: QKV = (input - input_zp) @ (weight - weight_zp) *
    input_scale * weight_scale + bias (weight's scale and zero point per tensor or per column)."""
    op = "QAttention"
    if num_heads is None:
        raise ValueError(f"{op}: the num_heads attribute is required")
    check_8bit(x, "input", op)
    check_8bit(weight, "weight", op)
    if x.ndim != 3 or weight.ndim != 2 or weight.shape[0] != x.shape[2]:
        raise ValueError(f"{op}: input must be (B, S, hidden) and weight (hidden, 3 * hidden), got {x.shape} and "
                         f"{weight.shape}")
    n = weight.shape[1]
    if bias is None or bias.shape != (n,):
        raise ValueError(f"{op}: bias must have shape ({n},), got {None if bias is None else bias.shape}")
    x_zero = zero_point(input_zero_point, x.dtype, "input_zero_point", op).astype(np.float64)
    acc = integer_matmul(x, weight, x_zero, column_param(weight_zero_point, n, "weight_zero_point", op, np.float64),
                         op)
    multiplier = float_scale(input_scale, "input_scale", op) * column_param(weight_scale, n, "weight_scale", op)
    qkv = (acc.astype(np.float32) * multiplier + bias.astype(np.float32)).astype(bias.dtype, copy=False)
    return self_attention(qkv, [n // 3] * 3, mask_index, past, None, num_heads=num_heads, scale=scale,
                          mask_filter_value=mask_filter_value, unidirectional=unidirectional,
                          num_outputs=_num_outputs, op=op)


@kernel("MultiHeadAttention", 1, domain=MS, multi_output=True)
def MultiHeadAttention(query, key=None, value=None, bias=None, key_padding_mask=None, attention_bias=None,
                       past_key=None, past_value=None, past_sequence_length=None, cache_indirection=None, *,
                       num_heads: int | None = None, scale: float | None = None, mask_filter_value: float | None = None,
                       unidirectional: int = 0, _num_outputs: int = 1):
    """Attention of projected Q (B, S, D) over K (B, L, D) and V (B, L, Dv), or over K and V
    already split into heads (B, N, L, H); `bias` (D + D + Dv) is added to 3-D Q, K, V; past K/V
    (B, N, P, H) are prepended and returned as present K/V."""
    op = "MultiHeadAttention"
    if num_heads is None:
        raise ValueError(f"{op}: the num_heads attribute is required")
    if past_sequence_length is not None or cache_indirection is not None:
        raise ValueError(f"{op}: past_sequence_length / cache_indirection (shared-buffer beam search) "
                         "are not supported")
    if query.ndim != 3 or key is None or value is None:
        raise ValueError(f"{op}: packed QKV / KV inputs are not supported: give 3-D query, key and value "
                         f"(query shape {query.shape})")
    if key.ndim != value.ndim or key.ndim not in (3, 4):
        raise ValueError(f"{op}: key and value must both be 3-D (B, L, D) or 4-D (B, N, L, H), got {key.shape} "
                         f"and {value.shape}")
    d = query.shape[2]
    if bias is not None:
        dv = value.shape[2] if value.ndim == 3 else value.shape[1] * value.shape[3]
        if bias.shape != (2 * d + dv,):
            raise ValueError(f"{op}: bias must have shape ({2 * d + dv},), got {bias.shape}")
        query = query + bias[:d]
        if key.ndim == 3:
            key, value = key + bias[d:2 * d], value + bias[2 * d:]
    q = _heads(query, num_heads, "query", op)
    k = _heads(key, num_heads, "key", op) if key.ndim == 3 else key
    v = _heads(value, num_heads, "value", op) if value.ndim == 3 else value
    batch, _, q_len, _ = q.shape
    if (past_key is None) != (past_value is None):
        raise ValueError(f"{op}: past_key and past_value must be given together")
    past_len = 0 if past_key is None else past_key.shape[2]
    total = past_len + k.shape[2]
    score = score_bias(key_padding_mask, attention_bias, unidirectional, batch, num_heads, q_len, total, past_len,
                       DEFAULT_MASK_FILTER if mask_filter_value is None else mask_filter_value, op)
    y, present_key, present_value = attention(q, k, v, None if score is None else score.astype(query.dtype),
                                              past_key, past_value, scale=scale or None, num_outputs=3)
    y = y.transpose(0, 2, 1, 3).reshape(batch, q_len, -1)
    return (y, present_key, present_value)[:max(_num_outputs, 1)]


# onnxruntime's CPU kernel ignores `scale`; its meaning is undocumented, so a scale other than 1 is refused
@kernel("RotaryEmbedding", 1, domain=MS, supports=_refuse_attributes(is_packed_batching=0, scale=1.0))
def RotaryEmbedding(x: np.ndarray, position_ids: np.ndarray, cos_cache: np.ndarray, sin_cache: np.ndarray, *,
                    interleaved: int = 0, is_packed_batching: int = 0, num_heads: int = 0,
                    rotary_embedding_dim: int = 0, scale: float = 1.0) -> np.ndarray:
    """RoPE of a (B, S, N*H) or (B, N, S, H) input. position_ids is (B, S), or one offset (1,)
    from which positions count up along the sequence. Without num_heads a 3-D input's head size
    is rotary_embedding_dim, else twice the cache width."""
    op = "RotaryEmbedding"
    if x.ndim == 3:
        b, s = x.shape[:2]
        if not num_heads:
            head = rotary_embedding_dim or 2 * cos_cache.shape[-1]
            if head <= 0 or x.shape[2] % head:
                raise ValueError(f"{op}: hidden size {x.shape[2]} is not a multiple of the head size {head}")
            num_heads = x.shape[2] // head
    elif x.ndim == 4:
        b, s = x.shape[0], x.shape[2]
    else:
        raise ValueError(f"{op}: input must be 3-D or 4-D, got shape {x.shape}")
    pos = np.asarray(position_ids).astype(np.int64)
    if pos.size == 1:
        pos = pos.reshape(()) + np.broadcast_to(np.arange(s), (b, s))
    elif pos.shape != (b, s):
        raise ValueError(f"{op}: position_ids must have shape (1,) or (B, S) = {(b, s)}, got {pos.shape}")
    return rotary(x, cos_cache, sin_cache, pos, interleaved=interleaved, num_heads=num_heads or None,
                  rotary_embedding_dim=rotary_embedding_dim)


def _gqa_supported(node: Node, graph: Graph) -> str | None:
    for name, ok in (("k_quant_type", "NONE"), ("v_quant_type", "NONE"), ("sliding_window_cache", 0),
                     ("smooth_softmax", 0), ("qk_output", 0)):
        value = node.attrs.get(name, ok)
        if value != ok:
            return f"{name}={value} not supported"
    if node.attrs.get("kv_cache_bit_width") is not None:
        return "kv_cache_bit_width (quantized KV cache) not supported"
    if node.attrs.get("causal", 1) != 1:
        return f"causal={node.attrs['causal']} not supported"
    names = ("position_ids", "attention_bias", "head_sink", "k_scale", "v_scale", "q_norm_weight", "k_norm_weight",
             "query_seqlens")
    for pos, name in enumerate(names, start=9):
        if len(node.inputs) > pos and node.inputs[pos]:
            return f"input {name} not supported"
    return None


@kernel("GroupQueryAttention", 1, domain=MS, multi_output=True, supports=_gqa_supported)
def GroupQueryAttention(query, key=None, value=None, past_key=None, past_value=None, seqlens_k=None,
                        total_sequence_length=None, cos_cache=None, sin_cache=None, *unsupported_inputs,
                        num_heads: int | None = None,
                        kv_num_heads: int | None = None, scale: float | None = None, softcap: float = 0.0,
                        local_window_size: int = -1, do_rotary: int = 0, rotary_interleaved: int = 0,
                        causal: int = 1, smooth_softmax: int = 0, qk_output: int = 0,
                        k_quant_type: str = "NONE", v_quant_type: str = "NONE", sliding_window_cache: int = 0,
                        kv_cache_bit_width: int | None = None, qk_norm_epsilon: float = 1e-6,
                        q_norm_epsilon: float | None = None, k_norm_epsilon: float | None = None,
                        _num_outputs: int = 1):
    """Causal grouped-query attention with a BNSH KV cache. Entry b holds T = seqlens_k[b] + 1
    tokens after this step: on the first prompt (no cached tokens, S == total_sequence_length) its
    queries sit at positions 0..S-1, later its S new tokens follow T - S cached ones. New K/V
    (rotated first with do_rotary) are written into present K/V after the cached rows; query s
    attends keys up to its own position, only the last local_window_size of them (its own
    included) when a window is set, scores optionally soft-capped (cap * tanh(score / cap)).
    Output rows of a right-padded first prompt past its T tokens are unspecified."""
    op = "GroupQueryAttention"
    if not num_heads or not kv_num_heads or num_heads % kv_num_heads:
        raise ValueError(f"{op}: num_heads ({num_heads}) must be a positive multiple of kv_num_heads ({kv_num_heads})")
    if seqlens_k is None or total_sequence_length is None:
        raise ValueError(f"{op}: inputs seqlens_k and total_sequence_length are required")
    if query.ndim != 3 or query.dtype.kind != "f":
        raise ValueError(f"{op}: query must be a 3-D float tensor, got {query.dtype} {query.shape}")
    batch, seq, width = query.shape
    if key is None:  # packed QKV
        head = width // (num_heads + 2 * kv_num_heads)
        query, key, value = np.split(query, [num_heads * head, (num_heads + kv_num_heads) * head], axis=-1)
    elif value is None or key.shape[:2] != (batch, seq) or value.shape != key.shape:
        raise ValueError(f"{op}: key and value must both be (B, S, kv_hidden) matching query {query.shape}")
    q, k, v = _heads(query, num_heads, "query", op), _heads(key, kv_num_heads, "key", op), \
        _heads(value, kv_num_heads, "value", op)
    head = q.shape[3]
    total_seqs = seqlens_k.reshape(-1).astype(np.int64) + 1
    total_len = int(np.asarray(total_sequence_length).reshape(()))
    if total_seqs.shape != (batch,):
        raise ValueError(f"{op}: seqlens_k must hold one value per batch entry ({batch}), got shape {seqlens_k.shape}")
    if (past_key is None) != (past_value is None):
        raise ValueError(f"{op}: past_key and past_value must be given together")
    cache = 0 if past_key is None else past_key.shape[2]
    if past_key is not None and (past_key.shape != past_value.shape or past_key.shape[:2] != (batch, kv_num_heads)
                                 or past_key.shape[3] != head):
        raise ValueError(f"{op}: past_key/past_value must be (B, kv_num_heads, P, head) = ({batch}, {kv_num_heads}, P, "
                         f"{head}), got {past_key.shape} and {past_value.shape}")
    first_prompt = cache == 0 and seq == total_len
    past = np.zeros(batch, np.int64) if first_prompt else total_seqs - seq
    if (past < 0).any():
        raise ValueError(f"{op}: seqlens_k + 1 ({total_seqs.tolist()}) must be at least the sequence length {seq}")
    present_len = max(cache, total_len)
    if (past + seq > present_len).any():
        raise ValueError(f"{op}: seqlens_k {seqlens_k.tolist()} run past the KV cache of {present_len} positions")
    pos = past[:, None] + np.arange(seq)[None, :]
    if do_rotary:
        if cos_cache is None or sin_cache is None:
            raise ValueError(f"{op}: do_rotary needs cos_cache and sin_cache")
        rot_dim = 2 * cos_cache.shape[1]
        q = rotary(q, cos_cache, sin_cache, pos, interleaved=rotary_interleaved, rotary_embedding_dim=rot_dim)
        k = rotary(k, cos_cache, sin_cache, pos, interleaved=rotary_interleaved, rotary_embedding_dim=rot_dim)
    rows = np.arange(present_len)[None, :]
    keep_past = (rows < past[:, None])[:, None, :, None]
    present_k = np.zeros((batch, kv_num_heads, present_len, head), q.dtype)
    present_v = np.zeros_like(present_k)
    if cache:
        present_k[:, :, :cache] = np.where(keep_past[:, :, :cache], past_key, 0)
        present_v[:, :, :cache] = np.where(keep_past[:, :, :cache], past_value, 0)
    b_idx = np.arange(batch)[:, None]
    present_k.transpose(0, 2, 1, 3)[b_idx, pos] = k.transpose(0, 2, 1, 3)
    present_v.transpose(0, 2, 1, 3)[b_idx, pos] = v.transpose(0, 2, 1, 3)

    group = num_heads // kv_num_heads
    alpha = np.float32(scale) if scale else np.float32(1 / np.sqrt(head))
    scores = np.matmul(q.reshape(batch, kv_num_heads, group * seq, head), np.swapaxes(present_k, -1, -2))
    scores = scores.reshape(batch, num_heads, seq, present_len) * alpha
    if softcap and softcap > 0:
        scores = np.tanh(scores / np.float32(softcap)) * np.float32(softcap)
    allowed = rows[None, :, :] <= pos[:, :, None]
    if local_window_size > 0:
        allowed &= rows[None, :, :] > pos[:, :, None] - local_window_size
    scores = np.where(allowed[:, None], scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    y = np.matmul(probs.reshape(batch, kv_num_heads, group * seq, present_len), present_v)
    y = y.reshape(batch, num_heads, seq, head).transpose(0, 2, 1, 3).reshape(batch, seq, num_heads * head)
    return (y.astype(query.dtype, copy=False), present_k, present_v)[:max(_num_outputs, 1)]
