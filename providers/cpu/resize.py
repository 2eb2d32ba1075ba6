"""Resize and Upsample: separable resampling, one axis at a time.

For every resized axis the output coordinates are mapped back to input coordinates
(`coordinate_transformation_mode`), and each output position gets a short row of input
indices and weights (nearest: one tap; linear: 2; cubic: 4; antialias widens the filter by
1/scale when downsampling). The axis is then resampled with one `np.take` per tap: loops run
over taps and axes, never over pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ep_runtime.op_shapes import filter_taps, nearest_taps, normalize_axes, source_coordinates
from ep_runtime.op_shapes import resize_output_geometry as output_geometry

from .registry import kernel


def resample_axis(data: np.ndarray, axis: int, idx: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """`data` resampled along `axis`: output j = sum_k w[j, k] * data[idx[j, k]] (w None: one tap)."""
    if w is None:
        return np.take(data, idx[:, 0], axis=axis)
    shape = (-1,) + (1,) * (data.ndim - axis - 1)
    out = None
    for k in range(idx.shape[1]):
        term = np.take(data, idx[:, k], axis=axis) * w[:, k].astype(data.dtype).reshape(shape)
        if out is None:
            out = term
        else:
            out += term
    return out


def resize(x: np.ndarray, out_shape: Sequence[int], scales: Sequence[float], axes: Sequence[int], *,
           mode: str = "nearest", coordinate_transformation_mode: str = "half_pixel",
           nearest_mode: str = "round_prefer_floor", cubic_coeff_a: float = -0.75, exclude_outside: int = 0,
           extrapolation_value: float = 0.0, antialias: int = 0,
           roi: Sequence[float] | None = None) -> np.ndarray:
    """Resample `x` along `axes` (in that order) to `out_shape` (full rank) with per-axis `scales`
    (full rank); `roi` (2 * rank, starts then ends) is used by tf_crop_and_resize."""
    if mode not in ("nearest", "linear", "cubic"):
        raise ValueError(f"Resize: unknown mode {mode!r}; expected nearest, linear or cubic")
    if antialias and mode == "nearest":
        raise ValueError("Resize: antialias is only defined for the linear and cubic modes")
    rank = x.ndim
    if x.dtype.kind == "f":
        work = x.astype(np.result_type(x.dtype, np.float32), copy=False)
    else:
        work = x.astype(np.float64) if mode != "nearest" else x
    crop = coordinate_transformation_mode == "tf_crop_and_resize"
    for axis in axes:
        in_len, out_len, scale = x.shape[axis], int(out_shape[axis]), float(scales[axis])
        axis_roi = (float(roi[axis]), float(roi[axis + rank])) if roi is not None else None
        if out_len == in_len and scale == 1.0 and (not crop or axis_roi in (None, (0.0, 1.0))):
            continue
        if out_len == 0 or in_len == 0:
            shape = list(work.shape)
            shape[axis] = out_len
            work = np.zeros(shape, dtype=work.dtype)
            continue
        src = source_coordinates(coordinate_transformation_mode, out_len, in_len, scale, axis_roi)
        if mode == "nearest":
            idx, w = nearest_taps(src, in_len, nearest_mode, scale < 1), None
        else:
            idx, w = filter_taps(src, in_len, mode, scale, cubic_coeff_a, bool(antialias), bool(exclude_outside))
        work = resample_axis(work, axis, idx, w)
        if crop:
            outside = (src < 0) | (src > in_len - 1)
            if outside.any():
                mask = outside.reshape((-1,) + (1,) * (rank - axis - 1))
                work = np.where(mask, np.asarray(extrapolation_value, dtype=work.dtype), work)
    if work.dtype == x.dtype:
        return np.ascontiguousarray(work) if work is not x else x.copy()
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return np.clip(np.rint(work), info.min, info.max).astype(x.dtype)
    return work.astype(x.dtype)


def _optional(value: np.ndarray | None) -> np.ndarray | None:
    """An optional tensor input, an empty tensor counting as absent."""
    if value is None:
        return None
    value = np.asarray(value)
    return None if value.size == 0 else value


def _resize_11(x, roi, scales, sizes, *, axes=None, keep_aspect_ratio_policy="stretch", **attrs) -> np.ndarray:
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
    return resize(x, out, factors, axes, roi=full_roi, **attrs)


@kernel("Resize", since=10, until=10)
def Resize_10(x: np.ndarray, scales: np.ndarray, *, mode: str = "nearest") -> np.ndarray:
    """Resize-10 is Upsample-9: asymmetric coordinates, nearest truncating (ceil when shrinking)."""
    return upsample(x, scales, mode, "Resize")


@kernel("Resize", since=11, until=17)
def Resize_11(x: np.ndarray, roi: np.ndarray | None = None, scales: np.ndarray | None = None,
              sizes: np.ndarray | None = None, *, coordinate_transformation_mode: str = "half_pixel",
              cubic_coeff_a: float = -0.75, exclude_outside: int = 0, extrapolation_value: float = 0.0,
              mode: str = "nearest", nearest_mode: str = "round_prefer_floor") -> np.ndarray:
    return _resize_11(x, roi, scales, sizes, coordinate_transformation_mode=coordinate_transformation_mode,
                      cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside,
                      extrapolation_value=extrapolation_value, mode=mode, nearest_mode=nearest_mode)


@kernel("Resize", since=18)
def Resize(x: np.ndarray, roi: np.ndarray | None = None, scales: np.ndarray | None = None,
           sizes: np.ndarray | None = None, *, antialias: int = 0, axes: list[int] | None = None,
           coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
           exclude_outside: int = 0, extrapolation_value: float = 0.0, keep_aspect_ratio_policy: str = "stretch",
           mode: str = "nearest", nearest_mode: str = "round_prefer_floor") -> np.ndarray:
    """Resize-18 adds antialias, axes and keep_aspect_ratio_policy; 19 adds half_pixel_symmetric."""
    if coordinate_transformation_mode == "tf_half_pixel_for_nn":
        raise ValueError("Resize: tf_half_pixel_for_nn was removed in Resize-18")
    return _resize_11(x, roi, scales, sizes, axes=axes, keep_aspect_ratio_policy=keep_aspect_ratio_policy,
                      antialias=antialias, coordinate_transformation_mode=coordinate_transformation_mode,
                      cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside,
                      extrapolation_value=extrapolation_value, mode=mode, nearest_mode=nearest_mode)


# --------------------------------------------------------------------------- Upsample


def upsample(x: np.ndarray, scales, mode: str, op: str = "Upsample") -> np.ndarray:
    """Upsample (and Resize-10): out = floor(in * scale), asymmetric coordinates."""
    scales = np.asarray(scales, dtype=np.float64).reshape(-1)
    if scales.size != x.ndim:
        raise ValueError(f"{op}: scales has {scales.size} values but the input has rank {x.ndim}")
    if mode == "bilinear":
        mode = "linear"
    if mode not in ("nearest", "linear"):
        raise ValueError(f"{op}: unknown mode {mode!r}; expected nearest or linear")
    axes = list(range(x.ndim))
    out, factors = output_geometry(x.shape, scales, None, axes, op=op)
    return resize(x, out, factors, axes, mode=mode, coordinate_transformation_mode="asymmetric",
                  nearest_mode="simple")


@kernel("Upsample", since=1, until=6)
def Upsample_1(x: np.ndarray, *, height_scale: float | None = None, mode: str = "nearest",
               width_scale: float | None = None) -> np.ndarray:
    if height_scale is None or width_scale is None or x.ndim != 4:
        raise ValueError("Upsample-1: needs a 4-D input and the height_scale and width_scale attributes")
    return upsample(x, [1.0, 1.0, height_scale, width_scale], mode)


@kernel("Upsample", since=7, until=8)
def Upsample_7(x: np.ndarray, *, mode: str = "nearest", scales: list[float] | None = None) -> np.ndarray:
    if scales is None:
        raise ValueError("Upsample-7: the scales attribute is required")
    return upsample(x, scales, mode)


@kernel("Upsample", since=9)
def Upsample(x: np.ndarray, scales: np.ndarray, *, mode: str = "nearest") -> np.ndarray:
    return upsample(x, scales, mode)
