"""Pooling: MaxPool, AveragePool, their global forms and LpPool, over strided window views.

A pool is a short loop over kernel offsets (each a strided view of the padded input covering
all output positions) combined with np.maximum / np.add; never a loop over pixels. MaxPool, AveragePool
and the global pools are written against `xp`: the CUDA provider registers the same kernels over CuPy,
with its raw 1-D / 2-D pool as the device primitive "pool_2d".
"""

from __future__ import annotations

import numpy as np

from ep_runtime.array_module import device_primitive, get_array_module
from ep_runtime.op_shapes import avg_pool_counts, pool_geometry, prod, window_slices

from ._base import as_array, flat_windows
from .conv import pad_spatial
from .registry import kernel


def _lowest(dtype: np.dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    raise ValueError(f"MaxPool: unsupported dtype {dtype}")


def _flat_pool(x: np.ndarray, uf: np.ufunc, fill, kernel_shape, strides, dilations, begin, out) -> np.ndarray:
    """2-D pool over FlatWindows: `uf` (maximum or add) folds the taps over long contiguous runs,
    separably (rows, then columns) at stride 1. Returns the wide result (N, C, out_h, wq) as a
    view whose first out_w columns are the output."""
    n, c = x.shape[:2]
    (kh, kw), (dh, dw), (ho, wo) = kernel_shape, dilations, out
    fw = flat_windows(x, kernel_shape, strides, dilations, begin, out, fill)
    wq = fw.wq
    span = ho * wq
    if len(fw.taps) == 1:
        acc = fw.planes[:, 0, :, fw.taps[0][1]:fw.taps[0][1] + span]
    elif strides[0] == strides[1] == 1:
        plane = fw.planes[:, 0]
        rows = (ho + (kh - 1) * dh) * wq
        acc = plane[..., :rows]
        if kw > 1:
            acc = uf(acc, plane[..., dw:dw + rows])
            for j in range(2, kw):
                uf(acc, plane[..., j * dw:j * dw + rows], out=acc)
        if kh > 1:
            cols = acc
            acc = uf(cols[..., :span], cols[..., dh * wq:dh * wq + span])
            for i in range(2, kh):
                uf(acc, cols[..., i * dh * wq:i * dh * wq + span], out=acc)
    else:
        (p0, o0), (p1, o1) = fw.taps[:2]
        acc = uf(fw.planes[:, p0, :, o0:o0 + span], fw.planes[:, p1, :, o1:o1 + span])
        for p, o in fw.taps[2:]:
            uf(acc, fw.planes[:, p, :, o:o + span], out=acc)
    return acc.reshape(n, c, ho, wq)[..., :wo]


def _flat_ok(x: np.ndarray, kernel_shape, begin) -> bool:
    return (type(x) is np.ndarray and x.ndim == 4 and len(kernel_shape) == 2 and min(begin) >= 0
            and x.dtype.kind in "fiu")


def _device_pool(provider, x, name: str, *geometry) -> np.ndarray | None:
    """On a device array, the provider's primitive "pool_2d" (x, name, kernel_shape, strides, dilations,
    begin, end, out, count_include_pad -> y, or None where it does not take the case); None on numpy."""
    raw = None if type(x) is np.ndarray else device_primitive(provider, "pool_2d")
    return None if raw is None else raw(x, name, *geometry)


def max_pool(x: np.ndarray, *, kernel_shape, strides=None, dilations=None, pads=None, auto_pad="NOTSET",
             ceil_mode=0, storage_order=0, want_indices=False, provider=None):
    """Y, and the flat argmax Indices (row-major, or column-major over the spatial dims with
    storage_order=1) when `want_indices`."""
    strides, dilations, begin, end, end_buf, out = pool_geometry(
        x.shape, "MaxPool", kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    y = None if want_indices else _device_pool(provider, x, "max", kernel_shape, strides, dilations, begin, end,
                                                out, 0)
    if y is not None:
        return y, None
    if not want_indices and _flat_ok(x, kernel_shape, begin):
        return np.ascontiguousarray(_flat_pool(x, np.maximum, _lowest(x.dtype), kernel_shape, strides, dilations,
                                               begin, out)), None
    xp = np if type(x) is np.ndarray else get_array_module(x)
    xpad = pad_spatial(x, begin, end_buf, _lowest(x.dtype))
    lead = (slice(None), slice(None))
    offsets = list(np.ndindex(*kernel_shape))
    y = xpad[lead + window_slices(offsets[0], dilations, strides, out)].copy()
    best = xp.zeros(y.shape, dtype=np.int64) if want_indices else None
    for j, offs in enumerate(offsets[1:], start=1):
        v = xpad[lead + window_slices(offs, dilations, strides, out)]
        if best is None:
            xp.maximum(y, v, out=y)
        else:
            better = v > y
            xp.copyto(y, v, where=better)
            best[better] = j
    if best is None:
        return y, None
    nd = len(kernel_shape)
    ins = x.shape[2:]
    koffs = xp.asarray(np.array(offsets, dtype=np.int64))  # (K, nd)
    n, c = x.shape[:2]
    flat = xp.zeros(y.shape, dtype=np.int64)
    spatial_size = prod(ins)
    # coordinate of the max along each spatial axis, then the flat index
    coords = []
    for i in range(nd):
        pos = xp.arange(out[i], dtype=np.int64) * strides[i] - begin[i]
        pos = pos.reshape((out[i],) + (1,) * (nd - 1 - i))
        coords.append(pos + koffs[best, i] * dilations[i])
    if storage_order == 0:
        for i in range(nd):
            flat = flat * ins[i] + coords[i]
    else:
        for i in reversed(range(nd)):
            flat = flat * ins[i] + coords[i]
    base = (xp.arange(n * c, dtype=np.int64) * spatial_size).reshape((n, c) + (1,) * nd)
    return y, flat + base


def avg_pool(x: np.ndarray, *, kernel_shape, strides=None, dilations=None, pads=None, auto_pad="NOTSET",
             ceil_mode=0, count_include_pad=0, divide=True, provider=None) -> np.ndarray:
    """Mean (or with divide=False the sum) over each window; padded positions count only with
    `count_include_pad` (positions beyond the explicit pads, added by ceil_mode, never count)."""
    strides, dilations, begin, end, end_buf, out = pool_geometry(
        x.shape, "AveragePool", kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    y = None if not divide else _device_pool(provider, x, "avg", kernel_shape, strides, dilations, begin, end, out,
                                              int(bool(count_include_pad)))
    if y is not None:
        return y
    if _flat_ok(x, kernel_shape, begin) and x.dtype.kind == "f":
        wide = _flat_pool(x, np.add, 0, kernel_shape, strides, dilations, begin, out)
        if not divide:
            return np.ascontiguousarray(wide)
        y = np.empty(wide.shape, dtype=x.dtype)
        count = _avg_count(x, kernel_shape, strides, dilations, begin, end, out, count_include_pad)
        if count is None:
            np.multiply(wide, np.asarray(1.0 / prod(kernel_shape), dtype=x.dtype), out=y)
        else:
            np.divide(wide, count, out=y)
        return y
    xpad = pad_spatial(x, begin, end_buf)
    lead = (slice(None), slice(None))
    y = None
    for offs in np.ndindex(*kernel_shape):
        v = xpad[lead + window_slices(offs, dilations, strides, out)]
        if y is None:
            y = v.copy()
        else:
            y += v
    if not divide:
        return y
    count = _avg_count(x, kernel_shape, strides, dilations, begin, end, out, count_include_pad)
    if count is None:
        y *= y.dtype.type(1.0 / prod(kernel_shape))
    else:
        y /= count if type(y) is np.ndarray else get_array_module(y).asarray(count)
    return y


def _avg_count(x: np.ndarray, kernel_shape, strides, dilations, begin, end, out,
               count_include_pad) -> np.ndarray | None:
    """The number of counted taps per output position (broadcastable, x's dtype), None when every
    window counts the whole kernel."""
    count = avg_pool_counts(x.shape[2:], kernel_shape, strides, dilations, begin, end, out, count_include_pad)
    return None if count is None else count.astype(x.dtype)


# --------------------------------------------------------------------------- MaxPool


@kernel("MaxPool", since=1, until=7)
def MaxPool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, strides: list[int] | None = None, _provider=None) -> np.ndarray:
    return max_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
                    provider=_provider)[0]


@kernel("MaxPool", since=8, until=9, multi_output=True)
def MaxPool_8(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
              pads: list[int] | None = None, storage_order: int = 0, strides: list[int] | None = None,
              _num_outputs: int = 1, _provider=None) -> tuple[np.ndarray, ...]:
    y, idx = max_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
                      storage_order=storage_order, want_indices=_num_outputs > 1, provider=_provider)
    return (y,) if idx is None else (y, idx)


@kernel("MaxPool", since=10, multi_output=True)
def MaxPool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
            kernel_shape: list[int] | None = None, pads: list[int] | None = None, storage_order: int = 0,
            strides: list[int] | None = None, _num_outputs: int = 1, _provider=None) -> tuple[np.ndarray, ...]:
    y, idx = max_pool(x, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                      auto_pad=auto_pad, ceil_mode=ceil_mode, storage_order=storage_order,
                      want_indices=_num_outputs > 1, provider=_provider)
    return (y,) if idx is None else (y, idx)


# --------------------------------------------------------------------------- AveragePool


@kernel("AveragePool", since=1, until=6)
def AveragePool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None,
                  pads: list[int] | None = None, strides: list[int] | None = None, _provider=None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad, provider=_provider)


@kernel("AveragePool", since=7, until=9)
def AveragePool_7(x: np.ndarray, *, auto_pad: str = "NOTSET", count_include_pad: int = 0,
                  kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                  strides: list[int] | None = None, _provider=None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
                    count_include_pad=count_include_pad, provider=_provider)


@kernel("AveragePool", since=10, until=18)
def AveragePool_10(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                   kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                   strides: list[int] | None = None, _provider=None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad,
                    ceil_mode=ceil_mode, count_include_pad=count_include_pad, provider=_provider)


@kernel("AveragePool", since=19)
def AveragePool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                dilations: list[int] | None = None, kernel_shape: list[int] | None = None,
                pads: list[int] | None = None, strides: list[int] | None = None, _provider=None) -> np.ndarray:
    return avg_pool(x, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                    auto_pad=auto_pad, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                    provider=_provider)


# --------------------------------------------------------------------------- global and Lp pools


def _spatial_axes(x: np.ndarray, op: str) -> tuple[int, ...]:
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have rank >= 3 (N, C, spatial...), got shape {x.shape}")
    return tuple(range(2, x.ndim))


@kernel("GlobalAveragePool", since=1)
def GlobalAveragePool(x: np.ndarray) -> np.ndarray:
    return as_array(x.mean(axis=_spatial_axes(x, "GlobalAveragePool"), keepdims=True), x.dtype)


@kernel("GlobalMaxPool", since=1)
def GlobalMaxPool(x: np.ndarray) -> np.ndarray:
    return as_array(x.max(axis=_spatial_axes(x, "GlobalMaxPool"), keepdims=True))


def global_lp_pool(x: np.ndarray, p: float) -> np.ndarray:
    axes = _spatial_axes(x, "GlobalLpPool")
    return as_array(np.power(np.sum(np.power(np.abs(x), p), axis=axes, keepdims=True), 1.0 / p), x.dtype)


@kernel("GlobalLpPool", since=1)
def GlobalLpPool(x: np.ndarray, *, p: float = 2) -> np.ndarray:
    """(sum over the spatial dims of |x|^p)^(1/p); `p` is a float in version 1, an int from 2."""
    return global_lp_pool(x, p)


def lp_pool(x: np.ndarray, p: float, **geometry) -> np.ndarray:
    """(sum over the window of |x|^p)^(1/p), zero padding."""
    powered = np.power(np.abs(x), p).astype(x.dtype, copy=False)
    total = avg_pool(powered, divide=False, **geometry)
    return as_array(np.power(total, 1.0 / p), x.dtype)


@kernel("LpPool", since=1, until=17)
def LpPool_1(x: np.ndarray, *, auto_pad: str = "NOTSET", kernel_shape: list[int] | None = None, p: float = 2,
             pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    return lp_pool(x, p, kernel_shape=kernel_shape, strides=strides, pads=pads, auto_pad=auto_pad)


@kernel("LpPool", since=18)
def LpPool(x: np.ndarray, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: list[int] | None = None,
           kernel_shape: list[int] | None = None, p: int = 2, pads: list[int] | None = None,
           strides: list[int] | None = None) -> np.ndarray:
    return lp_pool(x, p, kernel_shape=kernel_shape, strides=strides, dilations=dilations, pads=pads,
                   auto_pad=auto_pad, ceil_mode=ceil_mode)


# --------------------------------------------------------------------------- MaxUnpool


@kernel("MaxUnpool", since=9)
def MaxUnpool(x: np.ndarray, indices: np.ndarray, output_shape: np.ndarray | None = None, *,
              kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None) -> np.ndarray:
    """Scatter the pooled values to their MaxPool argmax positions in a zero tensor.

    The indices address the unpadded unpool shape (in - 1) * stride + kernel - pads; a larger
    `output_shape` holds that block at its origin, the rest zero.
    """
    if kernel_shape is None:
        raise ValueError("MaxUnpool: the kernel_shape attribute is required")
    nd = len(kernel_shape)
    if x.ndim != nd + 2 or indices.shape != x.shape:
        raise ValueError(f"MaxUnpool: X {x.shape} and I {indices.shape} must have the same shape of rank {nd + 2}")
    st = list(strides) if strides is not None else [1] * nd
    pd = list(pads) if pads is not None else [0] * (2 * nd)
    inferred = list(x.shape[:2]) + [(i - 1) * s - (pd[a] + pd[a + nd]) + k
                                    for a, (i, s, k) in enumerate(zip(x.shape[2:], st, kernel_shape))]
    flat = np.zeros(prod(inferred), dtype=x.dtype)
    idx = indices.reshape(-1).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= flat.size):
        raise ValueError(f"MaxUnpool: indices must lie in [0, {flat.size}) for the unpooled shape {inferred}")
    flat[idx] = x.reshape(-1)
    y = flat.reshape(inferred)
    if output_shape is None:
        return y
    shape = [int(v) for v in np.asarray(output_shape).reshape(-1)]
    if len(shape) != x.ndim or any(s < i for s, i in zip(shape, inferred)):
        raise ValueError(f"MaxUnpool: output_shape {shape} must have rank {x.ndim} and hold {inferred}")
    if shape == inferred:
        return y
    out = np.zeros(shape, dtype=x.dtype)
    out[tuple(slice(0, i) for i in inferred)] = y
    return out


# --------------------------------------------------------------------------- RoI pooling


def _roi_axis_matrix(start: float, size: float, pooled: int, grid: int, length: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling along one axis of an RoI: per sample point (pooled, grid) the low / high
    pixel, their weights, and whether the point lies inside [-1, length]."""
    bin_size = size / pooled
    pts = start + np.arange(pooled)[:, None] * bin_size + (np.arange(grid)[None, :] + 0.5) * bin_size / grid
    valid = (pts >= -1.0) & (pts <= length)
    p = np.maximum(pts, 0.0)
    low = np.floor(p).astype(np.int64)
    at_end = low >= length - 1
    low = np.where(at_end, length - 1, low)
    high = np.where(at_end, length - 1, low + 1)
    frac = np.where(at_end, 0.0, p - low)
    w_low, w_high = (1 - frac) * valid, frac * valid
    return low, high, w_low, w_high, valid


def roi_align(x: np.ndarray, rois: np.ndarray, batch_indices: np.ndarray, *, mode: str, output_height: int,
              output_width: int, sampling_ratio: int, spatial_scale: float, half_pixel: bool) -> np.ndarray:
    """RoiAlign: per RoI, bilinear samples on a regular grid inside each bin, averaged or maxed.

    Averaging is separable: out = Ay @ X @ Ax^T with per-axis sampling matrices. Max takes the
    largest weighted corner of each sample, as onnxruntime does.
    """
    if x.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 4:
        raise ValueError(f"RoiAlign: need X (N, C, H, W) and rois (R, 4), got {x.shape} and {rois.shape}")
    bidx = np.asarray(batch_indices).reshape(-1).astype(np.int64)
    if bidx.size != rois.shape[0] or (bidx.size and (bidx.min() < 0 or bidx.max() >= x.shape[0])):
        raise ValueError(f"RoiAlign: batch_indices {bidx.tolist()} must give one image index in "
                         f"[0, {x.shape[0]}) per RoI")
    if mode not in ("avg", "max"):
        raise ValueError(f"RoiAlign: unknown mode {mode!r}; expected avg or max")
    n_rois, c = rois.shape[0], x.shape[1]
    h, w = x.shape[2:]
    work = np.result_type(x.dtype, np.float32)
    y = np.zeros((n_rois, c, output_height, output_width), dtype=work)
    offset = 0.5 if half_pixel else 0.0
    for r in range(n_rois):
        x0, y0, x1, y1 = (float(v) * spatial_scale - offset for v in rois[r])
        rw, rh = x1 - x0, y1 - y0
        if not half_pixel:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rh / output_height))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rw / output_width))
        ylo, yhi, wyl, wyh, vy = _roi_axis_matrix(y0, rh, output_height, gh, h)
        xlo, xhi, wxl, wxh, vx = _roi_axis_matrix(x0, rw, output_width, gw, w)
        img = x[bidx[r]].astype(work, copy=False)  # (C, H, W)
        if mode == "avg":
            ay = np.zeros((output_height, h))
            ax = np.zeros((output_width, w))
            rows = np.arange(output_height)[:, None]
            np.add.at(ay, (rows, ylo), wyl)
            np.add.at(ay, (rows, yhi), wyh)
            cols = np.arange(output_width)[:, None]
            np.add.at(ax, (cols, xlo), wxl)
            np.add.at(ax, (cols, xhi), wxh)
            y[r] = (ay.astype(work) @ img @ ax.T.astype(work)) / max(gh * gw, 1)
        else:
            # samples (PH, GH) x (PW, GW); a sample outside on either axis is 0
            best = None
            for yi, wy in ((ylo, wyl), (yhi, wyh)):
                for xi, wx in ((xlo, wxl), (xhi, wxh)):
                    v = img[:, yi[:, :, None, None], xi[None, None, :, :]]  # (C, PH, GH, PW, GW)
                    wt = (wy[:, :, None, None] * wx[None, None, :, :]).astype(work)
                    v = v * wt
                    best = v if best is None else np.maximum(best, v)
            y[r] = best.max(axis=(2, 4))
    return y.astype(x.dtype, copy=False)


@kernel("RoiAlign", since=10, until=15)
def RoiAlign_10(x: np.ndarray, rois: np.ndarray, batch_indices: np.ndarray, *, mode: str = "avg",
                output_height: int = 1, output_width: int = 1, sampling_ratio: int = 0,
                spatial_scale: float = 1.0) -> np.ndarray:
    """RoiAlign-10: pixel coordinates without the half-pixel shift (output_half_pixel)."""
    return roi_align(x, rois, batch_indices, mode=mode, output_height=output_height, output_width=output_width,
                     sampling_ratio=sampling_ratio, spatial_scale=spatial_scale, half_pixel=False)


@kernel("RoiAlign", since=16)
def RoiAlign(x: np.ndarray, rois: np.ndarray, batch_indices: np.ndarray, *,
             coordinate_transformation_mode: str = "half_pixel", mode: str = "avg", output_height: int = 1,
             output_width: int = 1, sampling_ratio: int = 0, spatial_scale: float = 1.0) -> np.ndarray:
    if coordinate_transformation_mode not in ("half_pixel", "output_half_pixel"):
        raise ValueError(f"RoiAlign: unknown coordinate_transformation_mode {coordinate_transformation_mode!r}; "
                         "expected half_pixel or output_half_pixel")
    return roi_align(x, rois, batch_indices, mode=mode, output_height=output_height, output_width=output_width,
                     sampling_ratio=sampling_ratio, spatial_scale=spatial_scale,
                     half_pixel=coordinate_transformation_mode == "half_pixel")


def _round_half_away(v: float) -> int:
    """C's round(): halves away from zero (numpy rounds them to even)."""
    return int(np.copysign(np.floor(abs(v) + 0.5), v))


@kernel("MaxRoiPool", since=1)
def MaxRoiPool(x: np.ndarray, rois: np.ndarray, *, pooled_shape: list[int] | None = None,
               spatial_scale: float = 1.0) -> np.ndarray:
    """Max over each of pooled_shape bins of every RoI (batch_index, x1, y1, x2, y2), rounded to pixels."""
    if pooled_shape is None or len(pooled_shape) != 2:
        raise ValueError("MaxRoiPool: the pooled_shape attribute (height, width) is required")
    if x.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"MaxRoiPool: need X (N, C, H, W) and rois (R, 5), got {x.shape} and {rois.shape}")
    ph, pw = pooled_shape
    h, w = x.shape[2:]
    y = np.zeros((rois.shape[0], x.shape[1], ph, pw), dtype=x.dtype)

    def bins(start: int, end: int, pooled: int, length: int) -> np.ndarray:
        size = max(end - start + 1, 1) / pooled
        p = np.arange(pooled)
        lo = np.clip(np.floor(p * size).astype(np.int64) + start, 0, length)
        hi = np.clip(np.ceil((p + 1) * size).astype(np.int64) + start, 0, length)
        pix = np.arange(length)
        return (pix[None, :] >= lo[:, None]) & (pix[None, :] < hi[:, None])  # (pooled, length)

    low = _lowest(x.dtype)
    for r in range(rois.shape[0]):
        b = int(rois[r, 0])
        if not 0 <= b < x.shape[0]:
            raise ValueError(f"MaxRoiPool: RoI {r} has batch index {b} outside [0, {x.shape[0]})")
        x1, y1, x2, y2 = (_round_half_away(float(v) * spatial_scale) for v in rois[r, 1:])
        my, mx = bins(y1, y2, ph, h), bins(x1, x2, pw, w)
        img = x[b]  # (C, H, W)
        rows = np.where(my[None, :, :, None], img[:, None, :, :], low).max(axis=2)  # (C, PH, W)
        cols = np.where(mx[None, None, :, :], rows[:, :, None, :], low).max(axis=3)  # (C, PH, PW)
        empty = ~(my.any(axis=1)[:, None] & mx.any(axis=1)[None, :])
        y[r] = np.where(empty[None], 0, cols)
    return y
