"""CausalConvWithState: a stateful causal depthwise 1-D convolution (Mamba, Gated DeltaNet)."""

from __future__ import annotations

import numpy as np

from ._base import as_array
from .activation import swish
from .registry import kernel

ACTIVATIONS = ("none", "silu", "swish")


@kernel("CausalConvWithState", since=27, multi_output=True)
def CausalConvWithState(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                        past_state: np.ndarray | None = None, *,
                        activation: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Per channel c: y[b, c, t] = sum_j w[c, 0, j] * padded[b, c, t + j] (+ bias[c]), where
    `padded` is past_state (zeros when absent, k-1 steps) followed by x; optionally SiLU.
    The second output is the last k-1 steps of `padded`, the state for the next call."""
    op = "CausalConvWithState"
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if x.ndim != 3:
        raise ValueError(f"{op}: input must have shape (batch, channels, length), got {x.shape}")
    b, c, length = x.shape
    if weight.ndim != 3 or weight.shape[0] != c or weight.shape[1] != 1:
        raise ValueError(f"{op}: weight must have shape ({c}, 1, k), got {weight.shape}")
    k = weight.shape[2]
    if k < 1:
        raise ValueError(f"{op}: kernel size must be at least 1")
    if past_state is None:
        padded = np.concatenate([np.zeros((b, c, k - 1), x.dtype), x], axis=2)
    else:
        if past_state.shape != (b, c, k - 1):
            raise ValueError(f"{op}: past_state must have shape {(b, c, k - 1)}, got {past_state.shape}")
        padded = np.concatenate([past_state.astype(x.dtype, copy=False), x], axis=2)
    # Accumulate in float32 at least (as a convolution kernel does), round once at the end.
    acc_dtype = np.promote_types(x.dtype, np.float32)
    w = weight[:, 0, :].astype(acc_dtype, copy=False)
    acc = padded[:, :, 0:length] * w[:, 0:1]
    for j in range(1, k):
        acc += padded[:, :, j:j + length] * w[:, j:j + 1]
    if bias is not None:
        if bias.shape != (c,):
            raise ValueError(f"{op}: bias must have shape ({c},), got {bias.shape}")
        acc += bias.astype(acc_dtype, copy=False)[:, None]
    y = acc.astype(x.dtype)
    if activation != "none":
        y = swish(y.astype(acc_dtype)).astype(x.dtype)
    state = np.ascontiguousarray(padded[:, :, padded.shape[2] - (k - 1):])
    return as_array(y, x.dtype), state
