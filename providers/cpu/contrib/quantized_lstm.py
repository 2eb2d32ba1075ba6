"""DynamicQuantizeLSTM: the LSTM quantize_dynamic emits, with int8/uint8 weights W [dirs, input,
4*hidden] and R [dirs, hidden, 4*hidden] (gates i, o, f, c) and their per-direction or
per-gate-column scales.

Each matmul quantizes its float operand to uint8 at run time over [min(v, 0), max(v, 0)], as
onnxruntime does: X of the steps up to the longest sequence once (then one GEMM for every step
of a direction), H_{t-1} once per step and direction (over the whole batch), then multiplies
exactly in integers and scales back by a_scale * w_scale. The integer products run as float32
GEMMs on exact integers (`_IntegerWeights`). The recurrence, sequence lengths, activations and
clip are those of LSTM (`..rnn`); the weights' zero point is one value per direction. A NaN in
X or in a state makes its quantization undefined: the outputs it reaches are NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ep_runtime.graph import Graph, Node

from ..registry import kernel
from ..rnn import _LSTM_ACTIVATIONS, _activations, _default_activations, _lstm_direction, _LstmCell, _Setup
from ._common import MS

#: float32 holds every integer below 2**24 exactly, so sums that stay below it are exact
_F32_EXACT = 2 ** 24
#: the largest magnitude of a uint8 operand minus its zero point
_A_MAX = 255


def _exact_blocks(w: np.ndarray, w_max: int) -> list[tuple[int, int]]:
    """Row ranges [k0, k1) of integer weights w [K, N] (|w| <= w_max) over which a float32 product
    with operands in [-255, 255] is exact: 255 * sum |w| of every column stays below 2**24, so no
    partial sum, in any order, leaves float32's exact integers."""
    k = w.shape[0]
    if w.size == 0 or w_max * k * _A_MAX < _F32_EXACT:
        return [(0, k)]
    col = np.abs(w, dtype=np.float64)
    if float(col.sum(axis=0).max()) * _A_MAX < _F32_EXACT:
        return [(0, k)]
    cum = np.cumsum(col, axis=0)
    blocks, start, base = [], 0, np.zeros(w.shape[1])
    while start < k:
        over = ((cum[start:] - base) * _A_MAX >= _F32_EXACT).any(axis=1)
        end = start + max(int(np.argmax(over)) if over.any() else k - start, 1)
        blocks.append((start, end))
        base, start = cum[end - 1], end
    return blocks


class _IntegerWeights:
    """One direction's quantized weights minus their zero point, [K, N] as float32 (exact),
    multiplied exactly by integer operands in [-255, 255]: one float32 GEMM when every column's
    255 * sum |w| stays below 2**24 (always for K <= 514 int8 rows, and for real weights far
    beyond), else one per row block, added in float64 and rounded once (as onnxruntime converts
    its int32 sums)."""

    def __init__(self, w: np.ndarray, zero: np.ndarray, what: str, op: str) -> None:
        z = weight_zero(w, zero, what, op)
        self.w = w.astype(np.float32)
        if z:
            self.w -= np.float32(z)
        info = np.iinfo(w.dtype)
        self.blocks = _exact_blocks(self.w, max(abs(int(info.min) - z), abs(int(info.max) - z)))

    def matmul(self, a: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = a @ W, exactly, for a of integers in [-255, 255]."""
        if len(self.blocks) == 1:
            return np.matmul(a, self.w, out=out)
        acc = np.zeros(out.shape, np.float64)
        for k0, k1 in self.blocks:
            acc += np.matmul(a[..., k0:k1], self.w[k0:k1])
        out[...] = acc
        return out


def weight_zero(w: np.ndarray, zero: np.ndarray, what: str, op: str) -> int:
    """One direction's weight zero point, the one value a direction has (per-channel ones must agree,
    and be zero for int8 weights)."""
    zs = np.asarray(zero).reshape(-1)
    if zs.size > 1:
        if w.dtype == np.int8 and np.any(zs != 0):
            raise ValueError(f"{op}: per-channel {what}_zero_point of int8 weights must be all zero")
        if np.any(zs != zs[0]):
            raise ValueError(f"{op}: per-channel {what}_zero_point must hold one value per direction")
    return int(zs[0])


def _uint8_params(v: np.ndarray) -> tuple[np.float32, np.float32]:
    """DynamicQuantizeLinear's uint8 scale and zero point of v, over [min(v, 0), max(v, 0)], as
    float32 scalars (NaN when v holds a NaN)."""
    if v.size == 0:
        return np.float32(1), np.float32(0)
    hi, lo = np.maximum.reduce(v, axis=None), np.minimum.reduce(v, axis=None)
    if hi < 0:
        hi = np.float32(0)
    if lo > 0:
        lo = np.float32(0)
    span = hi - lo
    if span == 0:
        return np.float32(1), np.float32(0)
    scale = span / np.float32(255)
    # -lo <= span, so the zero point needs no clipping to [0, 255]
    return scale, np.rint(np.float32(0) - lo / scale)


def _quantize_centered(v: np.ndarray, scale: np.float32, zero: np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """v's uint8 quantization minus its zero point, clip(rint(v / scale) + zero, 0, 255) - zero, as
    float32 integers (NaN stays NaN)."""
    q = np.divide(v, scale, out=out)
    np.rint(q, out=q)
    np.maximum(q, np.float32(0) - zero, out=q)
    np.minimum(q, np.float32(255) - zero, out=q)
    return q


def _direction_param(value: np.ndarray, d: int, dirs: int, n4: int, what: str, op: str) -> np.ndarray:
    """Direction d's scale or zero point: [dirs] (per tensor) or [dirs, 4*hidden] (per column)."""
    v = np.asarray(value)
    if v.shape not in ((dirs,), (dirs, n4)):
        raise ValueError(f"{op}: {what} must have shape ({dirs},) or ({dirs}, {n4}), got {v.shape}")
    return v[d]


def _quantized_gates(xw: np.ndarray, rq: _IntegerWeights, r_scale: np.ndarray, bias: np.ndarray,
                     shape: tuple[int, int]) -> Callable[[int, np.ndarray, np.ndarray], None]:
    """gates_at of one direction: H_{t-1} quantized, times R exactly, scaled, + X_t W (xw) + Wb + Rb."""
    hq = np.empty(shape, np.float32)

    def gates_at(t: int, h: np.ndarray, gates: np.ndarray) -> None:
        h_scale, h_zero = _uint8_params(h)
        rq.matmul(_quantize_centered(h, h_scale, h_zero, out=hq), gates)
        gates *= h_scale * r_scale
        gates += xw[t]
        gates += bias

    return gates_at


#: each direction's (W, R) integer weights
_Weights = list[tuple[_IntegerWeights, _IntegerWeights]]


class _WeightCache:
    """A node's integer weights per direction, built once while the same W, R and zero point arrays
    come in: the model's initializers, which the session bakes in and hands to every run."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._entry: tuple[tuple[np.ndarray, ...], _Weights] | None = None

    def get(self, arrays: tuple[np.ndarray, ...], build: Callable[[], _Weights]) -> _Weights:
        """The weights built for these very arrays (compared by identity), else `build()`."""
        entry = self._entry
        if entry is not None and len(entry[0]) == len(arrays) and all(a is b for a, b in zip(entry[0], arrays)):
            return entry[1]
        weights = build()
        if self.enabled:
            self._entry = (arrays, weights)
        return weights


def constant_weights(node: Node | None, graph: Graph | None) -> bool:
    """Whether a DynamicQuantizeLSTM node's W, R and their zero points are constants (`Graph.is_constant`;
    then their converted forms may be kept between runs)."""
    names = list(node.inputs) if node is not None else []
    return graph is not None and len(names) > 11 and all(graph.is_constant(names[i]) for i in (1, 2, 9, 11))


def zeros_finished_states(node: Node | None) -> bool:
    """Whether a finished sequence's H_{t-1} is quantized as zeros: onnxruntime reads it so (its Y
    rows) when the node outputs Y, else it reads the last H."""
    return node is None or bool(node.outputs and node.outputs[0])


@kernel("DynamicQuantizeLSTM", 1, domain=MS, multi_output=True, factory=True)
def DynamicQuantizeLSTM(*, activation_alpha=None, activation_beta=None, activations=None, clip=None,
                        direction="forward", hidden_size=None, input_forget=0, _node=None, _graph=None,
                        _num_outputs=1):
    """LSTM over quantized weights; outputs Y [seq, dirs, batch, hidden], Y_h and Y_c. When W, R and
    their zero points are initializers, their float32 forms are made on the first run only."""
    cache = _WeightCache(constant_weights(_node, _graph))
    zero_finished = zeros_finished_states(_node)

    def run(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, w_scale=None,
            w_zero_point=None, r_scale=None, r_zero_point=None):
        return dynamic_quantize_lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, w_scale, w_zero_point,
                                     r_scale, r_zero_point, activation_alpha=activation_alpha,
                                     activation_beta=activation_beta, activations=activations, clip=clip,
                                     direction=direction, hidden_size=hidden_size, input_forget=input_forget,
                                     zero_finished=zero_finished, num_outputs=_num_outputs, cache=cache)

    return run


def dynamic_quantize_lstm(x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray | None = None,
                          sequence_lens: np.ndarray | None = None, initial_h: np.ndarray | None = None,
                          initial_c: np.ndarray | None = None, p: np.ndarray | None = None,
                          w_scale: np.ndarray | None = None, w_zero_point: np.ndarray | None = None,
                          r_scale: np.ndarray | None = None, r_zero_point: np.ndarray | None = None, *,
                          activation_alpha: list[float] | None = None, activation_beta: list[float] | None = None,
                          activations: list[str] | None = None, clip: float | None = None, direction: str = "forward",
                          hidden_size: int | None = None, input_forget: int = 0, zero_finished: bool = True,
                          num_outputs: int = 3, cache: _WeightCache | None = None) -> tuple[np.ndarray, ...]:
    """DynamicQuantizeLSTM on its inputs (see the module docstring). `zero_finished`: a finished
    sequence's H_{t-1} is quantized as zeros (onnxruntime, when Y is an output); `cache` keeps the
    converted weights of constant W and R between runs."""
    op = "DynamicQuantizeLSTM"
    for name, v in (("X", x), ("W", w), ("R", r), ("W_scale", w_scale), ("W_zero_point", w_zero_point),
                    ("R_scale", r_scale), ("R_zero_point", r_zero_point)):
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
               hidden_size, direction, 0, cast_weights=False)
    acts = _activations(op, activations, activation_alpha, activation_beta, _LSTM_ACTIVATIONS, s.num_dirs)
    default_acts = _default_activations(activations, _LSTM_ACTIVATIONS)
    n, dirs = s.hidden, s.num_dirs
    if p is not None:
        if p.shape != (dirs, 3 * n):
            raise ValueError(f"{op}: P must have shape {(dirs, 3 * n)}, got {p.shape}")
        p = p.astype(np.float32, copy=False)
    # X is quantized once, over the steps up to the longest sequence (the same values in either direction's order)
    max_len = s.seq if s.lens is None else int(s.lens.max(initial=0))
    x_scale, x_zero = _uint8_params(s.x[:max_len])
    scales = [(_direction_param(w_scale, d, dirs, 4 * n, "W_scale", op).astype(np.float32),
               _direction_param(r_scale, d, dirs, 4 * n, "R_scale", op).astype(np.float32)) for d in range(dirs)]
    w_zeros = [_direction_param(w_zero_point, d, dirs, 4 * n, "W_zero_point", op) for d in range(dirs)]
    r_zeros = [_direction_param(r_zero_point, d, dirs, 4 * n, "R_zero_point", op) for d in range(dirs)]
    weights = (cache or _WeightCache(False)).get((w, r, w_zero_point, r_zero_point), lambda: [
        (_IntegerWeights(w[d], w_zeros[d], "W", op), _IntegerWeights(r[d], r_zeros[d], "R", op)) for d in range(dirs)])
    ys, hs, cs = [], [], []
    for d, ((wq, rq), (ws, rs)) in enumerate(zip(weights, scales)):
        xd, idx, valid = s.steps(d)
        xw = np.empty((s.seq * s.batch, 4 * n), np.float32)
        wq.matmul(_quantize_centered(xd, x_scale, x_zero).reshape(s.seq * s.batch, s.x.shape[2]), xw)
        xw *= x_scale * ws
        bias = s.b[d, :4 * n] + s.b[d, 4 * n:]
        gates_at = _quantized_gates(xw.reshape(s.seq, s.batch, 4 * n), rq, rs, bias, (s.batch, n))
        cell = _LstmCell(acts[d], default_acts, clip, None if p is None else p[d], input_forget, (s.batch, n),
                         np.dtype(np.float32))
        y, h, c = _lstm_direction(s, d, cell, gates_at, valid, idx, zero_finished)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    return s.outputs(ys, [hs, cs], num_outputs)
