"""Native LSTM recurrences: ONNX `LSTM` (float32) and com.microsoft `DynamicQuantizeLSTM`.

The numpy kernels (`..rnn`, `..contrib.quantized_lstm`) run one Python step per time step; here
one C call (csrc/rnn.c) runs every step of a direction. The Python side does what the numpy kernels
do before their loop, with their own helpers: `_Setup` checks the inputs and brings them to layout
0 and each direction's processing order, and `restore`/`outputs` put the results back.

- LSTM: numpy's GEMM computes the input projection X W^T + Wb + Rb of every step at once (the C code
  itself for a few steps: ep_lstm_x_f32); the C loop adds H_{t-1} R^T and runs the cell. A node whose
  weights are initializers keeps, per input shape, what its first run checked and built (_FloatPlan).
- DynamicQuantizeLSTM: W and R stay int8 (uint8 ones are stored as w - 128, their zero point moved
  by the same), packed once per node when they are initializers. X is quantized over the steps up
  to the longest sequence as the numpy kernel does (its `_uint8_params`), the C code projects it
  with exact integer products, and every step requantizes H_{t-1} to uint8 with the numpy kernel's
  float32 arithmetic and multiplies it exactly (int32 sums, zero points in int64).

What the C code does not cover runs on the numpy kernel: the activations Elu and Softplus, dtypes
other than float32, empty tensors, non-finite activation parameters; for DynamicQuantizeLSTM also a
non-finite X (the numpy kernel's NaN outputs), and any step whose H_{t-1} is not finite or whose
quantization scale degenerates (the C call says so and the numpy kernel reruns the node).
The gates' tanh is ep_native.h's (a few ulp from numpy's); everything else rounds as numpy does.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import rnn as reference
from ..contrib import quantized_lstm as reference_q
from ..contrib._common import MS
from . import library
from ._register import F32, is_f32_array, native_kernel, ptr

#: activation codes of csrc/rnn.c
RNN_ACTIVATIONS = {"sigmoid": 0, "tanh": 1, "relu": 2, "affine": 3, "leakyrelu": 4, "thresholdedrelu": 5,
                   "scaledtanh": 6, "hardsigmoid": 7, "softsign": 8}
#: csrc/rnn.c's return codes
_UNCOVERED, _NO_MEMORY = 1, 2
#: the int8 products sum in int32: K * 255 * 128 must stay below 2**31
MAX_QUANTIZED_K = 1 << 16
#: a float LSTM of at most this many steps x batch entries and input multiply-adds projects X in C
#: (ep_lstm_x_f32: one call per direction); longer inputs keep numpy's GEMM, which reads W once for all rows
PROJECT_ROWS, PROJECT_MACS = 8, 1 << 19

#: a direction's activations for the C code: the addresses of codes int32[3], alpha float32[3] and
#: beta float32[3], and the arrays (kept alive with them)
_Cell = tuple[int, int, int, tuple[np.ndarray, ...]]


def _cells(op: str, activations: Any, alpha: Any, beta: Any, num_dirs: int) -> list[_Cell] | None:
    """Each direction's activation codes and parameters (_Cell), or None when one of the functions has
    no C code or a parameter is not a finite float32 (made once per attribute set)."""
    def key(v: Any) -> tuple | None:
        return None if v is None else tuple(v)

    return _cells_of(op, key(activations), key(alpha), key(beta), num_dirs)


@functools.lru_cache(maxsize=256)
def _cells_of(op: str, activations: tuple | None, alpha: tuple | None, beta: tuple | None,
              num_dirs: int) -> list[_Cell] | None:
    specs = reference.activation_specs(op, activations, alpha, beta, reference._LSTM_ACTIVATIONS, num_dirs)
    cells = []
    for funcs in specs:
        if any(name not in RNN_ACTIVATIONS for name, _, _ in funcs):
            return None
        with np.errstate(over="ignore"):
            a = np.array([f[1] for f in funcs], np.float32)
            b = np.array([f[2] for f in funcs], np.float32)
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            return None
        codes = np.array([RNN_ACTIVATIONS[f[0]] for f in funcs], np.int32)
        for v in (codes, a, b):
            v.flags.writeable = False
        cells.append((codes.ctypes.data, a.ctypes.data, b.ctypes.data, (codes, a, b)))
    return cells


def _clip(clip: Any) -> tuple[np.float32, int] | None:
    """(clip as float32, 1) or (0, 0) without one; None when it is not a finite float32."""
    if clip is None:
        return np.float32(0), 0
    with np.errstate(over="ignore"):
        c = np.float32(float(clip))
    return (c, 1) if np.isfinite(c) else None


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _states(s: reference._Setup, d: int) -> tuple[np.ndarray, int, int]:
    """Direction d's initial H and C in one float32 buffer [2, batch, hidden], and their addresses
    (fewer ctypes lookups: each costs more than a small copy)."""
    hc = np.empty((2, s.batch, s.hidden), np.float32)
    hc[0] = s.initial[0][d]
    hc[1] = s.initial[1][d]
    address = hc.ctypes.data
    return hc, address, address + hc[0].nbytes


def _outputs(s: reference._Setup) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    """Y [seq, batch, hidden], Y_h and Y_c [batch, hidden] of a direction, views of one new float32
    buffer, and their addresses."""
    size, state = s.seq * s.batch * s.hidden, s.batch * s.hidden
    buf = np.empty(size + 2 * state, np.float32)
    address = buf.ctypes.data
    y, h, c = buf[:size], buf[size:size + state], buf[size + state:]
    return (y.reshape(s.seq, s.batch, s.hidden), h.reshape(s.batch, s.hidden), c.reshape(s.batch, s.hidden),
            address, address + 4 * size, address + 4 * (size + state))


def _results(s: reference._Setup, ys: list[np.ndarray], hs: list[np.ndarray], cs: list[np.ndarray],
             num_outputs: int) -> tuple:
    """(Y, Y_h, Y_c) as _Setup.outputs makes them; one direction in layout 0 without sequence lengths
    needs no copy (Y [seq, 1, batch, hidden] is the C code's output with an axis added)."""
    if s.num_dirs == 1 and s.layout == 0 and s.lens is None and ys[0].flags.c_contiguous:
        return (ys[0][:, None], hs[0][None], cs[0][None])[:max(num_outputs, 1)]
    return s.outputs(ys, [hs, cs], num_outputs)


def _check(rc: int, op: str) -> bool:
    """True when the C call finished; False when it left the node to the numpy kernel."""
    if rc == _NO_MEMORY:
        raise MemoryError(f"{op}: the native kernel could not allocate its buffers")
    if rc not in (0, _UNCOVERED):
        raise RuntimeError(f"{op}: the native kernel failed with code {rc}")
    return rc == 0


def native_lstm(x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray | None = None,
                sequence_lens: np.ndarray | None = None, initial_h: np.ndarray | None = None,
                initial_c: np.ndarray | None = None, p: np.ndarray | None = None, *,
                activation_alpha: Any = None, activation_beta: Any = None, activations: Any = None,
                clip: Any = None, direction: str = "forward", hidden_size: int | None = None,
                input_forget: int = 0, layout: int = 0, num_outputs: int = 1,
                cache: reference_q._WeightCache | None = None,
                w_cache: reference_q._WeightCache | None = None) -> tuple | None:
    """A float32 LSTM by the C recurrence, or None when it does not cover the node (the caller runs
    `..rnn.lstm`, which also raises the errors of bad inputs). `cache` keeps R^T of a constant R, `w_cache`
    W^T of a constant W (read by the C projection of few steps: _projects_in_c)."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or any(v is not None and type(v) is not np.ndarray
                                                 for v in (w, r, b, initial_h, initial_c, p)):
        return None
    s = reference._Setup("LSTM", 4, x, w, r, b, sequence_lens, [initial_h, initial_c], hidden_size, direction, layout)
    n = s.hidden
    cells = _cells("LSTM", activations, activation_alpha, activation_beta, s.num_dirs)
    clipping = _clip(clip)
    if cells is None or clipping is None or s.seq * s.batch * n == 0 or (p is not None and p.shape != (s.num_dirs,
                                                                                                       3 * n)):
        return None
    lens = None if s.lens is None else np.ascontiguousarray(s.lens, dtype=np.int64)
    r_t = (cache or reference_q._WeightCache(False)).get((r,), lambda: [
        (rt, rt.ctypes.data) for rt in (_f32(s.r[d].T) for d in range(s.num_dirs))])
    k = s.x.shape[2]
    in_c = s.lens is None and _projects_in_c(s.seq, s.batch, k, n)
    w_t = (w_cache or reference_q._WeightCache(False)).get((w,), lambda: _transposed(s.w)) if in_c else None
    xc = _f32(s.x) if in_c else None
    ys, hs, cs = [], [], []
    for d in range(s.num_dirs):
        xd, idx, _ = s.steps(d)
        bias = s.b[d, :4 * n] + s.b[d, 4 * n:]
        pd = None if p is None else _f32(p[d])
        hc, h0, c0 = _states(s, d)  # hc holds the buffer while C reads it
        y, h, c, y_at, h_at, c_at = _outputs(s)
        codes, alpha, beta, _ = cells[d]
        if w_t is not None:
            bias = _f32(bias)
            rc = lib.ep_lstm_x_f32(xc.ctypes.data, k, int(s.directions[d] == "reverse"), w_t[d][1], bias.ctypes.data,
                                   r_t[d][1], ptr(pd), h0, c0, y_at, h_at, c_at, s.seq, s.batch, n, codes, alpha, beta,
                                   clipping[0], clipping[1], int(bool(input_forget)), library.threads())
        else:
            xw = _f32(reference._project(xd, s.w[d], bias))
            rc = lib.ep_lstm_f32(xw.ctypes.data, r_t[d][1], ptr(pd), h0, c0, ptr(lens), y_at, h_at, c_at, s.seq,
                                 s.batch, n, codes, alpha, beta, clipping[0], clipping[1], int(bool(input_forget)),
                                 library.threads())
        if not _check(rc, "LSTM"):
            return None
        ys.append(s.restore(d, y, idx))
        hs.append(h)
        cs.append(c)
    return _results(s, ys, hs, cs, num_outputs)


def _projects_in_c(seq: int, batch: int, k: int, n: int) -> bool:
    """Whether X W^T of an LSTM of these sizes is computed in C (ep_lstm_x_f32) rather than by numpy."""
    return 0 < k and seq * batch <= PROJECT_ROWS and seq * batch * k * 4 * n <= PROJECT_MACS


#: a direction's transposed weights (float32, C-contiguous) and their address
_Transposed = tuple[np.ndarray, int]


def _transposed(w: np.ndarray) -> list[_Transposed]:
    """Each direction's W^T [input, 4 * hidden] (float32, C-contiguous) and its address."""
    return [(wt, wt.ctypes.data) for wt in (_f32(w[d].T) for d in range(w.shape[0]))]


class _FloatPlan:
    """What the runs of one LSTM node share while its W, R, B and P are the same constant arrays and X,
    initial_h and initial_c keep their shapes (layout 0, no sequence_lens): the geometry native_lstm
    checked on the first such run, each direction's W^T (a view, or for few steps the C-contiguous copy
    ep_lstm_x_f32 reads), Wb + Rb and R^T, the activations and zero initial states. A run then only
    projects X and calls the C recurrence, as native_lstm does (so the same bits): no _Setup, no per-run
    copies of the states; for few steps one C call per direction."""

    def __init__(self, key: tuple, w: np.ndarray, r: np.ndarray, b: np.ndarray | None, p: np.ndarray | None,
                 x_shape: tuple[int, ...], directions: list[str], cells: list[_Cell], clipping: tuple[np.float32, int],
                 input_forget: int, r_t: list[_Transposed], w_t: list[_Transposed] | None) -> None:
        self.key = key
        self.arrays = (w, r, b, p)
        self.seq, self.batch, self.k = x_shape
        self.w_t = w_t  # held for the addresses below; None: numpy projects X
        n = self.n = r.shape[-1]
        self.clip, self.has_clip = clipping
        self.input_forget = int(bool(input_forget))
        self.reverse = [d == "reverse" for d in directions]
        self.state = self.batch * n
        self.zeros = np.zeros(len(directions) * self.state, np.float32)
        self.zeros_at = self.zeros.ctypes.data
        self.dirs = []
        for d in range(len(directions)):
            bias = _f32(np.zeros(4 * n, np.float32) if b is None else b[d, :4 * n] + b[d, 4 * n:])
            pd = None if p is None else _f32(p[d])
            codes, alpha, beta, _ = cells[d]
            self.dirs.append((w[d].T, None if w_t is None else w_t[d][1], bias, bias.ctypes.data, r_t[d][1], ptr(pd),
                              pd, codes, alpha, beta))

    def matches(self, key: tuple, w: np.ndarray, r: np.ndarray, b: np.ndarray | None, p: np.ndarray | None) -> bool:
        """Whether a run with these shapes and weights may use this plan."""
        pw, pr, pb, pp = self.arrays
        return key == self.key and w is pw and r is pr and b is pb and p is pp

    def _state_at(self, v: np.ndarray | None) -> tuple[np.ndarray | None, int]:
        if v is None:
            return None, self.zeros_at
        v = np.ascontiguousarray(v)
        return v, v.ctypes.data

    def run(self, x: np.ndarray, initial_h: np.ndarray | None, initial_c: np.ndarray | None,
            num_outputs: int) -> tuple | None:
        """The node's outputs, or None when the C code left the run to numpy."""
        lib = library.LIB
        seq, batch, n, state = self.seq, self.batch, self.n, self.state
        size = seq * batch * n
        h_keep, h_at = self._state_at(initial_h)  # h_keep / c_keep hold the arrays while C reads them
        c_keep, c_at = self._state_at(initial_c)
        threads = library.threads()
        xc = np.ascontiguousarray(x) if self.w_t is not None else None
        x_at = None if xc is None else xc.ctypes.data
        ys, hs, cs = [], [], []
        for d, (w_view, wt_at, bias, bias_at, rt_at, p_at, _, codes, alpha, beta) in enumerate(self.dirs):
            buf = np.empty(size + 2 * state, np.float32)
            at = buf.ctypes.data
            if x_at is not None:
                rc = lib.ep_lstm_x_f32(x_at, self.k, int(self.reverse[d]), wt_at, bias_at, rt_at, p_at,
                                       h_at + 4 * d * state, c_at + 4 * d * state, at, at + 4 * size,
                                       at + 4 * (size + state), seq, batch, n, codes, alpha, beta, self.clip,
                                       self.has_clip, self.input_forget, threads)
            else:
                xd = x[::-1] if self.reverse[d] else x
                xw = np.matmul(xd.reshape(seq * batch, self.k), w_view)
                xw += bias
                rc = lib.ep_lstm_f32(xw.ctypes.data, rt_at, p_at, h_at + 4 * d * state, c_at + 4 * d * state, None,
                                     at, at + 4 * size, at + 4 * (size + state), seq, batch, n, codes, alpha, beta,
                                     self.clip, self.has_clip, self.input_forget, threads)
            if not _check(rc, "LSTM"):
                return None
            y = buf[:size].reshape(seq, batch, n)
            ys.append(y[::-1] if self.reverse[d] else y)
            hs.append(buf[size:size + state].reshape(batch, n))
            cs.append(buf[size + state:].reshape(batch, n))
        if len(ys) == 1 and not self.reverse[0]:
            outs = (ys[0][:, None], hs[0][None], cs[0][None])
        else:
            outs = (np.stack(ys, axis=1), np.stack(hs), np.stack(cs))
        return outs[:max(num_outputs, 1)]


def _plan_inputs(x: Any, w: Any, r: Any, b: Any, sequence_lens: Any, initial_h: Any, initial_c: Any,
                 p: Any) -> tuple | None:
    """The key of a run _FloatPlan may take (the shapes of X, initial_h and initial_c), or None."""
    if sequence_lens is not None or not (is_f32_array(x) and is_f32_array(w) and is_f32_array(r)) or any(
            v is not None and not is_f32_array(v) for v in (b, initial_h, initial_c, p)):
        return None
    return (x.shape, None if initial_h is None else initial_h.shape, None if initial_c is None else initial_c.shape)


def _lstm_factory(attrs: dict[str, Any], node: Any, graph: Any, num_outputs: int) -> Any:
    """The function running one LSTM node: natively, or by the numpy kernel where native_lstm
    returns None. R^T is kept between runs when R is an initializer; when W, R, B and P all are
    (layout 0), a _FloatPlan per input shape skips the per-run setup."""
    names = list(node.inputs) if node is not None else []
    constant = graph is not None and len(names) > 2 and graph.is_constant(names[2])
    planned = constant and attrs.get("layout", 0) == 0 and all(
        i >= len(names) or not names[i] or graph.is_constant(names[i]) for i in (1, 3, 7))
    cache = reference_q._WeightCache(constant)
    w_cache = reference_q._WeightCache(constant and len(names) > 1 and graph.is_constant(names[1]))
    plan: _FloatPlan | None = None

    def run(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None):
        nonlocal plan
        key = _plan_inputs(x, w, r, b, sequence_lens, initial_h, initial_c, p) if planned else None
        if key is not None and plan is not None and plan.matches(key, w, r, b, p):
            out = plan.run(x, initial_h, initial_c, num_outputs)
            if out is not None:
                return out
        out = native_lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, **attrs, num_outputs=num_outputs,
                          cache=cache, w_cache=w_cache)
        if out is None:
            return reference.lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, **attrs, num_outputs=num_outputs)
        if key is not None:
            seq, batch, k = x.shape
            in_c = _projects_in_c(seq, batch, k, r.shape[-1])
            plan = _FloatPlan(key, w, r, b, p, x.shape, _directions(attrs.get("direction", "forward")),
                              _cells("LSTM", attrs.get("activations"), attrs.get("activation_alpha"),
                                     attrs.get("activation_beta"), 2 if attrs.get("direction") == "bidirectional"
                                     else 1),
                              _clip(attrs.get("clip")), attrs.get("input_forget", 0), cache.get((r,), _no_build),
                              w_cache.get((w,), _no_build) if in_c else None)
        return out

    return run


def _directions(direction: str) -> list[str]:
    return ["forward", "reverse"] if direction == "bidirectional" else [direction]


def _no_build() -> Any:
    raise AssertionError("R^T and W^T were cached by the run that builds the plan")


@native_kernel("LSTM", 1, until=6, multi_output=True, factory=True)
def LSTM_1(*, activation_alpha=None, activation_beta=None, activations=None, clip=None, direction="forward",
           hidden_size=None, input_forget=0, output_sequence=0, _node=None, _graph=None, _num_outputs=1):
    """LSTM 1 (`output_sequence` only says whether Y is produced: it is whenever the node asks for it)."""
    return _lstm_factory(dict(activation_alpha=activation_alpha, activation_beta=activation_beta,
                              activations=activations, clip=clip, direction=direction, hidden_size=hidden_size,
                              input_forget=input_forget), _node, _graph, _num_outputs)


@native_kernel("LSTM", 7, until=13, multi_output=True, factory=True)
def LSTM_7(*, activation_alpha=None, activation_beta=None, activations=None, clip=None, direction="forward",
           hidden_size=None, input_forget=0, _node=None, _graph=None, _num_outputs=1):
    """LSTM 7 to 13."""
    return _lstm_factory(dict(activation_alpha=activation_alpha, activation_beta=activation_beta,
                              activations=activations, clip=clip, direction=direction, hidden_size=hidden_size,
                              input_forget=input_forget), _node, _graph, _num_outputs)


@native_kernel("LSTM", 14, multi_output=True, factory=True)
def LSTM(*, activation_alpha=None, activation_beta=None, activations=None, clip=None, direction="forward",
         hidden_size=None, input_forget=0, layout=0, _node=None, _graph=None, _num_outputs=1):
    """LSTM 14 on (`layout` 1: batch first)."""
    return _lstm_factory(dict(activation_alpha=activation_alpha, activation_beta=activation_beta,
                              activations=activations, clip=clip, direction=direction, hidden_size=hidden_size,
                              input_forget=input_forget, layout=layout), _node, _graph, _num_outputs)


# --------------------------------------------------------------------------- DynamicQuantizeLSTM


class PackedWeights:
    """One direction's int8 weights [K, 4*hidden] as the C code reads them: transposed to rows of K,
    uint8 ones stored as w - 128 (int8) with the zero point moved by the same, each row's sum, and
    `packed`, the layout of the AVX-512 VNNI kernel (None where the CPU has none: the C code then
    reads the rows)."""

    def __init__(self, w: np.ndarray, zero: np.ndarray, what: str, op: str) -> None:
        z = reference_q.weight_zero(w, zero, what, op)
        t = np.ascontiguousarray(w.T)
        if w.dtype == np.uint8:
            t = (t ^ np.uint8(0x80)).view(np.int8)
            z -= 128
        self.w = t
        self.sums = t.sum(axis=1, dtype=np.int64).astype(np.int32)
        self.zero = z
        size = library.LIB.ep_qlstm_packed_size(*t.shape)
        self.packed = None
        if size > 0:
            self.packed = np.empty(size, np.int8)
            if library.LIB.ep_qlstm_pack(t.ctypes.data, t.shape[0], t.shape[1], self.packed.ctypes.data) != 0:
                self.packed = None


def native_dynamic_quantize_lstm(x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray | None = None,
                                 sequence_lens: np.ndarray | None = None, initial_h: np.ndarray | None = None,
                                 initial_c: np.ndarray | None = None, p: np.ndarray | None = None,
                                 w_scale: np.ndarray | None = None, w_zero_point: np.ndarray | None = None,
                                 r_scale: np.ndarray | None = None, r_zero_point: np.ndarray | None = None, *,
                                 activation_alpha: Any = None, activation_beta: Any = None, activations: Any = None,
                                 clip: Any = None, direction: str = "forward", hidden_size: int | None = None,
                                 input_forget: int = 0, zero_finished: bool = True, num_outputs: int = 3,
                                 cache: reference_q._WeightCache | None = None) -> tuple | None:
    """DynamicQuantizeLSTM by the C code, or None when it does not cover the node (the caller runs
    `..contrib.quantized_lstm.dynamic_quantize_lstm`, which also raises the errors of bad inputs)."""
    op = "DynamicQuantizeLSTM"
    lib = library.LIB
    arrays = (w, r, w_scale, w_zero_point, r_scale, r_zero_point)
    if lib is None or not is_f32_array(x) or any(type(v) is not np.ndarray for v in arrays) or any(
            v is not None and type(v) is not np.ndarray for v in (b, initial_h, initial_c, p)):
        return None
    if any(t.dtype not in (np.int8, np.uint8) or t.ndim != 3 or zp.dtype != t.dtype
           for t, zp in ((w, w_zero_point), (r, r_zero_point))):
        return None
    s = reference._Setup(op, 4, x, w.transpose(0, 2, 1), r.transpose(0, 2, 1), b, sequence_lens,
                         [initial_h, initial_c], hidden_size, direction, 0, cast_weights=False)
    n, dirs, k = s.hidden, s.num_dirs, s.x.shape[2]
    cells = _cells(op, activations, activation_alpha, activation_beta, dirs)
    clipping = _clip(clip)
    if cells is None or clipping is None or s.seq * s.batch * n * k == 0 or max(n, k) > MAX_QUANTIZED_K or (
            p is not None and p.shape != (dirs, 3 * n)):
        return None
    max_len = s.seq if s.lens is None else int(s.lens.max(initial=0))
    x_scale, x_zero = reference_q._uint8_params(s.x[:max_len])
    if not (np.isfinite(x_scale) and x_scale > 0):
        return None  # a NaN or an infinity in X: the numpy kernel's outputs
    weights = (cache or reference_q._WeightCache(False)).get((w, r, w_zero_point, r_zero_point), lambda: [
        (PackedWeights(w[d], reference_q._direction_param(w_zero_point, d, dirs, 4 * n, "W_zero_point", op), "W", op),
         PackedWeights(r[d], reference_q._direction_param(r_zero_point, d, dirs, 4 * n, "R_zero_point", op), "R", op))
        for d in range(dirs)])
    lens = None if s.lens is None else np.ascontiguousarray(s.lens, dtype=np.int64)
    threads = library.threads()
    ys, hs, cs = [], [], []
    for d, (wq, rq) in enumerate(weights):
        ws = reference_q._direction_param(w_scale, d, dirs, 4 * n, "W_scale", op).astype(np.float32)
        rs = reference_q._direction_param(r_scale, d, dirs, 4 * n, "R_scale", op).astype(np.float32)
        xs_ws = _f32(np.broadcast_to(x_scale * ws, (4 * n,)))
        xd, idx, _ = s.steps(d)
        # only the steps up to the longest sequence are read (and were quantized to finite values)
        xd = _f32(xd[:max_len])
        xw = np.empty((max_len, s.batch, 4 * n), np.float32)
        if max_len and not _check(lib.ep_qlstm_project_f32(xd.ctypes.data, max_len * s.batch, k, x_scale,
                                                           int(x_zero), wq.w.ctypes.data, ptr(wq.packed),
                                                           wq.sums.ctypes.data, wq.zero, 4 * n, xs_ws.ctypes.data,
                                                           xw.ctypes.data, threads), op):
            return None
        bias = _f32(s.b[d, :4 * n] + s.b[d, 4 * n:])
        rsv = _f32(np.broadcast_to(rs, (4 * n,)))
        pd = None if p is None else _f32(p[d])
        hc, h0, c0 = _states(s, d)  # hc holds the buffer while C reads it
        y, h, c, y_at, h_at, c_at = _outputs(s)
        codes, alpha, beta, _ = cells[d]
        rc = lib.ep_qlstm_f32(xw.ctypes.data, rq.w.ctypes.data, ptr(rq.packed), rq.sums.ctypes.data, rq.zero,
                              rsv.ctypes.data, bias.ctypes.data, ptr(pd), h0, c0, ptr(lens), int(zero_finished), y_at,
                              h_at, c_at, s.seq, s.batch, n, codes, alpha, beta, clipping[0], clipping[1],
                              int(bool(input_forget)), threads)
        if not _check(rc, op):
            return None
        ys.append(s.restore(d, y, idx))
        hs.append(h)
        cs.append(c)
    return _results(s, ys, hs, cs, num_outputs)


@native_kernel("DynamicQuantizeLSTM", 1, domain=MS, multi_output=True, factory=True, dtypes=[F32])
def DynamicQuantizeLSTM(*, activation_alpha=None, activation_beta=None, activations=None, clip=None,
                        direction="forward", hidden_size=None, input_forget=0, _node=None, _graph=None,
                        _num_outputs=1):
    """DynamicQuantizeLSTM by the C recurrence, the numpy kernel for what it does not cover. Packed
    weights of initializers are made on the first run only."""
    attrs = dict(activation_alpha=activation_alpha, activation_beta=activation_beta, activations=activations,
                 clip=clip, direction=direction, hidden_size=hidden_size, input_forget=input_forget)
    numpy_run = reference_q.DynamicQuantizeLSTM(**attrs, _node=_node, _graph=_graph, _num_outputs=_num_outputs)
    cache = reference_q._WeightCache(reference_q.constant_weights(_node, _graph))
    zero_finished = reference_q.zeros_finished_states(_node)

    def run(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, w_scale=None,
            w_zero_point=None, r_scale=None, r_zero_point=None):
        out = native_dynamic_quantize_lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, w_scale, w_zero_point,
                                           r_scale, r_zero_point, **attrs, zero_finished=zero_finished,
                                           num_outputs=_num_outputs, cache=cache)
        if out is None:
            return numpy_run(x, w, r, b, sequence_lens, initial_h, initial_c, p, w_scale, w_zero_point, r_scale,
                             r_zero_point)
        return out

    return run
