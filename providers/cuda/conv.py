"""Convolutions. Conv is im2col + one batched GEMM over groups (cuBLAS through `xp.matmul`): on the
GPU the columns come from the raw kernel `im2col_2d` (conv.cu), which reads padding as zeros
without a padded copy; its xp form (CI's numpy stand-in, N-D convs) builds them from strided
views of the padded input, one per kernel offset. 1x1 convs skip im2col. ConvTranspose is the CPU
provider's kernel (providers/cpu/conv.py, written against `xp`): W^T @ X (GEMM) then col2im as one
strided add per kernel offset.

Conv stays CUDA's own: the CPU's numpy Conv is built around numpy-only fast paths (flat windows,
row-blocked im2col sized for the CPU cache) and native overrides, where CUDA's is shaped by its raw
im2col launcher.

float16 is computed in float32 and rounded once, as the CPU provider does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, prod, window_slices
from ep_runtime.op_shapes import (
    check_conv_shapes,
    conv_channels,
    spatial_pads,
)
from providers.cpu import conv as cpu
from providers.cpu.conv import pad_spatial

from . import raw
from .registry import FLOATS, kernel, share

#: above this many bytes the column buffer is built and multiplied one image at a time
COLS_BLOCK_BYTES = 256 << 20


def im2col(xp: Any, x: Any, ks: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
           begin: Sequence[int], end: Sequence[int], out: Sequence[int], provider: Any = None) -> Any:
    """Columns (N, C * K, P) of `x` for a sliding window: row c * K + k holds, for every output
    position p, the input under kernel offset k of channel c (zero in the padding)."""
    n, c = x.shape[:2]
    k, p = prod(ks), prod(out)
    if raw.use_raw(xp, provider) and x.dtype == np.float32 and len(ks) <= 2:
        ks2, st2, dl2, bg2, out2 = ([1] * (2 - len(ks)) + list(v) for v in (ks, strides, dilations, begin, out))
        ins2 = [1] * (2 - len(ks)) + list(x.shape[2:])
        xc = xp.ascontiguousarray(x)
        cols = xp.empty((n, c * k, p), dtype=x.dtype)
        raw.launch("conv.cu", "im2col_2d", cols.size, xc, cols, *map(raw.i64, (
            n * c, ins2[0], ins2[1], ks2[0], ks2[1], st2[0], st2[1], dl2[0], dl2[1], bg2[0], bg2[1],
            out2[0], out2[1])))
        return cols
    xpad = pad_spatial(x, begin, end)
    cols = xp.empty((n, c, k) + tuple(out), dtype=x.dtype)
    for j, offs in enumerate(itertools.product(*(range(s) for s in ks))):
        cols[:, :, j] = xpad[(slice(None), slice(None)) + window_slices(offs, dilations, strides, out)]
    return cols.reshape(n, c * k, p)


def conv(x: Any, w: Any, b: Any = None, *, auto_pad: str = "NOTSET", dilations: Sequence[int] | None = None,
         group: int = 1, kernel_shape: Sequence[int] | None = None, pads: Sequence[int] | None = None,
         strides: Sequence[int] | None = None, provider: Any = None) -> Any:
    """N-D convolution (NCHW...), any group count (depthwise included)."""
    xp = get_array_module(x, w)
    if x.dtype == np.float16:
        y = conv(x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32),
                 auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape, pads=pads,
                 strides=strides, provider=provider)
        return y.astype(np.float16)
    nd = check_conv_shapes(x.shape, w.shape, group, kernel_shape, "Conv")
    n, c = x.shape[:2]
    m, cg = conv_channels(x.shape, w.shape, None if b is None else b.shape, group)
    ks = tuple(w.shape[2:])
    strides = list(strides) if strides is not None else [1] * nd
    dilations = list(dilations) if dilations is not None else [1] * nd
    begin, end, out = spatial_pads(x.shape[2:], ks, strides, dilations, pads, auto_pad, "Conv")
    g, mg, k, p = group, m // group, prod(ks), prod(out)
    if w.dtype != x.dtype:
        w = w.astype(x.dtype)
    wm = w.reshape(g, mg, cg * k)
    if k == 1 and not any(begin) and not any(end):
        xs = x
        if any(s != 1 for s in strides):
            xs = x[(Ellipsis,) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, strides))]
        y = xp.matmul(wm, xs.reshape(n, g, cg, p))
    else:
        per_image = c * k * p * x.dtype.itemsize
        step = max(1, COLS_BLOCK_BYTES // max(per_image, 1))
        if step >= n:
            y = xp.matmul(wm, im2col(xp, x, ks, strides, dilations, begin, end, out, provider).reshape(n, g, cg * k, p))
        else:
            y = xp.empty((n, g, mg, p), dtype=x.dtype)
            for i in range(0, n, step):
                cols = im2col(xp, x[i:i + step], ks, strides, dilations, begin, end, out, provider)
                y[i:i + step] = xp.matmul(wm, cols.reshape(-1, g, cg * k, p))
    y = y.reshape((n, m) + tuple(out))
    if b is not None:
        y += b.astype(y.dtype).reshape((m,) + (1,) * nd)
    return y


@kernel("Conv", since=1, dtypes=FLOATS)
def Conv(x: Any, w: Any, b: Any = None, *, auto_pad: str = "NOTSET", dilations: list[int] | None = None,
         group: int = 1, kernel_shape: list[int] | None = None, pads: list[int] | None = None,
         strides: list[int] | None = None, _provider: Any = None) -> Any:
    return conv(x, w, b, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                pads=pads, strides=strides, provider=_provider)


share("ConvTranspose", cpu.ConvTranspose, dtypes=FLOATS)
