"""Recurrent layers: RNN, GRU and LSTM, every direction, layout and activation the spec allows.

Each direction runs as one Python loop over time steps; batch and hidden units are vectorized.
The input projection X @ W^T + Wb of all time steps is one matmul before the loop. LSTM's steps
(shared with com.microsoft DynamicQuantizeLSTM) write into buffers made once per direction, and
with the default activations its gate math is a few whole-array passes (`_LstmCell`). With
`sequence_lens`, a batch entry's steps past its length keep its state and give zeros in Y;
the reverse direction runs each entry backwards from its own last valid step; an entry of
length 0 gives zero final states.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .registry import kernel

Activation = Callable[[np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) as 0.5 * tanh(x / 2) + 0.5: no overflow, three passes."""
    y = np.multiply(x, 0.5)
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


#: name (lower case) -> (function of (x, alpha, beta), default alpha, default beta); None when unused
_ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray, float, float], np.ndarray], float | None, float | None]] = {
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: _sigmoid(x), None, None),
    "relu": (lambda x, a, b: np.maximum(x, 0), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: np.where(x > a, x, 0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    "elu": (lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0))), 1.0, None),
    "softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: _softplus(x), None, None),
}


def _activations(op: str, names: Sequence[str] | None, alphas: Sequence[float] | None,
                 betas: Sequence[float] | None, defaults: Sequence[str], num_dirs: int) -> list[list[Activation]]:
    """The activation functions of each direction (see activation_specs)."""
    def bind(name: str, a: float, b: float) -> Activation:
        fn = _ACTIVATIONS[name][0]
        return lambda x: fn(x, a, b)

    return [[bind(*spec) for spec in specs] for specs in activation_specs(op, names, alphas, betas, defaults, num_dirs)]


def activation_specs(op: str, names: Sequence[str | bytes] | None, alphas: Sequence[float] | None,
                     betas: Sequence[float] | None, defaults: Sequence[str],
                     num_dirs: int) -> list[list[tuple[str, float, float]]]:
    """(lower-case name, alpha, beta) of each direction's activation functions. `activation_alpha`/
    `activation_beta` are consumed in order by the functions that take an alpha / a beta (missing
    ones: defaults); a function without one gets 0.0."""
    if names is None or len(names) == 0:
        names = list(defaults) * num_dirs
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    per = len(defaults)
    if len(names) == per and num_dirs == 2:
        names = names * 2
    if len(names) != per * num_dirs:
        raise ValueError(f"{op}: expected {per * num_dirs} activations ({per} per direction), got {names}")
    alpha_it = iter(alphas or ())
    beta_it = iter(betas or ())
    specs: list[tuple[str, float, float]] = []
    for name in names:
        entry = _ACTIVATIONS.get(name.lower())
        if entry is None:
            raise ValueError(f"{op}: unknown activation {name!r}; known: {sorted(_ACTIVATIONS)}")
        _, da, db = entry
        a = next(alpha_it, da) if da is not None else 0.0
        b = next(beta_it, db) if db is not None else 0.0
        specs.append((name.lower(), float(a), float(b)))
    return [specs[d * per:(d + 1) * per] for d in range(num_dirs)]


class _Setup:
    """Inputs brought to layout 0 and checked: X (seq, batch, input), initial states
    (num_dirs, batch, hidden), per-direction weights, and the time-step order of each direction."""

    def __init__(self, op: str, gates: int, x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray | None,
                 sequence_lens: np.ndarray | None, initial: Sequence[np.ndarray | None], hidden_size: int | None,
                 direction: str, layout: int, cast_weights: bool = True) -> None:
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ValueError(f"{op}: direction must be forward, reverse or bidirectional, got {direction!r}")
        if layout not in (0, 1):
            raise ValueError(f"{op}: layout must be 0 or 1, got {layout}")
        if x.ndim != 3:
            raise ValueError(f"{op}: X must have rank 3, got shape {x.shape}")
        self.layout = layout
        self.out_dtype = x.dtype
        self.dtype = np.promote_types(x.dtype, np.float32)
        x = x.astype(self.dtype, copy=False)
        if layout == 1:
            x = x.transpose(1, 0, 2)
        seq, batch, input_size = x.shape
        self.num_dirs = 2 if direction == "bidirectional" else 1
        self.directions = ["forward", "reverse"] if direction == "bidirectional" else [direction]
        if w.ndim != 3 or w.shape[0] != self.num_dirs or w.shape[2] != input_size or w.shape[1] % gates:
            raise ValueError(f"{op}: W must have shape ({self.num_dirs}, {gates}*hidden_size, {input_size}), "
                             f"got {w.shape}")
        h = w.shape[1] // gates
        if hidden_size is not None and hidden_size != h:
            raise ValueError(f"{op}: hidden_size={hidden_size} but W has {w.shape[1]} rows ({gates} gates)")
        if r.shape != (self.num_dirs, gates * h, h):
            raise ValueError(f"{op}: R must have shape {(self.num_dirs, gates * h, h)}, got {r.shape}")
        if b is not None and b.shape != (self.num_dirs, 2 * gates * h):
            raise ValueError(f"{op}: B must have shape {(self.num_dirs, 2 * gates * h)}, got {b.shape}")
        self.seq, self.batch, self.hidden = seq, batch, h
        self.x = x
        # quantized weights (cast_weights=False) stay integers: their kernel converts them itself
        self.w = w.astype(self.dtype, copy=False) if cast_weights else w
        self.r = r.astype(self.dtype, copy=False) if cast_weights else r
        zeros_b = np.zeros((self.num_dirs, 2 * gates * h), self.dtype)
        self.b = zeros_b if b is None else b.astype(self.dtype, copy=False)
        self.initial = [self._state(op, s) for s in initial]
        if sequence_lens is None:
            self.lens = None
        else:
            lens = np.asarray(sequence_lens).astype(np.int64).reshape(-1)
            if lens.shape != (batch,) or (lens < 0).any() or (lens > seq).any():
                raise ValueError(f"{op}: sequence_lens must hold {batch} values in [0, {seq}], got {lens.tolist()}")
            self.lens = None if (lens == seq).all() else lens

    def _state(self, op: str, s: np.ndarray | None) -> np.ndarray:
        shape = (self.num_dirs, self.batch, self.hidden)
        if s is None:
            return np.zeros(shape, self.dtype)
        if self.layout == 1:
            s = s.transpose(1, 0, 2)
        if s.shape != shape:
            raise ValueError(f"{op}: initial state must have shape {shape} (layout 0), got {s.shape}")
        return s.astype(self.dtype, copy=False)

    def steps(self, d: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """X of direction d in processing order, the time-index map back (None: identity or a
        plain reversal) and the (seq, batch, 1) mask of valid steps (None: all valid)."""
        reverse = self.directions[d] == "reverse"
        if self.lens is None:
            return (self.x[::-1] if reverse else self.x), None, None
        t = np.arange(self.seq)[:, None]
        valid = t < self.lens[None, :]
        if not reverse:
            return self.x, None, valid[:, :, None]
        idx = np.where(valid, self.lens[None, :] - 1 - t, t)  # an involution: reversal within each length
        return np.take_along_axis(self.x, idx[:, :, None], axis=0), idx, valid[:, :, None]

    def restore(self, d: int, y: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        """Y of direction d (processing order) back in time order."""
        if idx is not None:
            return np.take_along_axis(y, idx[:, :, None], axis=0)
        return y[::-1] if self.directions[d] == "reverse" else y

    def outputs(self, ys: list[np.ndarray], finals: list[list[np.ndarray]], num_outputs: int) -> tuple:
        """(Y, Y_h[, Y_c]) in the node's layout and dtype, as many as the node asks for."""
        y = np.stack(ys, axis=1)  # (seq, num_dirs, batch, hidden)
        states = [np.stack(f, axis=0) for f in finals]  # (num_dirs, batch, hidden)
        if self.lens is not None and (self.lens == 0).any():
            # an entry with no steps has zero final states (as onnxruntime has), not its initial ones
            states = [np.where((self.lens == 0)[None, :, None], np.zeros((), self.dtype), s) for s in states]
        if self.layout == 1:
            y = y.transpose(2, 0, 1, 3)
            states = [s.transpose(1, 0, 2) for s in states]
        outs = [np.ascontiguousarray(v).astype(self.out_dtype, copy=False) for v in (y, *states)]
        return tuple(outs[:max(num_outputs, 1)])


def _project(xd: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """X @ W^T + bias for every time step at once, as one 2-D matmul (seq, batch, gates*hidden)."""
    seq, batch, _ = xd.shape
    y = np.matmul(xd.reshape(seq * batch, xd.shape[2]), w.T).reshape(seq, batch, w.shape[0])
    y += bias
    return y


def _clipper(clip: float | None) -> Callable[[np.ndarray], np.ndarray]:
    if clip is None:
        return lambda v: v
    c = float(clip)
    return lambda v: np.clip(v, -c, c)


def _keep(valid: np.ndarray | None, t: int, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    return new if valid is None else np.where(valid[t], new, old)


def _y(valid: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    return y if valid is None else y * valid


def rnn(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0, num_outputs=1) -> tuple:
    """H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb)."""
    s = _Setup("RNN", 1, x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout)
    acts = _activations("RNN", activations, activation_alpha, activation_beta, ["Tanh"], s.num_dirs)
    cl = _clipper(clip)
    ys, hs = [], []
    for d in range(s.num_dirs):
        (f,) = acts[d]
        xd, idx, valid = s.steps(d)
        xw = _project(xd, s.w[d], s.b[d, :s.hidden] + s.b[d, s.hidden:])
        rt = s.r[d].T
        h = s.initial[0][d]
        y = np.empty((s.seq, s.batch, s.hidden), s.dtype)
        for t in range(s.seq):
            hn = f(cl(xw[t] + h @ rt))
            h = _keep(valid, t, hn, h)
            y[t] = h
        ys.append(s.restore(d, _y(valid, y), idx))
        hs.append(h)
    return s.outputs(ys, [hs], num_outputs)


def gru(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0, linear_before_reset=0,
        num_outputs=1) -> tuple:
    """Gates z, r, h (in that order in W, R, B); H_t = (1 - z) * h + z * H_{t-1}."""
    s = _Setup("GRU", 3, x, w, r, b, sequence_lens, [initial_h], hidden_size, direction, layout)
    acts = _activations("GRU", activations, activation_alpha, activation_beta, ["Sigmoid", "Tanh"], s.num_dirs)
    cl = _clipper(clip)
    hs_ = s.hidden
    ys, hs = [], []
    for d in range(s.num_dirs):
        f, g = acts[d]
        xd, idx, valid = s.steps(d)
        wb, rb = s.b[d, :3 * hs_], s.b[d, 3 * hs_:]
        # z and r take both biases up front; the h gate's recurrent bias depends on linear_before_reset
        xw = _project(xd, s.w[d], np.concatenate([wb[:2 * hs_] + rb[:2 * hs_], wb[2 * hs_:]]))
        r_zr = s.r[d, :2 * hs_].T
        r_h = s.r[d, 2 * hs_:].T
        rb_h = rb[2 * hs_:]
        h = s.initial[0][d]
        y = np.empty((s.seq, s.batch, hs_), s.dtype)
        for t in range(s.seq):
            gx = xw[t]
            zr = f(cl(gx[:, :2 * hs_] + h @ r_zr))
            z, rg = zr[:, :hs_], zr[:, hs_:]
            if linear_before_reset:
                hh = g(cl(gx[:, 2 * hs_:] + rg * (h @ r_h + rb_h)))
            else:
                hh = g(cl(gx[:, 2 * hs_:] + (rg * h) @ r_h + rb_h))
            hn = hh + z * (h - hh)
            h = _keep(valid, t, hn, h)
            y[t] = h
        ys.append(s.restore(d, _y(valid, y), idx))
        hs.append(h)
    return s.outputs(ys, [hs], num_outputs)


_LSTM_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")


def _default_activations(names: Sequence[str | bytes] | None, defaults: Sequence[str]) -> bool:
    """Whether `activations` is absent or names the op's defaults (in any case) for every direction."""
    if names is None or len(names) == 0:
        return True
    low = [(n.decode() if isinstance(n, bytes) else str(n)).lower() for n in names]
    per = [d.lower() for d in defaults]
    return len(low) % len(per) == 0 and low == per * (len(low) // len(per))


class _LstmCell:
    """The gate math of one LSTM step of one direction, in reused buffers.

    `gates` [batch, 4*hidden] holds the pre-activations of i, o, f, c and is overwritten; C_{t-1}
    becomes C_t in place and H_t is written to `h_out`. With `keep`/`drop` (batch, 1) masks,
    entries past their length keep their C and take H from `h_prev`. The default activations
    without peepholes or input_forget run as a few whole-array passes; anything else as the spec
    writes it (the same values)."""

    def __init__(self, acts: Sequence[Activation], default_acts: bool, clip: float | None, p: np.ndarray | None,
                 input_forget: int, shape: tuple[int, int], dtype: np.dtype) -> None:
        self.acts = acts
        self.fast = default_acts and p is None and not input_forget
        self.clip = None if clip is None else float(clip)
        self.cl = _clipper(clip)
        self.p = p
        self.input_forget = input_forget
        self.tmp = np.empty(shape, dtype)
        self.c_new = np.empty(shape, dtype)

    def step(self, gates: np.ndarray, c: np.ndarray, h_out: np.ndarray, keep: np.ndarray | None = None,
             drop: np.ndarray | None = None, h_prev: np.ndarray | None = None) -> None:
        c_new = c if keep is None else self.c_new
        if self.fast:
            self._default_gates(gates, c, c_new, h_out)
        else:
            self._any_gates(gates, c, c_new, h_out)
        if keep is not None:
            np.copyto(c, c_new, where=keep)
            np.copyto(h_out, h_prev, where=drop)

    def _default_gates(self, gates: np.ndarray, c: np.ndarray, c_new: np.ndarray, h_out: np.ndarray) -> None:
        n = c.shape[-1]
        if self.clip is not None:
            np.clip(gates, -self.clip, self.clip, out=gates)
        # i, o, f and g into fresh arrays: in place on the column slices of a batch > 1 is slower
        iof = _sigmoid(gates[:, :3 * n])
        g = np.tanh(gates[:, 3 * n:])
        np.multiply(iof[:, 2 * n:], c, out=c_new)
        g *= iof[:, :n]
        c_new += g
        np.tanh(c_new, out=self.tmp)
        np.multiply(iof[:, n:2 * n], self.tmp, out=h_out)

    def _any_gates(self, gates: np.ndarray, c: np.ndarray, c_new: np.ndarray, h_out: np.ndarray) -> None:
        f, g, hfn = self.acts
        cl, n, p = self.cl, c.shape[-1], self.p
        if p is not None:
            gates[:, :n] += p[:n] * c
            gates[:, 2 * n:3 * n] += p[2 * n:] * c
        i = f(cl(gates[:, :n]))
        fg = 1 - i if self.input_forget else f(cl(gates[:, 2 * n:3 * n]))
        cn = fg * c
        cn += i * g(cl(gates[:, 3 * n:]))
        go = gates[:, n:2 * n]
        o = f(cl(go if p is None else go + p[n:2 * n] * cn))
        np.multiply(o, hfn(cn), out=h_out)
        c_new[...] = cn


def _lstm_direction(s: _Setup, d: int, cell: _LstmCell, gates_at: Callable[[int, np.ndarray, np.ndarray], None],
                    valid: np.ndarray | None, idx: np.ndarray | None,
                    zero_finished: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recurrence of direction d, one Python step per time step (directions run one after the
    other: each keeps its recurrent weights in cache). `gates_at(t, h, gates)` writes step t's
    pre-activations [batch, 4*hidden] given H_{t-1} [batch, hidden] (with `zero_finished`, zeros for
    entries past their length). Returns Y in time order, Y_h and Y_c."""
    batch, n = s.batch, s.hidden
    h = s.initial[0][d]
    c = np.array(s.initial[1][d], dtype=s.dtype)
    steps = s.seq if s.lens is None else int(s.lens.max(initial=0))
    y = (np.empty if valid is None else np.zeros)((s.seq, batch, n), s.dtype)
    gates = np.empty((batch, 4 * n), s.dtype)
    drop = None if valid is None else ~valid
    for t in range(steps):
        seen = h if (valid is None or t == 0 or not zero_finished) else h * valid[t - 1]
        gates_at(t, seen, gates)
        if valid is None:
            cell.step(gates, c, y[t])
        else:
            cell.step(gates, c, y[t], valid[t], drop[t], h)
        h = y[t]
    return s.restore(d, _y(valid, y), idx), h, c


def _float_gates(xw: np.ndarray, rt: np.ndarray) -> Callable[[int, np.ndarray, np.ndarray], None]:
    """gates_at of a float LSTM: H_{t-1} @ R^T + (X_t @ W^T + Wb + Rb)."""
    def gates_at(t: int, h: np.ndarray, gates: np.ndarray) -> None:
        np.matmul(h, rt, out=gates)
        gates += xw[t]

    return gates_at


def lstm(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, *, activation_alpha=None,
         activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None, input_forget=0,
         layout=0, num_outputs=1) -> tuple:
    """Gates i, o, f, c (in that order in W, R, B), peepholes P = [Pi, Po, Pf];
    C_t = f * C_{t-1} + i * g(c), H_t = o * h(C_t); `input_forget` couples f = 1 - i."""
    s = _Setup("LSTM", 4, x, w, r, b, sequence_lens, [initial_h, initial_c], hidden_size, direction, layout)
    acts = _activations("LSTM", activations, activation_alpha, activation_beta, _LSTM_ACTIVATIONS, s.num_dirs)
    default_acts = _default_activations(activations, _LSTM_ACTIVATIONS)
    n = s.hidden
    if p is not None:
        if p.shape != (s.num_dirs, 3 * n):
            raise ValueError(f"LSTM: P must have shape {(s.num_dirs, 3 * n)}, got {p.shape}")
        p = p.astype(s.dtype, copy=False)
    ys, hs, cs = [], [], []
    for d in range(s.num_dirs):
        xd, idx, valid = s.steps(d)
        xw = _project(xd, s.w[d], s.b[d, :4 * n] + s.b[d, 4 * n:])
        cell = _LstmCell(acts[d], default_acts, clip, None if p is None else p[d], input_forget, (s.batch, n),
                         s.dtype)
        y, h, c = _lstm_direction(s, d, cell, _float_gates(xw, s.r[d].T), valid, idx)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    return s.outputs(ys, [hs, cs], num_outputs)


# ---- registrations: opset 1 has `output_sequence` (Y is produced whenever it is asked for, so it changes
# nothing), GRU 1 has no linear_before_reset, `layout` arrives in 14; 22 only widens the types. One function
# per op serves every version; each registration declares its version's attributes.

#: the attributes every version of RNN, GRU and LSTM has, with their defaults
_RECURRENT = {"activation_alpha": None, "activation_beta": None, "activations": None, "clip": None,
              "direction": "forward", "hidden_size": None}


@kernel("RNN", since=1, until=6, multi_output=True, attributes={**_RECURRENT, "output_sequence": 0})
@kernel("RNN", since=7, until=13, multi_output=True, attributes=_RECURRENT)
@kernel("RNN", since=14, multi_output=True, attributes={**_RECURRENT, "layout": 0})
def RNN(x, w, r, b=None, sequence_lens=None, initial_h=None, *, output_sequence=0, _num_outputs=1, **attributes):
    return rnn(x, w, r, b, sequence_lens, initial_h, num_outputs=_num_outputs, **attributes)


@kernel("GRU", since=1, until=2, multi_output=True, attributes={**_RECURRENT, "output_sequence": 0})
@kernel("GRU", since=3, until=6, multi_output=True,
        attributes={**_RECURRENT, "linear_before_reset": 0, "output_sequence": 0})
@kernel("GRU", since=7, until=13, multi_output=True, attributes={**_RECURRENT, "linear_before_reset": 0})
@kernel("GRU", since=14, multi_output=True, attributes={**_RECURRENT, "layout": 0, "linear_before_reset": 0})
def GRU(x, w, r, b=None, sequence_lens=None, initial_h=None, *, output_sequence=0, _num_outputs=1, **attributes):
    return gru(x, w, r, b, sequence_lens, initial_h, num_outputs=_num_outputs, **attributes)


@kernel("LSTM", since=1, until=6, multi_output=True,
        attributes={**_RECURRENT, "input_forget": 0, "output_sequence": 0})
@kernel("LSTM", since=7, until=13, multi_output=True, attributes={**_RECURRENT, "input_forget": 0})
@kernel("LSTM", since=14, multi_output=True, attributes={**_RECURRENT, "input_forget": 0, "layout": 0})
def LSTM(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, *, output_sequence=0,
         _num_outputs=1, **attributes):
    return lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, num_outputs=_num_outputs, **attributes)
