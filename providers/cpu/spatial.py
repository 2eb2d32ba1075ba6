"""Spatial rearrangement: DepthToSpace, SpaceToDepth, CenterCropPad and Col2Im.

The block rearrangements are one reshape, one transpose and one reshape; Col2Im adds the
columns of each kernel offset into a strided view of the padded image (loop over offsets only).
"""

from __future__ import annotations

import numpy as np

from ep_runtime.op_shapes import ints, normalize_axes, prod

from .registry import kernel


def _check_blocks(x: np.ndarray, blocksize: int | None, op: str) -> int:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")
    if blocksize is None or blocksize < 1:
        raise ValueError(f"{op}: blocksize must be a positive int, got {blocksize}")
    return blocksize


def depth_to_space(x: np.ndarray, blocksize: int | None, mode: str) -> np.ndarray:
    """Move blocks of channels into b x b spatial blocks: DCR (depth-column-row) or CRD order."""
    b = _check_blocks(x, blocksize, "DepthToSpace")
    n, c, h, w = x.shape
    if c % (b * b):
        raise ValueError(f"DepthToSpace: {c} channels are not divisible by blocksize^2 = {b * b}")
    if mode == "DCR":
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    elif mode == "CRD":
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        raise ValueError(f"DepthToSpace: unknown mode {mode!r}; expected DCR or CRD")
    return y.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth(x: np.ndarray, blocksize: int | None, mode: str) -> np.ndarray:
    """Move b x b spatial blocks into channels; the inverse of DepthToSpace in the same mode."""
    b = _check_blocks(x, blocksize, "SpaceToDepth")
    n, c, h, w = x.shape
    if h % b or w % b:
        raise ValueError(f"SpaceToDepth: spatial shape {(h, w)} is not divisible by blocksize {b}")
    t = x.reshape(n, c, h // b, b, w // b, b)
    if mode == "DCR":
        t = t.transpose(0, 3, 5, 1, 2, 4)
    elif mode == "CRD":
        t = t.transpose(0, 1, 3, 5, 2, 4)
    else:
        raise ValueError(f"SpaceToDepth: unknown mode {mode!r}; expected DCR or CRD")
    return t.reshape(n, c * b * b, h // b, w // b)


@kernel("DepthToSpace", since=1, until=10, attributes={"blocksize": None})
@kernel("DepthToSpace", since=11)
def DepthToSpace(x: np.ndarray, *, blocksize: int | None = None, mode: str = "DCR") -> np.ndarray:
    """DepthToSpace-11 adds `mode`; before, the order is DCR."""
    return depth_to_space(x, blocksize, mode)


@kernel("SpaceToDepth", since=1, until=27, attributes={"blocksize": None})
@kernel("SpaceToDepth", since=28)
def SpaceToDepth(x: np.ndarray, *, blocksize: int | None = None, mode: str = "DCR") -> np.ndarray:
    """SpaceToDepth-28 adds `mode` (DCR or CRD); before, the order is DCR."""
    return space_to_depth(x, blocksize, mode)


@kernel("CenterCropPad", since=18)
def CenterCropPad(x: np.ndarray, shape: np.ndarray, *, axes: list[int] | None = None) -> np.ndarray:
    """Center crop or zero-pad `axes` to `shape`; an odd difference puts the extra element at the end."""
    axes_n = normalize_axes(axes, x.ndim, "CenterCropPad") if axes is not None else tuple(range(x.ndim))
    target = ints(shape)
    if len(target) != len(axes_n):
        raise ValueError(f"CenterCropPad: shape has {len(target)} values for {len(axes_n)} axes")
    out_shape = list(x.shape)
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    for a, t in zip(axes_n, target):
        if t < 0:
            raise ValueError(f"CenterCropPad: target sizes must be non-negative, got {target}")
        d = x.shape[a]
        out_shape[a] = t
        if t < d:
            start = (d - t) // 2
            src[a] = slice(start, start + t)
        elif t > d:
            start = (t - d) // 2
            dst[a] = slice(start, start + d)
    y = np.zeros(out_shape, dtype=x.dtype)
    y[tuple(dst)] = x[tuple(src)]
    return y


@kernel("Col2Im", since=18)
def Col2Im(x: np.ndarray, image_shape: np.ndarray, block_shape: np.ndarray, *,
           dilations: list[int] | None = None, pads: list[int] | None = None,
           strides: list[int] | None = None) -> np.ndarray:
    """Rearrange columns (N, C * prod(block), L) into images (N, C, *image_shape), summing overlaps."""
    image = ints(image_shape)
    block = ints(block_shape)
    nd = len(image)
    if len(block) != nd or x.ndim != 3:
        raise ValueError(f"Col2Im: need a 3-D input and image_shape / block_shape of equal length, got "
                         f"input {x.shape}, image_shape {image}, block_shape {block}")
    dil = list(dilations) if dilations is not None else [1] * nd
    st = list(strides) if strides is not None else [1] * nd
    pd = list(pads) if pads is not None else [0] * (2 * nd)
    if len(dil) != nd or len(st) != nd or len(pd) != 2 * nd:
        raise ValueError(f"Col2Im: dilations/strides need {nd} values and pads {2 * nd}")
    k = prod(block)
    n, ck, length = x.shape
    if k == 0 or ck % k:
        raise ValueError(f"Col2Im: input dimension 1 ({ck}) is not divisible by prod(block_shape) = {k}")
    cols = [(i + pd[a] + pd[a + nd] - d * (b - 1) - 1) // s + 1
            for a, (i, b, d, s) in enumerate(zip(image, block, dil, st))]
    if any(c < 1 for c in cols) or prod(cols) != length:
        raise ValueError(f"Col2Im: input has {length} blocks but image_shape {image}, block_shape {block}, "
                         f"pads, strides and dilations give {cols} = {prod(cols)}")
    c = ck // k
    data = x.reshape((n, c) + tuple(block) + tuple(cols))
    padded = [i + pd[a] + pd[a + nd] for a, i in enumerate(image)]
    buf = np.zeros((n, c) + tuple(padded), dtype=x.dtype)
    for offs in np.ndindex(*block):
        dst = tuple(slice(o * d, o * d + (m - 1) * s + 1, s) for o, d, m, s in zip(offs, dil, cols, st))
        buf[(slice(None), slice(None)) + dst] += data[(slice(None), slice(None)) + offs]
    crop = tuple(slice(pd[a], pd[a] + i) for a, i in enumerate(image))
    return np.ascontiguousarray(buf[(slice(None), slice(None)) + crop])
