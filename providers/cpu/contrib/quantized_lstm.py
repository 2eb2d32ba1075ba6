"""DynamicQuantizeLSTM: the LSTM quantize_dynamic emits, with int8/uint8 weights W [dirs, input,
4*hidden] and R [dirs, hidden, 4*hidden] (gates i, o, f, c) and their per-direction or
per-gate-column scales.

Each matmul quantizes its float operand to uint8 at run time over [min(v, 0), max(v, 0)], as
onnxruntime does: X of the steps up to the longest sequence once per direction, H_{t-1} once per
step (over the whole batch), then multiplies exactly in integers and scales back by
a_scale * w_scale. The recurrence, sequence lengths, activations and clip are those of LSTM
(`..rnn`); the weights' zero point is one value per direction.
"""

from __future__ import annotations

import numpy as np

from ..quantization import quantize_linear
from ..registry import kernel
from ..rnn import _activations, _clipper, _keep, _Setup, _y
from ._common import MS
from .quantized import dynamic_quantize_uint8


class _QuantizedWeights:
    """One direction's quantized weights [K, N] with zero point removed (float64, exact) and the
    float32 scale (scalar or per column)."""

    def __init__(self, w: np.ndarray, scale: np.ndarray, zero: np.ndarray, what: str, op: str) -> None:
        if zero.size > 1:
            zs = zero.reshape(-1)
            if w.dtype == np.int8 and np.any(zs != 0):
                raise ValueError(f"{op}: per-channel {what}_zero_point of int8 weights must be all zero")
            if np.any(zs != zs[0]):
                raise ValueError(f"{op}: per-channel {what}_zero_point must hold one value per direction")
        self.w = w.astype(np.float64) - np.float64(zero.reshape(-1)[0])
        self.scale = scale.astype(np.float32)

    def apply(self, a: np.ndarray, range_rows: np.ndarray, op: str) -> np.ndarray:
        """a @ W for float32 `a` quantized with the uint8 parameters of `range_rows`."""
        _, a_scale, a_zero = dynamic_quantize_uint8(range_rows, op)
        qa = quantize_linear(a, a_scale, a_zero)
        acc = (qa.astype(np.float64) - np.float64(a_zero)) @ self.w
        y = acc.astype(np.float32)
        y *= a_scale * self.scale
        return y


def _direction_param(value: np.ndarray, d: int, dirs: int, n4: int, what: str, op: str) -> np.ndarray:
    """Direction d's scale or zero point: [dirs] (per tensor) or [dirs, 4*hidden] (per column)."""
    v = np.asarray(value)
    if v.shape not in ((dirs,), (dirs, n4)):
        raise ValueError(f"{op}: {what} must have shape ({dirs},) or ({dirs}, {n4}), got {v.shape}")
    return v[d]


@kernel("DynamicQuantizeLSTM", 1, domain=MS, multi_output=True)
def DynamicQuantizeLSTM(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, w_scale=None,
                        w_zero_point=None, r_scale=None, r_zero_point=None, *, activation_alpha=None,
                        activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
                        input_forget=0, _node=None, _num_outputs=1):
    """LSTM over quantized weights; outputs Y [seq, dirs, batch, hidden], Y_h and Y_c."""
    op = "DynamicQuantizeLSTM"
    for name, v in (("X", x), ("W_scale", w_scale), ("W_zero_point", w_zero_point), ("R_scale", r_scale),
                    ("R_zero_point", r_zero_point)):
        if v is None:
            raise ValueError(f"{op}: input {name} is required")
    if x.dtype != np.float32:
        raise ValueError(f"{op}: X must be float32, got {x.dtype}")
    for name, t, zp in (("W", w, w_zero_point), ("R", r, r_zero_point)):
        if t.dtype not in (np.int8, np.uint8) or t.ndim != 3:
            raise ValueError(f"{op}: {name} must be a 3-D int8 or uint8 tensor, got {t.dtype} of shape {t.shape}")
        if zp.dtype != t.dtype:
            raise ValueError(f"{op}: {name}_zero_point has dtype {zp.dtype} but {name} is {t.dtype}")
    # _Setup checks shapes in ONNX LSTM's layout [dirs, 4*hidden, K]
    s = _Setup(op, 4, x, w.transpose(0, 2, 1), r.transpose(0, 2, 1), b, sequence_lens, [initial_h, initial_c],
               hidden_size, direction, 0)
    acts = _activations(op, activations, activation_alpha, activation_beta, ["Sigmoid", "Tanh", "Tanh"], s.num_dirs)
    cl = _clipper(clip)
    n = s.hidden
    if p is not None:
        if p.shape != (s.num_dirs, 3 * n):
            raise ValueError(f"{op}: P must have shape {(s.num_dirs, 3 * n)}, got {p.shape}")
        p = p.astype(np.float32, copy=False)
    # with Y requested, onnxruntime reads a finished sequence's H_{t-1} as zeros (its Y rows); else its last H
    zero_finished = _node is None or bool(_node.outputs and _node.outputs[0])
    max_len = s.seq if s.lens is None else int(s.lens.max(initial=0))
    ys, hs, cs = [], [], []
    for d in range(s.num_dirs):
        f, g, hfn = acts[d]
        wq = _QuantizedWeights(w[d], _direction_param(w_scale, d, s.num_dirs, 4 * n, "W_scale", op),
                               _direction_param(w_zero_point, d, s.num_dirs, 4 * n, "W_zero_point", op), "W", op)
        rq = _QuantizedWeights(r[d], _direction_param(r_scale, d, s.num_dirs, 4 * n, "R_scale", op),
                               _direction_param(r_zero_point, d, s.num_dirs, 4 * n, "R_zero_point", op), "R", op)
        xd, idx, valid = s.steps(d)
        flat = xd.reshape(s.seq * s.batch, -1)
        xw = wq.apply(flat, flat[:max_len * s.batch], op).reshape(s.seq, s.batch, 4 * n)
        bias = s.b[d, :4 * n] + s.b[d, 4 * n:]
        pi, po, pf = (None, None, None) if p is None else (p[d, :n], p[d, n:2 * n], p[d, 2 * n:])
        h, c = s.initial[0][d], s.initial[1][d]
        y = np.empty((s.seq, s.batch, n), np.float32)
        for t in range(s.seq):
            seen = h if (valid is None or t == 0 or not zero_finished) else h * valid[t - 1]
            gates = xw[t] + rq.apply(h, seen, op)
            gates += bias
            if pi is not None:
                gates[:, :n] += pi * c
                gates[:, 2 * n:3 * n] += pf * c
            i = f(cl(gates[:, :n]))
            fg = 1 - i if input_forget else f(cl(gates[:, 2 * n:3 * n]))
            cn = fg * c + i * g(cl(gates[:, 3 * n:]))
            go = gates[:, n:2 * n]
            o = f(cl(go if po is None else go + po * cn))
            hn = o * hfn(cn)
            h = _keep(valid, t, hn, h)
            c = _keep(valid, t, cn, c)
            y[t] = h
        ys.append(s.restore(d, _y(valid, y), idx))
        hs.append(h)
        cs.append(c)
    return s.outputs(ys, [hs, cs], _num_outputs)
