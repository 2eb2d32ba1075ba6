"""Native convolutions: `Conv` and the CPU provider's `FusedConv` (Conv + residual + Relu).

Three native paths for 1-D and 2-D convolutions, chosen by shape (conv_path), and a fourth for what the
GEMM would serve with a one-position output; 3-D ones and negative pads run the numpy kernel:
- *direct*: few input channels per group (depthwise, small groups) and at most DIRECT_MAX_TAPS
  kernel taps run the C kernel, with bias, residual and activation applied to each output row
  while it is in cache;
- *frames*: a convolution of one input channel and a large kernel (an STFT front end: kernel
  256, stride 128) is one GEMM of the weights with the strided frames of the padded input;
- *gemm*: every other convolution (dense, 1x1, strided, dilated, grouped) is the packed SGEMM of
  csrc/sgemm.c over weights packed once per node (PackedWeights), in its usual form or, for small
  maps, its transposed form (weights_layout), with bias, residual and activation applied to each
  tile of the output while it is in cache;
- *column*: a convolution the GEMM would serve whose output has one position per image (a 1x1 map after
  global pooling, the last strided layers of an audio encoder) is one matrix-vector product per image
  and group of the weights with the taps' input values (_column_conv); residual and activation follow.

The C kernels split their work over the running session's intra-op threads (library.threads()).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import check_conv_shapes, conv_channels, prod, spatial_pads

from .. import conv as reference
from .. import fusion
from . import library
from ._register import extents_fit, is_f32_array, native_kernel, ptr
from .activation import activation_inplace

#: the direct kernel takes kernels of at most this many taps (7x7 and 8x8 included) ...
DIRECT_MAX_TAPS = 64
#: ... and, beyond depthwise (one input channel per group), groups of at most this many input
#: and output channels; larger groups are a better fit for numpy's GEMM
DIRECT_MAX_GROUP_CHANNELS = 8


def conv_path(c: int, cg: int, mg: int, group: int, taps: int) -> str:
    """Which native path serves a convolution: "direct", "frames" or "gemm"."""
    if taps <= DIRECT_MAX_TAPS and (cg == 1 or (cg <= DIRECT_MAX_GROUP_CHANNELS and mg <= DIRECT_MAX_GROUP_CHANNELS)):
        return "direct"
    if c == 1 and group == 1:
        return "frames"
    return "gemm"


class PackedWeights:
    """One node's weights packed for the GEMM micro-kernels (csrc/sgemm.c), kept while the same weight
    array comes in, when they are an initializer (`constant`): the session hands the same array to every
    run. Compared by identity (the entry holds the array, so its id cannot be reused); replacing the entry
    is one assignment, so concurrent runs of a session at worst pack twice. Weights computed at run time
    are packed on every call."""

    def __init__(self, constant: bool = True, pack: Callable[..., np.ndarray] | None = None) -> None:
        self.constant = constant
        self.pack = pack
        self._entry: tuple[np.ndarray, tuple[int, ...], np.ndarray] | None = None

    def get(self, w: np.ndarray, *how: int) -> np.ndarray:
        """The packed form of the weights `w`: `pack(w, *how)` (by default pack_weights(w, group, nr))."""
        entry = self._entry
        if entry is not None and entry[0] is w and entry[1] == how:
            return entry[2]
        packed = (self.pack or pack_weights)(w, *how)
        if self.constant:
            self._entry = (w, how, packed)
        return packed

    @staticmethod
    def for_node(node: Node | None, graph: Graph | None, pack: Callable[..., np.ndarray] | None = None
                 ) -> PackedWeights:
        """The cache of a node whose input 1 is the weights: kept only when those are a constant (Graph.is_constant:
        an initializer, one the CPU fusion made, or, in a body graph, a constant of an enclosing graph)."""
        name = node.inputs[1] if node is not None and len(node.inputs) > 1 else ""
        return PackedWeights(graph is not None and graph.is_constant(name), pack)


def pack_weights(w: np.ndarray, group: int, nr: int = 0) -> np.ndarray:
    """The weights (m, c / group, kernel...) packed for the micro-kernels: per group, the (m / group,
    c / group * taps) matrix in panels of rows (ep_sgemm_pack_a_f32), or with `nr` > 0 transposed into
    panels of nr columns (ep_sgemm_pack_b_f32, for the transposed form), the panels of each block of k
    rows one after another. 64-byte aligned."""
    lib = library.LIB
    m, k = w.shape[0], prod(w.shape[1:])
    mg = m // group
    size = lib.ep_sgemm_packed_b_size(group, mg, k, nr) if nr else lib.ep_sgemm_packed_size(group, mg, k)
    if size < 0:
        raise MemoryError(f"Conv: the packed form of weights of shape {w.shape} does not fit in memory")
    wc = np.ascontiguousarray(w, dtype=np.float32)
    packed = library.empty_aligned((size,))
    if nr:
        lib.ep_sgemm_pack_b_f32(wc.ctypes.data, group, mg, k, nr, packed.ctypes.data)
    else:
        lib.ep_sgemm_pack_a_f32(wc.ctypes.data, group, mg, k, packed.ctypes.data)
    return packed


#: the transposed form (positions broadcast, output channels as vectors) runs when it computes at most
#: this fraction of the padded multiply-adds of the usual form (it stores less efficiently: 14x14 maps, at
#: 0.89, measured a tie or a loss; 7x7 and 13x13 ones, at 0.88 and below, a gain)
TRANSPOSED_MAX_WORK = 0.88
#: csrc/sgemm.c's EP_GEMM_IN_PLACE_M: the usual form reads B in place (over the wide positions) for at most
#: this many output channels a group, rounded up to 8
USUAL_IN_PLACE_M = 32


def weights_layout(plan: _Plan, group: int, nr: int) -> int:
    """The panel width to pack the weights for (0: the usual form): the transposed form when the output
    positions fill few vectors of nr (small maps) and it wastes much less of the tiles. The usual form
    computes the wide positions (csrc/sgemm.c: each output row continued over the taps' extra columns), the
    transposed one gathers the output positions themselves."""
    ho, kw, sw, dw, wo = plan.geometry[10], plan.geometry[3], plan.geometry[5], plan.geometry[7], plan.geometry[11]
    mg, wide, exact = plan.m // group, (ho - 1) * (wo + (kw - 1) * dw // sw) + wo, ho * wo
    mp = -(-mg // 8) * 8
    if mp > USUAL_IN_PLACE_M and -(-exact // nr) * 16 <= -(-wide // nr) * 15:
        wide = exact  # the packed usual form gathers the output positions too (EP_GEMM_EXACT_SAVING)
    usual = -(-wide // nr) * nr * mp
    transposed = -(-exact // 8) * 8 * -(-mg // nr) * nr
    return nr if transposed <= TRANSPOSED_MAX_WORK * usual else 0


def _supports(node: Node, graph: Graph) -> str | None:
    """Refuse, when the weight shape is known, what no native path serves (the numpy kernel runs it)."""
    shape = graph.value(node.inputs[1]).shape if len(node.inputs) > 1 else None
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None  # decided when the kernel runs
    if len(shape) not in (3, 4):
        return f"native convolutions are 1-D and 2-D; this one is {len(shape) - 2}-D"
    group = int(node.attrs.get("group", 1))
    m, cg = shape[:2]
    if group < 1 or m % group:
        return f"group={group} does not divide the {m} output channels"
    return None


#: convolutions with fewer output positions per image (a squeeze-excite block's 1x1 convolutions on a
#: pooled 1x1 map, the last strided layers of an audio encoder) are a matrix-vector product per image and
#: group (_column_conv), where the GEMM's tiles would be mostly padding (measured 1.3x slower)
GEMM_MIN_POSITIONS = 2


class _Plan(NamedTuple):
    """What conv() does with one geometry: its path, output shape and window geometry."""
    path: str
    m: int
    y_shape: tuple[int, ...]
    geometry: tuple[int, ...]  # _geometry_2d's
    begin: tuple[int, ...]
    end: tuple[int, ...]
    out: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    #: (n, c, h, wd, m, group, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo) for ep_conv2d_gemm_f32, and its address
    shape: np.ndarray
    shape_ptr: int


@functools.lru_cache(maxsize=4096)
def _plan(x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: tuple[int, ...] | None, group: int,
          kernel_shape: tuple[int, ...] | None, strides: tuple[int, ...] | None, dilations: tuple[int, ...] | None,
          pads: tuple[int, ...] | None, auto_pad: str) -> _Plan | None:
    """The plan of a convolution (None: no native path), computed once per geometry (a model runs the
    same few geometries on every run). Bad shapes raise the reference kernel's errors, every time."""
    nd = check_conv_shapes(x_shape, w_shape, group, kernel_shape, "Conv")
    m, cg = conv_channels(x_shape, w_shape, b_shape, group)
    ks = list(w_shape[2:])
    st = list(strides) if strides is not None else [1] * nd
    dil = list(dilations) if dilations is not None else [1] * nd
    begin, end, out = spatial_pads(x_shape[2:], ks, st, dil, pads, auto_pad, "Conv")
    if min(begin) < 0 or min(end) < 0 or min(st) < 1 or min(dil) < 1 or not extents_fit(out, ks, st, dil):
        return None
    path = conv_path(x_shape[1], cg, m // group, group, prod(ks))
    if path == "gemm" and prod(out) < GEMM_MIN_POSITIONS:
        if prod(out) != 1:
            return None
        path = "column"
    geometry = _geometry_2d(x_shape, ks, st, dil, begin, out)
    shape = np.array([x_shape[0], x_shape[1], *geometry[:2], m, group, *geometry[2:]], dtype=np.int64)
    return _Plan(path, m, (x_shape[0], m) + tuple(out), geometry, tuple(begin), tuple(end), tuple(out), tuple(st),
                 tuple(dil), shape, shape.ctypes.data)


def _ints(v: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if v is None else tuple(v)


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, residual: np.ndarray | None = None,
         act: int = library.ACT_NONE, alpha: float = 0.0, beta: float = 0.0, *, auto_pad: str = "NOTSET",
         dilations: Sequence[int] | None = None, group: int = 1, kernel_shape: Sequence[int] | None = None,
         pads: Sequence[int] | None = None, strides: Sequence[int] | None = None,
         packed: PackedWeights | None = None) -> np.ndarray | None:
    """act(Conv(x, w, b) + residual) by a native path, or None when none applies (the caller then
    runs the numpy kernel). The residual broadcasts as in numpy; activation codes are library.ACT_*.
    `packed` keeps a node's weights packed for the GEMM path between runs (else they are packed per call)."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or type(w) is not np.ndarray or x.ndim not in (3, 4) or x.size == 0 \
            or w.size == 0:
        return None
    if b is not None and type(b) is not np.ndarray:
        return None
    plan = _plan(x.shape, w.shape, None if b is None else b.shape, group, _ints(kernel_shape), _ints(strides),
                 _ints(dilations), _ints(pads), auto_pad)
    if plan is None or (residual is not None and not is_f32_array(residual)):
        return None
    b = None if b is None else np.ascontiguousarray(b, dtype=np.float32).reshape(-1)
    # a residual of the output's shape is added inside the kernel; one that broadcasts, after it
    inner = residual is None or residual.shape == plan.y_shape
    res = np.ascontiguousarray(residual) if inner and residual is not None else None
    code = act if inner else library.ACT_NONE
    if plan.path == "frames":
        y = _frames_conv(x, np.ascontiguousarray(w, dtype=np.float32), b, plan.begin, plan.end, plan.out,
                         plan.strides, plan.dilations)
        inner = False
    elif plan.path == "column":
        y = _column_conv(x, w, b, plan, group)
        inner = False
    elif plan.path == "gemm":
        nr = weights_layout(plan, group, lib.ep_sgemm_nr())
        ap = packed.get(w, group, nr) if packed is not None else pack_weights(w, group, nr)
        y = _gemm_conv(lib, np.ascontiguousarray(x), ap, nr, b, plan, res, code, alpha, beta)
    else:
        y = library.empty_aligned(plan.y_shape)
        x = np.ascontiguousarray(x)
        w = np.ascontiguousarray(w, dtype=np.float32)
        rc = lib.ep_conv2d_direct_f32(x.ctypes.data, w.ctypes.data, ptr(b), ptr(res), y.ctypes.data, x.shape[0],
                                      x.shape[1], *plan.geometry[:2], plan.m, group, *plan.geometry[2:], code, alpha,
                                      beta, library.threads())
        if rc != 0:
            raise MemoryError("Conv: the native kernel could not allocate its padded input")
    if not inner:
        if residual is not None:
            y = y + residual
        if act != library.ACT_NONE:
            activation_inplace(y, act, alpha, beta)
    return y


def _geometry_2d(x_shape: Sequence[int], ks: Sequence[int], st: Sequence[int], dil: Sequence[int],
                 begin: Sequence[int], out: Sequence[int]) -> tuple[int, ...]:
    """(h, w, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo) of a 2-D window op; a 1-D one is 2-D with height 1."""
    if len(x_shape) == 3:
        return 1, x_shape[2], 1, ks[0], 1, st[0], 1, dil[0], 0, begin[0], 1, out[0]
    return (*x_shape[2:], *ks, *st, *dil, *begin, *out)


def _gemm_conv(lib: Any, x: np.ndarray, ap: np.ndarray, nr: int, b: np.ndarray | None, plan: _Plan,
               residual: np.ndarray | None = None, act: int = library.ACT_NONE, alpha: float = 0.0,
               beta: float = 0.0) -> np.ndarray:
    """A dense (or grouped) convolution by the packed GEMM of csrc/sgemm.c (weights packed by pack_weights
    for panel width nr), with bias, residual (C-contiguous, of the output's shape) and activation applied
    to each tile of the output while it is in cache."""
    y = library.empty_aligned(plan.y_shape)
    rc = lib.ep_conv2d_gemm_f32(x.ctypes.data, ap.ctypes.data, nr, ptr(b), ptr(residual), y.ctypes.data,
                                plan.shape_ptr, act, alpha, beta, library.threads())
    if rc == -1:
        raise MemoryError("Conv: the native GEMM could not allocate its buffers")
    if rc != 0:
        raise RuntimeError(f"Conv: the native GEMM refused its arguments (code {rc})")
    return y


@functools.lru_cache(maxsize=1024)
def _column_taps(spatial: tuple[int, ...], ks: tuple[int, ...], begin: tuple[int, ...], dilations: tuple[int, ...]
                 ) -> tuple[tuple[slice, ...], tuple[slice, ...], bool] | None:
    """Where the only window of a one-position convolution lies: (the taps inside the input, the input positions
    they read, whether that is every tap); None when every tap falls in the padding."""
    taps: list[slice] = []
    reads: list[slice] = []
    for size, k, before, d in zip(spatial, ks, begin, dilations):
        # tap j reads input position j * d - before (the window starts at -before)
        first, last = -(-before // d), min(k - 1, (size - 1 + before) // d)
        if last < first:
            return None
        taps.append(slice(first, last + 1))
        reads.append(slice(first * d - before, last * d - before + 1, d))
    whole = all(t.start == 0 and t.stop == k for t, k in zip(taps, ks))
    every = (slice(None), slice(None))
    return every + tuple(taps), every + tuple(reads), whole


def _column_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, plan: _Plan, group: int) -> np.ndarray:
    """A convolution with one output position per image: the input values its taps read (zeros where a tap
    falls in the padding) as one column of c / group * taps values per group, times the weights seen as a
    (m / group, c / group * taps) matrix, plus the bias."""
    n, c = x.shape[:2]
    ks = w.shape[2:]
    window = _column_taps(x.shape[2:], ks, plan.begin, plan.dilations)
    if window is not None and window[2]:
        col = x[window[1]]
    else:
        col = np.zeros((n, c) + ks, dtype=np.float32)
        if window is not None:
            col[window[0]] = x[window[1]]
    m, k = w.shape[0], prod(w.shape[1:])
    weights = w.reshape(group, m // group, k)
    if weights.dtype != np.float32:
        weights = weights.astype(np.float32)
    y = np.matmul(weights, col.reshape(n, group, k, 1))
    if b is not None:
        y += b.reshape(group, m // group, 1)
    return y.reshape(plan.y_shape)


def _frames_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, begin: Sequence[int], end: Sequence[int],
                 out: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> np.ndarray:
    """A one-input-channel convolution as W (M, K) @ frames (K, P) per image: the frames are a
    strided view of the padded input, copied once into GEMM order."""
    xp = np.ascontiguousarray(reference.pad_spatial(x, begin, end))
    n, m = x.shape[0], w.shape[0]
    ks = w.shape[2:]
    sp = xp.strides[2:]
    # a read-only strided view over xp's buffer (numpy checks that it stays inside; as_strided costs 2-3 us more)
    view = np.ndarray((n,) + tuple(out) + tuple(ks), np.float32, xp.data.toreadonly(), 0,
                      (xp.strides[0],) + tuple(s * st for s, st in zip(sp, strides))
                      + tuple(s * d for s, d in zip(sp, dilations)))
    frames = view.reshape(n, prod(out), prod(ks))
    y = np.matmul(w.reshape(m, -1), frames.transpose(0, 2, 1))
    if b is not None:
        y += b.reshape(m, 1)
    return y.reshape((n, m) + tuple(out))


def Conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, auto_pad: str = "NOTSET",
         dilations: list[int] | None = None, group: int = 1, kernel_shape: list[int] | None = None,
         pads: list[int] | None = None, strides: list[int] | None = None,
         packed: PackedWeights | None = None) -> np.ndarray:
    """Conv by a native path, or numpy's kernel where none applies."""
    geometry: dict[str, Any] = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                                    pads=pads, strides=strides)
    y = conv(x, w, b, packed=packed, **geometry)
    return reference.conv(x, w, b, **geometry) if y is None else y


@native_kernel("Conv", 1, supports=_supports, factory=True)
def conv_node(*, auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
              kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None, _node: Node | None = None,
              _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """The kernel of one Conv node: Conv with the node's constant weights kept packed between runs."""
    packed = PackedWeights.for_node(_node, _graph)
    geometry: dict[str, Any] = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                                    pads=pads, strides=strides)

    def run(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        return Conv(x, w, b, packed=packed, **geometry)

    return run


#: fusion.FusedConv's activation names -> the C library's codes (alpha / beta passed as they are)
_EPILOGUE_CODES = {
    "": library.ACT_NONE, "Relu": library.ACT_RELU, "Clip": library.ACT_CLIP, "LeakyRelu": library.ACT_LEAKY_RELU,
    "Sigmoid": library.ACT_SIGMOID, "Tanh": library.ACT_TANH, "HardSigmoid": library.ACT_HARD_SIGMOID,
    "HardSwish": library.ACT_HARD_SWISH, "Swish": library.ACT_SWISH,
}


def FusedConv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, z: np.ndarray | None = None,
              lo: np.ndarray | None = None, hi: np.ndarray | None = None, *, activation: str = "",
              activation_alpha: float = 0.0, activation_beta: float = 0.0,
              auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
              kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None, packed: PackedWeights | None = None) -> np.ndarray:
    """The native form of fusion.FusedConv: the input clip as numpy does it, then Conv + residual +
    activation (any of fusion.EPILOGUES) in one native pass; a convolution no native path serves
    (3-D) runs numpy's Conv + residual, then the native activation in place."""
    geometry: dict[str, Any] = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                                    pads=pads, strides=strides)
    y = None
    if activation in _EPILOGUE_CODES:
        y = conv(fusion.clamp(x, lo, hi), w, b, z, _EPILOGUE_CODES[activation], activation_alpha, activation_beta,
                 packed=packed, **geometry)
    if y is None:
        y = fusion.FusedConv(x, w, b, z, lo, hi, **geometry)
        code = _EPILOGUE_CODES.get(activation)
        if activation and (code is None or not activation_inplace(y, code, activation_alpha, activation_beta)):
            y = fusion.EPILOGUES[activation](y, activation_alpha, activation_beta)
    return y


@native_kernel("FusedConv", 1, domain=fusion.DOMAIN, factory=True)
def fused_conv_node(*, activation: str = "", activation_alpha: float = 0.0, activation_beta: float = 0.0,
                    auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
                    kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                    strides: list[int] | None = None, _node: Node | None = None,
                    _graph: Graph | None = None) -> Callable[..., np.ndarray]:
    """The kernel of one FusedConv node: FusedConv with the node's constant weights kept packed between runs."""
    packed = PackedWeights.for_node(_node, _graph)
    attrs: dict[str, Any] = dict(activation=activation, activation_alpha=activation_alpha,
                                 activation_beta=activation_beta, auto_pad=auto_pad, dilations=dilations, group=group,
                                 kernel_shape=kernel_shape, pads=pads, strides=strides)

    def run(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, z: np.ndarray | None = None,
            lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
        return FusedConv(x, w, b, z, lo, hi, packed=packed, **attrs)

    return run
