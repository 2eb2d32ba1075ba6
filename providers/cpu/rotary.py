"""RotaryEmbedding (RoPE): rotate pairs of head features by position-dependent angles."""

from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("RotaryEmbedding", since=23)
def RotaryEmbedding(x: np.ndarray, cos_cache: np.ndarray, sin_cache: np.ndarray,
                    position_ids: np.ndarray | None = None, *, interleaved: int = 0,
                    num_heads: int | None = None, rotary_embedding_dim: int = 0) -> np.ndarray:
    """x is (B, H, S, D) or (B, S, num_heads*D). The first `rotary_embedding_dim` features of each head
    (all when 0) form pairs, halves (x1 = first half, x2 = second) or, with `interleaved`, even/odd
    features; each pair becomes (x1 cos - x2 sin, x1 sin + x2 cos). The caches are indexed by
    `position_ids` (B, S) or, without it, are already (B, S, rotary_dim / 2)."""
    op = "RotaryEmbedding"
    if x.ndim == 4:
        b, _, s, head = x.shape
        heads_x = x
        head_axis_first = True
    elif x.ndim == 3:
        if not num_heads:
            raise ValueError(f"{op}: a 3-D input needs the num_heads attribute")
        b, s, hidden = x.shape
        if hidden % num_heads:
            raise ValueError(f"{op}: hidden size {hidden} is not divisible by num_heads {num_heads}")
        head = hidden // num_heads
        heads_x = x.reshape(b, s, num_heads, head)
        head_axis_first = False
    else:
        raise ValueError(f"{op}: input must be 3-D or 4-D, got shape {x.shape}")
    rot = rotary_embedding_dim or head
    if rot > head or rot % 2:
        raise ValueError(f"{op}: rotary_embedding_dim {rot} must be even and at most the head size {head}")
    half = rot // 2

    if position_ids is not None:
        pos = np.asarray(position_ids)
        if pos.shape != (b, s):
            raise ValueError(f"{op}: position_ids shape {pos.shape} is not (batch, sequence) = {(b, s)}")
        if cos_cache.ndim != 2 or sin_cache.ndim != 2:
            raise ValueError(f"{op}: with position_ids the caches must be 2-D, got {cos_cache.shape}, "
                             f"{sin_cache.shape}")
        if pos.size and (pos.min() < 0 or pos.max() >= cos_cache.shape[0] or pos.max() >= sin_cache.shape[0]):
            raise ValueError(f"{op}: position_ids must lie in [0, {min(cos_cache.shape[0], sin_cache.shape[0])})")
        cos, sin = cos_cache[pos], sin_cache[pos]
    else:
        cos, sin = cos_cache, sin_cache
        if cos.shape[:2] != (b, s) or sin.shape[:2] != (b, s) or cos.ndim != 3 or sin.ndim != 3:
            raise ValueError(f"{op}: without position_ids the caches must be (batch, sequence, rotary_dim/2) = "
                             f"{(b, s, half)}, got {cos.shape} and {sin.shape}")
    if cos.shape[-1] != half or sin.shape[-1] != half:
        raise ValueError(f"{op}: the caches' last dimension ({cos.shape[-1]}, {sin.shape[-1]}) must be "
                         f"rotary_embedding_dim / 2 = {half}")
    # (B, S, half) -> broadcast against the head layout.
    cos = cos[:, None] if head_axis_first else cos[:, :, None]
    sin = sin[:, None] if head_axis_first else sin[:, :, None]

    if interleaved:
        x1, x2 = heads_x[..., 0:rot:2], heads_x[..., 1:rot:2]
    else:
        x1, x2 = heads_x[..., :half], heads_x[..., half:rot]
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    out = heads_x.copy()
    if interleaved:
        out[..., 0:rot:2] = real
        out[..., 1:rot:2] = imag
    else:
        out[..., :half] = real
        out[..., half:rot] = imag
    return out.reshape(x.shape)
