"""Resize (nearest and linear; cubic and antialias stay on the CPU) and Upsample.

For every resized axis the output coordinates are mapped back to input coordinates on the
host (`ep_runtime.op_shapes`), giving each output position a short row of input indices and
weights (nearest: one tap, linear: two). On the GPU a resize of the last two axes of a float
tensor is one launch of resize.cu's `resize_2d_taps` over those tables; otherwise (and in the
numpy stand-in) each axis is resampled with one `xp.take` per tap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, normalize_axes, prod
from ep_runtime.op_shapes import filter_taps, nearest_taps, source_coordinates
from ep_runtime.op_shapes import resize_output_geometry as output_geometry

from . import raw
from .registry import kernel


def _taps(mode: str, src: np.ndarray, in_len: int, nearest_mode: str, scale: float,
          exclude_outside: bool) -> tuple[np.ndarray, np.ndarray]:
    if mode == "nearest":
        idx = nearest_taps(src, in_len, nearest_mode, scale < 1)
        return idx, np.ones(idx.shape, dtype=np.float64)
    return filter_taps(src, in_len, "linear", scale, -0.75, False, exclude_outside)


def resize(x: Any, out_shape: Sequence[int], scales: Sequence[float], axes: Sequence[int], *,
           mode: str = "nearest", coordinate_transformation_mode: str = "half_pixel",
           nearest_mode: str = "round_prefer_floor", exclude_outside: int = 0, extrapolation_value: float = 0.0,
           roi: Sequence[float] | None = None, provider: Any = None) -> Any:
    if mode not in ("nearest", "linear"):
        raise ValueError(f"Resize: mode {mode!r} not supported on CUDA (nearest and linear are)")
    xp = get_array_module(x)
    rank = x.ndim
    crop = coordinate_transformation_mode == "tf_crop_and_resize"
    tables: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for axis in axes:
        in_len, out_len, scale = x.shape[axis], int(out_shape[axis]), float(scales[axis])
        axis_roi = (float(roi[axis]), float(roi[axis + rank])) if roi is not None else None
        if out_len == in_len and scale == 1.0 and (not crop or axis_roi in (None, (0.0, 1.0))):
            continue
        if out_len == 0 or in_len == 0:
            tables[axis] = (np.zeros((out_len, 1), np.int64), np.zeros((out_len, 1)), np.zeros(out_len))
            continue
        src = source_coordinates(coordinate_transformation_mode, out_len, in_len, scale, axis_roi)
        idx, w = _taps(mode, src, in_len, nearest_mode, scale, bool(exclude_outside))
        tables[axis] = (idx, w, src)
    if not tables:
        return xp.array(x, copy=True)
    shape_out = tuple(int(out_shape[a]) if a in tables else x.shape[a] for a in range(rank))
    if prod(shape_out) == 0 or x.size == 0:
        return xp.zeros(shape_out, dtype=x.dtype)
    two_d = rank >= 2 and set(tables) <= {rank - 2, rank - 1}
    if raw.use_raw(xp, provider) and two_d and not crop and x.dtype in (np.float32, np.float16):
        h, w = x.shape[-2:]
        oh, ow = shape_out[-2:]
        ident = (np.arange(h, dtype=np.int64)[:, None], np.ones((h, 1))), (np.arange(w, dtype=np.int64)[:, None],
                                                                         np.ones((w, 1)))
        iy, wy = tables[rank - 2][:2] if rank - 2 in tables else ident[0]
        ix, wx = tables[rank - 1][:2] if rank - 1 in tables else ident[1]
        xf = xp.ascontiguousarray(x, dtype=np.float32)
        y = xp.empty(shape_out, dtype=np.float32)
        dev = [xp.asarray(np.ascontiguousarray(a, dtype=t)) for a, t in
               ((iy, np.int64), (wy, np.float32), (ix, np.int64), (wx, np.float32))]
        raw.launch("resize.cu", "resize_2d_taps", y.size, xf, y, *map(raw.i64, (prod(x.shape[:-2]), h, w, oh, ow)),
                   dev[0], dev[1], raw.i64(iy.shape[1]), dev[2], dev[3], raw.i64(ix.shape[1]))
        return y.astype(x.dtype) if x.dtype != np.float32 else y
    work = x.astype(np.result_type(x.dtype, np.float32)) if x.dtype.kind == "f" else (
        x.astype(np.float64) if mode != "nearest" else x)
    for axis, (idx, w, src) in tables.items():
        shape = (-1,) + (1,) * (rank - axis - 1)
        out = None
        for k in range(idx.shape[1]):
            term = xp.take(work, xp.asarray(idx[:, k]), axis=axis)
            if mode != "nearest":
                term = term * xp.asarray(w[:, k].astype(work.dtype).reshape(shape))
            out = term if out is None else out + term
        work = out
        if crop:
            outside = (src < 0) | (src > x.shape[axis] - 1)
            if outside.any():
                mask = xp.asarray(outside.reshape(shape))
                work = xp.where(mask, work.dtype.type(extrapolation_value), work)
    if work.dtype == x.dtype:
        return xp.ascontiguousarray(work)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return xp.clip(xp.rint(work), info.min, info.max).astype(x.dtype)
    return work.astype(x.dtype)


def _optional(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    value = np.asarray(value)
    return None if value.size == 0 else value


def _resize_11(x: Any, roi: Any, scales: Any, sizes: Any, *, axes: Any = None,
               keep_aspect_ratio_policy: str = "stretch", provider: Any = None, **attrs: Any) -> Any:
    scales, sizes, roi = _optional(scales), _optional(sizes), _optional(roi)
    axes = list(normalize_axes(axes, x.ndim, "Resize")) if axes is not None else list(range(x.ndim))
    out, factors = output_geometry(x.shape, scales, sizes, axes, keep_aspect_ratio_policy)
    full_roi = None
    if roi is not None:
        if roi.size != 2 * len(axes):
            raise ValueError(f"Resize: roi has {roi.size} values, expected {2 * len(axes)}")
        r = roi.astype(np.float64).reshape(-1)
        full_roi = [0.0] * x.ndim + [1.0] * x.ndim
        for i, a in enumerate(axes):
            full_roi[a], full_roi[a + x.ndim] = r[i], r[i + len(axes)]
    return resize(x, out, factors, axes, roi=full_roi, provider=provider, **attrs)


def _supported(node: Any, graph: Any) -> str | None:
    mode = node.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        return f"Resize mode={mode} unsupported on CUDA"
    if node.attrs.get("antialias", 0):
        return "Resize antialias unsupported on CUDA"
    return None


def upsample(x: Any, scales: Any, mode: str, provider: Any = None, op: str = "Upsample") -> Any:
    scales = np.asarray(scales, dtype=np.float64).reshape(-1)
    if scales.size != x.ndim:
        raise ValueError(f"{op}: scales has {scales.size} values but the input has rank {x.ndim}")
    mode = "linear" if mode == "bilinear" else mode
    axes = list(range(x.ndim))
    out, factors = output_geometry(x.shape, scales, None, axes, op=op)
    return resize(x, out, factors, axes, mode=mode, coordinate_transformation_mode="asymmetric",
                  nearest_mode="simple", provider=provider)


@kernel("Resize", since=10, until=10, supports=_supported)
def Resize_10(x: Any, scales: Any, *, mode: str = "nearest", _provider: Any = None) -> Any:
    return upsample(x, scales, mode, _provider, "Resize")


@kernel("Upsample", since=9, supports=_supported)
def Upsample(x: Any, scales: Any, *, mode: str = "nearest", _provider: Any = None) -> Any:
    return upsample(x, scales, mode, _provider)


@kernel("Resize", since=11, until=17, supports=_supported)
def Resize_11(x: Any, roi: Any = None, scales: Any = None, sizes: Any = None, *,
              coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
              exclude_outside: int = 0, extrapolation_value: float = 0.0, mode: str = "nearest",
              nearest_mode: str = "round_prefer_floor", _provider: Any = None) -> Any:
    return _resize_11(x, roi, scales, sizes, coordinate_transformation_mode=coordinate_transformation_mode,
                      exclude_outside=exclude_outside, extrapolation_value=extrapolation_value, mode=mode,
                      nearest_mode=nearest_mode, provider=_provider)


@kernel("Resize", since=18, supports=_supported)
def Resize(x: Any, roi: Any = None, scales: Any = None, sizes: Any = None, *, antialias: int = 0,
           axes: list[int] | None = None, coordinate_transformation_mode: str = "half_pixel",
           cubic_coeff_a: float = -0.75, exclude_outside: int = 0, extrapolation_value: float = 0.0,
           keep_aspect_ratio_policy: str = "stretch", mode: str = "nearest",
           nearest_mode: str = "round_prefer_floor", _provider: Any = None) -> Any:
    if coordinate_transformation_mode == "tf_half_pixel_for_nn":
        raise ValueError("Resize: tf_half_pixel_for_nn was removed in Resize-18")
    return _resize_11(x, roi, scales, sizes, axes=axes, keep_aspect_ratio_policy=keep_aspect_ratio_policy,
                      coordinate_transformation_mode=coordinate_transformation_mode,
                      exclude_outside=exclude_outside, extrapolation_value=extrapolation_value, mode=mode,
                      nearest_mode=nearest_mode, provider=_provider)
