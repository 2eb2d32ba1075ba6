"""Convolutions: Conv as im2col + one batched BLAS matmul over groups, ConvTranspose as matmul + col2im.

Loops run over kernel offsets only (9 for a 3x3 kernel), never over pixels: each offset is a
strided view of the padded input covering every output position at once. 2-D depthwise and
few-channel convolutions use the flat layout of `_base.flat_windows` instead, where each offset
is one contiguous run (copies at memcpy speed, a few discarded columns per row).
"""

from __future__ import annotations

from collections.abc import Sequence

import ml_dtypes
import numpy as np

from ep_runtime.array_module import get_array_module
from ep_runtime.op_shapes import (
    check_conv_shapes,
    conv_channels,
    conv_transpose_channels,
    conv_transpose_geometry,
    prod,
    spatial_pads,
    window_slices,
)

from ._base import flat_windows
from .registry import kernel


def pad_spatial(x: np.ndarray, begin: Sequence[int], end: Sequence[int], value: float = 0) -> np.ndarray:
    """`x` with its trailing len(begin) axes padded by a constant (a new array; `x` if no padding)."""
    if not any(begin) and not any(end):
        return x
    nd = len(begin)
    lead = x.shape[: x.ndim - nd]
    shape = lead + tuple(n + b + e for n, b, e in zip(x.shape[x.ndim - nd:], begin, end))
    am = np if type(x) is np.ndarray else get_array_module(x)
    padded = am.full(shape, value, dtype=x.dtype) if value != 0 else am.zeros(shape, dtype=x.dtype)
    inner = tuple(slice(b, b + n) for b, n in zip(begin, x.shape[x.ndim - nd:]))
    padded[(Ellipsis,) + inner] = x
    return padded


#: float16 and bfloat16: products are summed in float32 and rounded once, as the reference does
HALF_TYPES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))

#: Above this many bytes the im2col buffer is built and multiplied in blocks of output rows.
IM2COL_BLOCK_BYTES = 8 << 20


def _im2col(xp: np.ndarray, g: int, ks: Sequence[int], dilations: Sequence[int], strides: Sequence[int],
            out: Sequence[int], row0: int, row1: int) -> np.ndarray:
    """Columns (N, g, C/g * K, P) of the padded input for output rows row0..row1 (first spatial axis)."""
    n, c = xp.shape[:2]
    blk = [row1 - row0] + list(out[1:])
    k = prod(ks)
    cols = np.empty((n, g, c // g, k) + tuple(blk), dtype=xp.dtype)
    for j, offs in enumerate(np.ndindex(*ks)):
        sl = window_slices(offs, dilations, strides, blk)
        first = sl[0]
        sl = (slice(first.start + row0 * strides[0], first.stop + row0 * strides[0], first.step),) + sl[1:]
        cols[:, :, :, j] = xp[(slice(None), slice(None)) + sl].reshape((n, g, c // g) + tuple(blk))
    return cols.reshape(n, g, (c // g) * k, prod(blk))


#: The flat (wide-row) 2-D path builds its columns in blocks of about this many bytes ...
FLAT_BLOCK_BYTES = 4 << 20
#: ... but of at least this many output positions, so each matmul stays efficient.
FLAT_MIN_BLOCK = 1024
#: The flat path computes (wq - wo) discarded columns per row and saves im2col's short strided
#: copies. The saving matters against the matmul only for few output channels per group
#: (measured: 25% faster at 32 per group on 7x7 to 28x28 maps, even at 64-256): depthwise always.
FLAT_MAX_CHANNELS = 48
FLAT_MAX_WASTE = 12


def _use_flat(mg: int, ks: Sequence[int], strides: Sequence[int], dilations: Sequence[int], out: Sequence[int],
              begin: Sequence[int]) -> bool:
    if len(ks) != 2 or min(begin) < 0:
        return False
    extra = (ks[1] - 1) * dilations[1] // strides[1]
    return mg == 1 or (mg <= FLAT_MAX_CHANNELS and mg * extra <= FLAT_MAX_WASTE * out[1])


def _conv2d_flat(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: int, strides: Sequence[int],
                 dilations: Sequence[int], begin: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """2-D Conv over FlatWindows: each tap's columns are contiguous copies; the wide result rows are
    cropped to the output while the bias is added (one pass)."""
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    ks = w.shape[2:]
    k, mg = prod(ks), m // g
    ho, wo = out
    fw = flat_windows(x, ks, strides, dilations, begin, out)
    wq = fw.wq
    wm = w.reshape(g, mg, cg * k)
    rows = max(1, FLAT_BLOCK_BYTES // max(1, n * c * k * wq * x.dtype.itemsize), -(-FLAT_MIN_BLOCK // wq))
    rows = min(ho, rows)
    cols = np.empty((n, c, k, rows * wq), dtype=x.dtype)
    y = np.empty((n, m, ho, wo), dtype=x.dtype)
    bias = None if b is None else b.astype(x.dtype, copy=False).reshape(m, 1, 1)
    for r0 in range(0, ho, rows):
        r1 = min(ho, r0 + rows)
        span = (r1 - r0) * wq
        blk = cols if r1 - r0 == rows else cols[..., :span]
        for t, (p, off) in enumerate(fw.taps):
            blk[:, :, t] = fw.planes[:, p, :, off + r0 * wq:off + r0 * wq + span]
        wide = np.matmul(wm, blk.reshape(n, g, cg * k, span)).reshape(n, m, r1 - r0, wq)[..., :wo]
        if bias is None:
            y[:, :, r0:r1] = wide
        else:
            np.add(wide, bias, out=y[:, :, r0:r1])
    return y


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, auto_pad: str = "NOTSET",
         dilations: Sequence[int] | None = None, group: int = 1, kernel_shape: Sequence[int] | None = None,
         pads: Sequence[int] | None = None, strides: Sequence[int] | None = None) -> np.ndarray:
    """N-D convolution (NCHW...), any group count, in the input's dtype (half types accumulate in float32)."""
    if x.dtype in HALF_TYPES:
        y = conv(x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32),
                 auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape, pads=pads,
                 strides=strides)
        return y.astype(x.dtype)
    nd = check_conv_shapes(x.shape, w.shape, group, kernel_shape, "Conv")
    n, c = x.shape[:2]
    m, cg = conv_channels(x.shape, w.shape, None if b is None else b.shape, group)
    ks = w.shape[2:]
    strides = list(strides) if strides is not None else [1] * nd
    dilations = list(dilations) if dilations is not None else [1] * nd
    begin, end, out = spatial_pads(x.shape[2:], ks, strides, dilations, pads, auto_pad, "Conv")
    g, mg, k = group, m // group, prod(ks)
    p = prod(out)
    if w.dtype != x.dtype:
        w = w.astype(x.dtype)

    if not (k == 1 and not any(begin) and not any(end)) and _use_flat(m // group, ks, strides, dilations, out, begin):
        return _conv2d_flat(x, w, b, group, strides, dilations, begin, out)
    if k == 1 and not any(begin) and not any(end):
        # 1x1: a plain matmul over channels (strided inputs subsampled first)
        xs = x
        if any(s != 1 for s in strides):
            xs = x[(Ellipsis,) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, strides))]
        y = np.matmul(w.reshape(g, mg, cg), xs.reshape(n, g, cg, p))
    elif cg == 1:
        # depthwise (one input channel per group): accumulate kernel offsets, no im2col
        xp = pad_spatial(x, begin, end)
        wk = w.reshape(g, mg, k)
        y = None
        for j, offs in enumerate(np.ndindex(*ks)):
            v = xp[(slice(None), slice(None)) + window_slices(offs, dilations, strides, out)]
            term = v.reshape(n, g, 1, p) * wk[:, :, j, None]
            if y is None:
                y = term
            else:
                y += term
    else:
        xp = pad_spatial(x, begin, end)
        wm = w.reshape(g, mg, cg * k)
        # im2col in blocks of output rows so the column buffer stays cache-sized
        row_bytes = n * c * k * prod(out[1:]) * x.dtype.itemsize
        step = max(1, IM2COL_BLOCK_BYTES // max(row_bytes, 1))
        if step >= out[0]:
            y = np.matmul(wm, _im2col(xp, g, ks, dilations, strides, out, 0, out[0]))
        else:
            y = np.empty((n, g, mg, out[0], prod(out[1:])), dtype=x.dtype)
            for r0 in range(0, out[0], step):
                r1 = min(out[0], r0 + step)
                blk = np.matmul(wm, _im2col(xp, g, ks, dilations, strides, out, r0, r1))
                y[:, :, :, r0:r1] = blk.reshape(n, g, mg, r1 - r0, -1)
    y = y.reshape((n, m) + tuple(out))
    if b is not None:
        y += b.astype(y.dtype, copy=False).reshape((m,) + (1,) * nd)
    return y


@kernel("Conv", since=1)
def Conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, auto_pad: str = "NOTSET",
         dilations: list[int] | None = None, group: int = 1, kernel_shape: list[int] | None = None,
         pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    return conv(x, w, b, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                pads=pads, strides=strides)


def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, auto_pad: str = "NOTSET",
                   dilations: Sequence[int] | None = None, group: int = 1,
                   kernel_shape: Sequence[int] | None = None, output_padding: Sequence[int] | None = None,
                   output_shape: Sequence[int] | None = None, pads: Sequence[int] | None = None,
                   strides: Sequence[int] | None = None) -> np.ndarray:
    """Transposed convolution: per group W^T @ X gives the columns, col2im adds them into place. Written
    against `xp` (numpy, or CuPy for the CUDA provider, which registers the same kernel)."""
    xp = np if type(x) is np.ndarray else get_array_module(x, w)
    if x.dtype in HALF_TYPES:
        y = conv_transpose(x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32),
                           auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                           output_padding=output_padding, output_shape=output_shape, pads=pads, strides=strides)
        return y.astype(x.dtype)
    nd = check_conv_shapes(x.shape, w.shape, group, kernel_shape, "ConvTranspose")
    n, c = x.shape[:2]
    m, mg, cg = conv_transpose_channels(x.shape, w.shape, None if b is None else b.shape, group)
    g = group
    ks = tuple(w.shape[2:])
    ins = tuple(x.shape[2:])
    geo = conv_transpose_geometry(ins, ks, strides, dilations, output_padding, output_shape, pads, auto_pad)
    out = geo.out
    if w.dtype != x.dtype:
        w = w.astype(x.dtype)

    k = prod(ks)
    wt = w.reshape(g, cg, mg * k).transpose(0, 2, 1)  # (g, mg*k, cg)
    cols = xp.matmul(wt, x.reshape(n, g, cg, prod(ins)))  # (n, g, mg*k, P_in)
    cols = cols.reshape((n, g, mg) + ks + ins)
    size = tuple(geo.size)
    bias = None if b is None else b.astype(x.dtype, copy=False).reshape((g, mg) + (1,) * nd)
    lead = (slice(None), slice(None), slice(None))
    # stride == kernel, taps adjacent (e.g. 2x2 stride 2): every output position gets exactly one
    # tap, so each tap is written in place (with the bias) and nothing is zeroed or accumulated
    tiled = size == tuple(i * st for i, st in zip(ins, geo.strides)) and all(
        st == kk and (d == 1 or kk == 1) for st, kk, d in zip(geo.strides, ks, geo.dilations))
    buf = xp.empty((n, g, mg) + size, dtype=x.dtype) if tiled else xp.zeros((n, g, mg) + size, dtype=x.dtype)
    for offs in np.ndindex(*ks):
        dst = buf[lead + geo.scatter_slices(offs, ins)]
        src = cols[lead + offs]
        if not tiled:
            dst += src
        elif bias is None:
            dst[...] = src
        else:
            xp.add(src, bias, out=dst)
    crop = geo.crop
    whole = all(c.start == 0 and c.stop == sz for c, sz in zip(crop, size))
    if whole:
        if bias is not None and not tiled:
            buf += bias
        return buf.reshape((n, m) + tuple(out))
    if bias is None or tiled:
        return xp.ascontiguousarray(buf[lead + crop]).reshape((n, m) + tuple(out))
    return xp.add(buf[lead + crop], bias).reshape((n, m) + tuple(out))


@kernel("ConvTranspose", since=1)
def ConvTranspose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, auto_pad: str = "NOTSET",
                  dilations: list[int] | None = None, group: int = 1, kernel_shape: list[int] | None = None,
                  output_padding: list[int] | None = None, output_shape: list[int] | None = None,
                  pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    return conv_transpose(x, w, b, auto_pad=auto_pad, dilations=dilations, group=group,
                          kernel_shape=kernel_shape, output_padding=output_padding,
                          output_shape=output_shape, pads=pads, strides=strides)


# --------------------------------------------------------------------------- DeformConv


def _bilinear_corners(pos: list[np.ndarray], shape: tuple[int, ...]):
    """For sample positions (one array per spatial axis), yield (indices, weight) per corner of
    the enclosing cell; corners outside the input get weight 0 (zero padding)."""
    lows = [np.floor(p) for p in pos]
    fracs = [p - lo for p, lo in zip(pos, lows)]
    for corner in np.ndindex(*(2,) * len(pos)):
        idx, weight = [], None
        for lo, fr, bit, n in zip(lows, fracs, corner, shape):
            i = lo + bit
            wi = (fr if bit else 1 - fr) * ((i >= 0) & (i < n))
            weight = wi if weight is None else weight * wi
            idx.append(np.clip(i, 0, n - 1).astype(np.intp))
        yield idx, weight


def deform_conv(x: np.ndarray, w: np.ndarray, offset: np.ndarray, b: np.ndarray | None, mask: np.ndarray | None, *,
                dilations: Sequence[int] | None = None, group: int = 1, kernel_shape: Sequence[int] | None = None,
                offset_group: int = 1, pads: Sequence[int] | None = None,
                strides: Sequence[int] | None = None) -> np.ndarray:
    """Deformable convolution: each kernel tap samples the input (bilinearly, zero outside) at its
    regular position plus a learned offset, scaled by the optional mask; then a grouped matmul."""
    nd = check_conv_shapes(x.shape, w.shape, group, kernel_shape, "DeformConv")
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    ks = tuple(w.shape[2:])
    k = prod(ks)
    if c != cg * group or m % group:
        raise ValueError(f"DeformConv: X has {c} channels; W of shape {w.shape} with group={group} does not fit")
    if offset_group < 1 or c % offset_group:
        raise ValueError(f"DeformConv: {c} channels are not divisible by offset_group={offset_group}")
    st = list(strides) if strides is not None else [1] * nd
    dil = list(dilations) if dilations is not None else [1] * nd
    pd = list(pads) if pads is not None else [0] * (2 * nd)
    _, _, out = spatial_pads(x.shape[2:], ks, st, dil, pd, "NOTSET", "DeformConv")
    og = offset_group
    if offset.shape != (n, og * k * nd) + tuple(out):
        raise ValueError(f"DeformConv: offset must have shape {(n, og * k * nd) + tuple(out)}, got {offset.shape}")
    if mask is not None and mask.shape != (n, og * k) + tuple(out):
        raise ValueError(f"DeformConv: mask must have shape {(n, og * k) + tuple(out)}, got {mask.shape}")
    if b is not None and b.shape != (m,):
        raise ValueError(f"DeformConv: bias B must have shape ({m},), got {b.shape}")
    work = np.result_type(x.dtype, np.float32)
    off = offset.astype(np.float64).reshape((n, og, k, nd) + tuple(out))
    msk = mask.astype(work).reshape((n, og, k) + tuple(out)) if mask is not None else None
    xg = x.astype(work, copy=False).reshape((n, og, c // og) + x.shape[2:])
    # regular sampling grid of every output position, per spatial axis: (out...) broadcastable
    base = [(np.arange(o) * s - pd[a]).reshape((o,) + (1,) * (nd - 1 - a)) for a, (o, s) in enumerate(zip(out, st))]
    bi = np.arange(n).reshape((n, 1) + (1,) * nd)
    gi = np.arange(og).reshape((1, og) + (1,) * nd)
    cols = np.zeros((n, og, c // og, k) + tuple(out), dtype=work)
    for j, taps in enumerate(np.ndindex(*ks)):
        pos = [base[a] + taps[a] * dil[a] + off[:, :, j, a] for a in range(nd)]  # each (N, OG, out...)
        acc = None
        for idx, weight in _bilinear_corners(pos, x.shape[2:]):
            vals = xg[(bi, gi, slice(None)) + tuple(idx)]  # (N, OG, out..., C/OG)
            term = vals * weight.astype(work)[..., None]
            acc = term if acc is None else acc + term
        if msk is not None:
            acc = acc * msk[:, :, j][..., None]
        cols[:, :, :, j] = np.moveaxis(acc, -1, 2)
    p = prod(out)
    cols = cols.reshape(n, group, cg * k, p)
    y = np.matmul(w.astype(work).reshape(group, m // group, cg * k), cols).reshape((n, m) + tuple(out))
    if b is not None:
        y += b.astype(work).reshape((m,) + (1,) * nd)
    return y.astype(x.dtype, copy=False)


@kernel("DeformConv", since=19)
def DeformConv(x: np.ndarray, w: np.ndarray, offset: np.ndarray, b: np.ndarray | None = None,
               mask: np.ndarray | None = None, *, dilations: list[int] | None = None, group: int = 1,
               kernel_shape: list[int] | None = None, offset_group: int = 1, pads: list[int] | None = None,
               strides: list[int] | None = None) -> np.ndarray:
    return deform_conv(x, w, offset, b, mask, dilations=dilations, group=group, kernel_shape=kernel_shape,
                       offset_group=offset_group, pads=pads, strides=strides)
