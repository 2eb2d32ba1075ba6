"""Native convolutions: `Conv` and the CPU provider's `FusedConv` (Conv + residual + Relu).

Three native paths for 1-D and 2-D convolutions, chosen by shape (conv_path); 1x1 convolutions
(one numpy matmul already), 3-D ones and negative pads run the numpy kernel:
- *direct*: few input channels per group (depthwise, small groups) and at most DIRECT_MAX_TAPS
  kernel taps run the C kernel, with bias, residual and activation applied to each output row
  while it is in cache;
- *frames*: a convolution of one input channel and a large kernel (an STFT front end: kernel
  256, stride 128) is one GEMM of the weights with the strided frames of the padded input;
- *im2col*: dense convolutions build their columns in C, a block of output rows at a time
  (about twice as fast as numpy's strided copies; blocks of about 1 MiB, so the GEMM reads them
  from L2), numpy's GEMM writes straight into the output, and a C epilogue adds bias and
  residual and applies the activation to the block while it is in cache.

The C kernels split their work over the running session's intra-op threads (library.threads()).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

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


def conv_path(c: int, cg: int, mg: int, group: int, taps: int) -> str | None:
    """Which native path serves a convolution: "direct", "frames", "im2col", or None (numpy's kernel)."""
    if taps <= DIRECT_MAX_TAPS and (cg == 1 or (cg <= DIRECT_MAX_GROUP_CHANNELS and mg <= DIRECT_MAX_GROUP_CHANNELS)):
        return "direct"
    if c == 1 and group == 1:
        return "frames"
    if taps > 1:
        return "im2col"
    return None


def _supports(node: Node, graph: Graph) -> str | None:
    """Refuse, when the weight shape is known, what no native path serves (the numpy kernel runs it)."""
    shape = graph.value(node.inputs[1]).shape if len(node.inputs) > 1 else None
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None  # decided when the kernel runs
    if len(shape) not in (3, 4):
        return f"native convolutions are 1-D and 2-D; this one is {len(shape) - 2}-D"
    group = int(node.attrs.get("group", 1))
    m, cg = shape[:2]
    if group < 1 or m % group or conv_path(cg * group, cg, m // group, group, prod(shape[2:])) is None:
        return "a 1x1 convolution is one numpy matmul already"
    return None


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, residual: np.ndarray | None = None,
         act: int = library.ACT_NONE, alpha: float = 0.0, beta: float = 0.0, *, auto_pad: str = "NOTSET",
         dilations: Sequence[int] | None = None, group: int = 1, kernel_shape: Sequence[int] | None = None,
         pads: Sequence[int] | None = None, strides: Sequence[int] | None = None) -> np.ndarray | None:
    """act(Conv(x, w, b) + residual) by a native path, or None when none applies (the caller then
    runs the numpy kernel). The residual broadcasts as in numpy; activation codes are library.ACT_*."""
    lib = library.LIB
    if lib is None or not is_f32_array(x) or type(w) is not np.ndarray or x.ndim not in (3, 4) or x.size == 0:
        return None
    if b is not None and type(b) is not np.ndarray:
        return None
    nd = check_conv_shapes(x.shape, w.shape, group, kernel_shape, "Conv")
    m, cg = conv_channels(x.shape, w.shape, None if b is None else b.shape, group)
    ks = list(w.shape[2:])
    st = list(strides) if strides is not None else [1] * nd
    dil = list(dilations) if dilations is not None else [1] * nd
    begin, end, out = spatial_pads(x.shape[2:], ks, st, dil, pads, auto_pad, "Conv")
    path = conv_path(x.shape[1], cg, m // group, group, prod(ks))
    if path is None or min(begin) < 0 or min(end) < 0 or min(st) < 1 or min(dil) < 1 \
            or not extents_fit(out, ks, st, dil):
        return None
    if residual is not None and not is_f32_array(residual):
        return None
    w = np.ascontiguousarray(w, dtype=np.float32)
    b = None if b is None else np.ascontiguousarray(b, dtype=np.float32).reshape(-1)
    n = x.shape[0]
    y_shape = (n, m) + tuple(out)
    # a residual of the output's shape is added inside the kernel; one that broadcasts, after it
    inner = residual is None or residual.shape == y_shape
    if path == "frames":
        y = _frames_conv(x, w, b, begin, end, out, st, dil)
        inner = False
    elif path == "im2col":
        res = np.ascontiguousarray(residual) if inner and residual is not None else None
        y = _im2col_conv(lib, np.ascontiguousarray(x), w, b, group, _geometry_2d(x.shape, ks, st, dil, begin, out),
                         res, act if inner else library.ACT_NONE, alpha, beta)
    else:
        y = np.empty(y_shape, dtype=np.float32)
        x = np.ascontiguousarray(x)
        res = np.ascontiguousarray(residual) if inner and residual is not None else None
        h, wd, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo = _geometry_2d(x.shape, ks, st, dil, begin, out)
        rc = lib.ep_conv2d_direct_f32(x.ctypes.data, w.ctypes.data, ptr(b), ptr(res), y.ctypes.data, n, x.shape[1],
                                      h, wd, m, group, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo,
                                      act if inner else library.ACT_NONE, alpha, beta, library.threads())
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


#: the im2col path builds its columns in blocks of output rows of about this many bytes, so that the
#: GEMM reads them from L2 (1 MiB: 17-28% faster than one block for 3x3 convolutions of 56x56 to
#: 160x160 maps, notes in docs/cpu-native.md) ...
IM2COL_BLOCK_BYTES = 1 << 20
#: ... but of at least this many output positions (a narrower GEMM loses more than the cache gains)
IM2COL_MIN_SPAN = 384


def _im2col_conv(lib: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, group: int,
                 geometry: tuple[int, ...], residual: np.ndarray | None = None, act: int = library.ACT_NONE,
                 alpha: float = 0.0, beta: float = 0.0) -> np.ndarray:
    """A dense (or large-group) convolution: the C im2col fills one block of columns at a time
    (all groups at once: group g's rows are a contiguous run), numpy's batched GEMM multiplies
    it by each group's weights straight into the output, and the C epilogue adds the bias and the
    residual (C-contiguous, of the output's shape) and applies the activation to that block while
    it is in cache."""
    h, wd, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo = geometry
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg, k, plane = c // group, m // group, kh * kw, ho * wo
    y = np.empty((n, group, mg, plane), dtype=np.float32)
    rows = max(1, min(ho, max(IM2COL_BLOCK_BYTES // (c * k * wo * 4), -(-IM2COL_MIN_SPAN // wo))))
    buf = np.empty(c * k * rows * wo, dtype=np.float32)
    wm = w.reshape(group, mg, cg * k)
    threads = library.threads()
    epilogue = b is not None or residual is not None or act != library.ACT_NONE
    for i in range(n):
        for r0 in range(0, ho, rows):
            r1 = min(ho, r0 + rows)
            span = (r1 - r0) * wo
            cols = buf[:c * k * span].reshape(group, cg * k, span)
            lib.ep_im2col_f32(x[i].ctypes.data, cols.ctypes.data, c, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, wo, r0, r1,
                              threads)
            np.matmul(wm, cols, out=y[i, :, :, r0 * wo:r1 * wo])
            if epilogue:
                offset = (i * m * plane + r0 * wo) * 4  # bytes: image i, first column of the block
                res = None if residual is None else residual.ctypes.data + offset
                lib.ep_bias_act_f32(y.ctypes.data + offset, plane, ptr(b), res, plane, m, span, act, alpha, beta,
                                    threads)
    return y.reshape((n, m) + ((wo,) if len(x.shape) == 3 else (ho, wo)))


def _frames_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, begin: Sequence[int], end: Sequence[int],
                 out: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> np.ndarray:
    """A one-input-channel convolution as W (M, K) @ frames (K, P) per image: the frames are a
    strided view of the padded input, copied once into GEMM order."""
    xp = reference.pad_spatial(x, begin, end)
    n, m = x.shape[0], w.shape[0]
    ks = w.shape[2:]
    sp = xp.strides[2:]
    view = as_strided(xp, shape=(n,) + tuple(out) + tuple(ks),
                      strides=(xp.strides[0],) + tuple(s * st for s, st in zip(sp, strides))
                      + tuple(s * d for s, d in zip(sp, dilations)), writeable=False)
    frames = view.reshape(n, prod(out), prod(ks))
    y = np.matmul(w.reshape(m, -1), frames.transpose(0, 2, 1))
    if b is not None:
        y += b.reshape(m, 1)
    return y.reshape((n, m) + tuple(out))


@native_kernel("Conv", 1, supports=_supports)
def Conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, auto_pad: str = "NOTSET",
         dilations: list[int] | None = None, group: int = 1, kernel_shape: list[int] | None = None,
         pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    geometry: dict[str, Any] = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                                    pads=pads, strides=strides)
    y = conv(x, w, b, **geometry)
    return reference.conv(x, w, b, **geometry) if y is None else y


#: fusion.FusedConv's activation names -> the C library's codes (alpha / beta passed as they are)
_EPILOGUE_CODES = {
    "": library.ACT_NONE, "Relu": library.ACT_RELU, "Clip": library.ACT_CLIP, "LeakyRelu": library.ACT_LEAKY_RELU,
    "Sigmoid": library.ACT_SIGMOID, "Tanh": library.ACT_TANH, "HardSigmoid": library.ACT_HARD_SIGMOID,
    "HardSwish": library.ACT_HARD_SWISH, "Swish": library.ACT_SWISH,
}


@native_kernel("FusedConv", 1, domain=fusion.DOMAIN)
def FusedConv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, z: np.ndarray | None = None,
              lo: np.ndarray | None = None, hi: np.ndarray | None = None, *, activation: str = "",
              activation_alpha: float = 0.0, activation_beta: float = 0.0,
              auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
              kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None) -> np.ndarray:
    """The native form of fusion.FusedConv: the input clip as numpy does it, then Conv + residual +
    activation (any of fusion.EPILOGUES) in one native pass; a convolution no native path serves
    (1x1, 3-D) runs numpy's Conv + residual, then the native activation in place."""
    geometry: dict[str, Any] = dict(auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                                    pads=pads, strides=strides)
    y = None
    if activation in _EPILOGUE_CODES:
        xc = x
        if lo is not None and hi is not None:
            xc = np.clip(x, lo, hi)
        elif lo is not None:
            xc = np.maximum(x, lo)
        elif hi is not None:
            xc = np.minimum(x, hi)
        y = conv(xc, w, b, z, _EPILOGUE_CODES[activation], activation_alpha, activation_beta, **geometry)
    if y is None:
        y = fusion.FusedConv(x, w, b, z, lo, hi, **geometry)
        code = _EPILOGUE_CODES.get(activation)
        if activation and (code is None or not activation_inplace(y, code, activation_alpha, activation_beta)):
            y = fusion.EPILOGUES[activation](y, activation_alpha, activation_beta)
    return y
