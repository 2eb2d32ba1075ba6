"""Resize and Upsample: separable resampling, one axis at a time.

For every resized axis the output coordinates are mapped back to input coordinates
(`coordinate_transformation_mode`), and each output position gets a short row of input
indices and weights (nearest: one tap; linear: 2; cubic: 4; antialias widens the filter by
1/scale when downsampling). These taps are planned once per axis geometry and cached.

Most real resizes have a rational scale s/q (2x upsampling: s=2, q=1), where output s*i + r
reads input q*i + shift[r, k] with a weight that depends on the phase r only. Such an axis is
resampled phase by phase with strided slices (and, for q=1, one product of the input per
distinct weight, shared by every phase); only the few positions at the edges, where indices
are clamped, use the per-position taps. Any other axis is resampled with one `np.take` per
tap: loops run over taps, phases and axes, never over pixels.

The kernels are written against the array module `xp` of the input and the CUDA provider registers
them too: the tap tables are planned on the host; on a device module every axis is resampled with
`xp.take` per tap (the phase and repeat plans are numpy's fast paths), unless the provider offers
the primitive "resize_axes" (a raw kernel over the tables, ep_runtime.array_module.device_primitive).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ep_runtime.array_module import device_primitive, get_array_module
from ep_runtime.op_shapes import filter_taps, nearest_taps, normalize_axes, source_coordinates
from ep_runtime.op_shapes import resize_output_geometry as output_geometry

from .registry import kernel

#: An axis is resampled by phases when its output period s is at most this (else by np.take per tap).
MAX_PERIOD = 16
#: Weights of one phase may differ between periods by this much (float64 rounding of the coordinates).
WEIGHT_TOLERANCE = 1e-12


class Phase(NamedTuple):
    """One phase r of a rational-scale axis: in the interior periods lo <= i < hi, output s*i + r is
    the sum over taps of weights[k] * input[cuts[k]] (a strided slice over those periods); the edge
    periods use their per-position taps (indices (len, n), weights or None)."""

    lo: int
    hi: int
    cuts: tuple[slice, ...]
    weights: tuple[float, ...] | None
    edge: np.ndarray
    edge_idx: np.ndarray
    edge_w: np.ndarray | None


class PhasePlan(NamedTuple):
    """Output position s*i + r reads input q*i + shift[r, k] (clamped at the edges) with a weight
    that depends on r only: `s` phases over out_len / s periods."""

    s: int
    q: int
    phases: tuple[Phase, ...]
    repeat: bool  # nearest, output j = input j // s: a plain repeat


class AxisPlan(NamedTuple):
    """The taps of one resized axis: indices (out_len, n) into the input, weights (None:
    nearest), the output positions to extrapolate (tf_crop_and_resize) and the phase plan."""

    idx: np.ndarray
    w: np.ndarray | None
    outside: np.ndarray | None
    phases: PhasePlan | None


def _phase_plan(idx: np.ndarray, w: np.ndarray | None, in_len: int, out_len: int) -> PhasePlan | None:
    """The rational-scale structure of (idx, w), verified on every interior position; None if absent."""
    g = math.gcd(out_len, in_len)
    s, q = out_len // g, in_len // g
    if s > MAX_PERIOD or g < 3:
        return None
    n = idx.shape[1]
    mid = g // 2
    shift = idx[s * mid:s * (mid + 1)] - q * mid  # (s, n)
    periods = np.arange(g)[:, None, None]
    expected = q * periods + shift[None]  # (g, s, n)
    interior = ((expected >= 0) & (expected < in_len)).all(axis=2)  # (g, s)
    got = idx.reshape(g, s, n)
    if not (got == expected)[interior].all():
        return None
    weight = None
    if w is not None:
        weight = w[s * mid:s * (mid + 1)]
        if not (np.abs(w.reshape(g, s, n) - weight[None]) <= WEIGHT_TOLERANCE)[interior].all():
            return None
    phases = []
    for r in range(s):
        d = [int(v) for v in shift[r]]
        lo = max(0, -(-max(0, -min(d)) // q))
        hi = max(lo, min(g, (in_len - 1 - max(d)) // q + 1))
        cuts = tuple(slice(q * lo + dk, q * (hi - 1) + dk + 1, q) for dk in d)
        edge = np.r_[0:lo, hi:g]
        rows = edge * s + r
        edge_idx, edge_w = idx[rows], None if w is None else w[rows]
        for v in (edge, edge_idx, edge_w):
            if v is not None:
                v.flags.writeable = False
        phases.append(Phase(lo, hi, cuts, None if weight is None else tuple(float(v) for v in weight[r]),
                            edge, edge_idx, edge_w))
    return PhasePlan(s, q, tuple(phases), w is None and q == 1 and not shift.any())


#: Axis plans are cached, at most this many, each of at most PLAN_CACHE_MAX_TAPS taps (output
#: positions times filter width), so that the cache stays a few MB whatever the models ask for.
PLAN_CACHE_SIZE = 64
PLAN_CACHE_MAX_TAPS = 1 << 15
_plan_cache: OrderedDict[tuple, AxisPlan] = OrderedDict()
_plan_lock = threading.Lock()


def axis_plan(mode: str, coordinate_transformation_mode: str, nearest_mode: str, cubic_coeff_a: float,
              antialias: bool, exclude_outside: bool, in_len: int, out_len: int, scale: float,
              roi: tuple[float, float] | None) -> AxisPlan:
    """The taps of one axis resized from `in_len` to `out_len` (cached: arrays are read-only)."""
    key = (mode, coordinate_transformation_mode, nearest_mode, cubic_coeff_a, antialias, exclude_outside, in_len,
           out_len, scale, roi)
    with _plan_lock:
        plan = _plan_cache.get(key)
        if plan is not None:
            _plan_cache.move_to_end(key)
            return plan
    plan = _build_axis_plan(*key)
    if plan.idx.size <= PLAN_CACHE_MAX_TAPS:
        with _plan_lock:
            _plan_cache[key] = plan
            while len(_plan_cache) > PLAN_CACHE_SIZE:
                _plan_cache.popitem(last=False)
    return plan


def _build_axis_plan(mode: str, coordinate_transformation_mode: str, nearest_mode: str, cubic_coeff_a: float,
                     antialias: bool, exclude_outside: bool, in_len: int, out_len: int, scale: float,
                     roi: tuple[float, float] | None) -> AxisPlan:
    src = source_coordinates(coordinate_transformation_mode, out_len, in_len, scale, roi)
    if mode == "nearest":
        idx, w = nearest_taps(src, in_len, nearest_mode, scale < 1), None
    else:
        idx, w = filter_taps(src, in_len, mode, scale, cubic_coeff_a, antialias, exclude_outside)
    outside = None
    if coordinate_transformation_mode == "tf_crop_and_resize":
        mask = (src < 0) | (src > in_len - 1)
        outside = mask if mask.any() else None
    phases = _phase_plan(idx, w, in_len, out_len)
    for v in (idx, w, outside):
        if v is not None:
            v.flags.writeable = False
    return AxisPlan(idx, w, outside, phases)


def resample_axis(data: Any, axis: int, idx: np.ndarray, w: np.ndarray | None) -> Any:
    """`data` resampled along `axis`: output j = sum_k w[j, k] * data[idx[j, k]] (w None: one tap).
    The tables are host arrays; on a device module they are copied to it."""
    xp = get_array_module(data)
    put = (lambda a: a) if xp is np else xp.asarray
    if w is None:
        return xp.take(data, put(idx[:, 0]), axis=axis)
    shape = (-1,) + (1,) * (data.ndim - axis - 1)
    out = None
    for k in range(idx.shape[1]):
        term = xp.take(data, put(idx[:, k]), axis=axis) * put(w[:, k].astype(data.dtype).reshape(shape))
        if out is None:
            out = term
        else:
            out += term
    return out


def resample_phases(data: np.ndarray, axis: int, plan: AxisPlan) -> np.ndarray:
    """`data` resampled along `axis` by the phase plan: the same sums as `resample_axis`, each
    phase's interior as strided slices, its edge periods with the per-position taps."""
    ph = plan.phases
    s, q = ph.s, ph.q
    in_len, out_len = data.shape[axis], plan.idx.shape[0]
    lead, trail = data.shape[:axis], data.shape[axis + 1:]
    # the last axis has no trailing axis, so that every copy's inner loop runs along the axis
    inner = (math.prod(trail),) if trail else ()
    x = data.reshape((math.prod(lead), in_len) + inner)
    out = np.empty((x.shape[0], out_len // s, s) + inner, dtype=data.dtype)
    products: dict[float, np.ndarray] = {}

    def weighted(k_weight: float) -> np.ndarray:
        """The input times one weight (for q == 1), shared by every phase using that weight."""
        p = products.get(k_weight)
        if p is None:
            p = x if k_weight == 1.0 else x * x.dtype.type(k_weight)
            products[k_weight] = p
        return p

    tmp = None
    for r, phase in enumerate(ph.phases):
        if phase.hi > phase.lo:
            dst = out[:, phase.lo:phase.hi, r]
            if phase.weights is None:
                dst[...] = x[:, phase.cuts[0]]
            elif q == 1:
                terms = [weighted(wk)[:, cut] for wk, cut in zip(phase.weights, phase.cuts)]
                if len(terms) == 1:
                    dst[...] = terms[0]
                else:
                    np.add(terms[0], terms[1], out=dst)
                for t in terms[2:]:
                    dst += t
            else:
                if tmp is None or tmp.shape != dst.shape:
                    tmp = np.empty(dst.shape, dtype=data.dtype)
                for k, (wk, cut) in enumerate(zip(phase.weights, phase.cuts)):
                    if k == 0:
                        np.multiply(x[:, cut], x.dtype.type(wk), out=dst)
                    else:
                        np.multiply(x[:, cut], x.dtype.type(wk), out=tmp)
                        dst += tmp
        if phase.edge.size:
            out[:, phase.edge, r] = resample_axis(x, 1, phase.edge_idx, phase.edge_w)
    return out.reshape(lead + (out_len,) + trail)


def repeat_axes(x: np.ndarray, repeats: dict[int, int]) -> np.ndarray:
    """`x` with element i of each axis in `repeats` repeated `repeats[axis]` times: the last axis
    by one strided copy per phase, the others by `np.repeat` (whole trailing blocks copied)."""
    y = x
    last = x.ndim - 1
    if last in repeats:
        s = repeats[last]
        wide = np.empty(x.shape + (s,), dtype=x.dtype)
        for r in range(s):
            wide[..., r] = x
        y = wide.reshape(x.shape[:-1] + (x.shape[-1] * s,))
    for axis in sorted((a for a in repeats if a != last), reverse=True):
        y = np.repeat(y, repeats[axis], axis=axis)
    return y if y is not x else x.copy()


def resize(x: Any, out_shape: Sequence[int], scales: Sequence[float], axes: Sequence[int], *,
           mode: str = "nearest", coordinate_transformation_mode: str = "half_pixel",
           nearest_mode: str = "round_prefer_floor", cubic_coeff_a: float = -0.75, exclude_outside: int = 0,
           extrapolation_value: float = 0.0, antialias: int = 0,
           roi: Sequence[float] | None = None, provider: Any = None) -> Any:
    """Resample `x` along `axes` (in that order) to `out_shape` (full rank) with per-axis `scales`
    (full rank); `roi` (2 * rank, starts then ends) is used by tf_crop_and_resize. `provider` (the
    kernel's) may offer the device primitive "resize_axes"."""
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
    if not crop:
        # the result does not depend on the order (up to rounding): shrink first, and of axes
        # grown alike grow the innermost first, its strided writes then touching the least data
        axes = sorted(axes, key=lambda a: (out_shape[a] / max(x.shape[a], 1), -a))
    plans: list[tuple[int, AxisPlan | None]] = []
    for axis in axes:
        in_len, out_len, scale = x.shape[axis], int(out_shape[axis]), float(scales[axis])
        axis_roi = (float(roi[axis]), float(roi[axis + rank])) if roi is not None else None
        if out_len == in_len and scale == 1.0 and (not crop or axis_roi in (None, (0.0, 1.0))):
            continue
        if out_len == 0 or in_len == 0:
            plans.append((axis, None))
            continue
        plans.append((axis, axis_plan(mode, coordinate_transformation_mode, nearest_mode, float(cubic_coeff_a),
                                      bool(antialias), bool(exclude_outside), in_len, out_len, scale, axis_roi)))
    xp = get_array_module(x)
    raw = device_primitive(provider, "resize_axes") if plans and not crop else None
    if raw is not None and all(p is not None for _, p in plans):
        y = raw(x, {axis: (p.idx, p.w) for axis, p in plans}, [int(out_shape[a]) for a in range(rank)])
        if y is not None:
            return y
    numpy_plans = xp is np  # the phase and repeat plans are numpy's fast paths
    if numpy_plans and plans and all(p is not None and p.phases is not None and p.phases.repeat for _, p in plans):
        return repeat_axes(x, {axis: p.phases.s for axis, p in plans})
    for axis, plan in plans:
        if plan is None:
            shape = list(work.shape)
            shape[axis] = int(out_shape[axis])
            work = xp.zeros(shape, dtype=work.dtype)
            continue
        if plan.phases is not None and numpy_plans:
            work = resample_phases(work, axis, plan)
        else:
            work = resample_axis(work, axis, plan.idx, plan.w)
        if plan.outside is not None:
            mask = plan.outside.reshape((-1,) + (1,) * (rank - axis - 1))
            work = xp.where(mask if numpy_plans else xp.asarray(mask), work.dtype.type(extrapolation_value), work)
    if work.dtype == x.dtype:
        return xp.ascontiguousarray(work) if work is not x else x.copy()
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return xp.clip(xp.rint(work), info.min, info.max).astype(x.dtype)
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
def Resize_10(x: Any, scales: np.ndarray, *, mode: str = "nearest", _provider: Any = None) -> Any:
    """Resize-10 is Upsample-9: asymmetric coordinates, nearest truncating (ceil when shrinking)."""
    return upsample(x, scales, mode, "Resize", provider=_provider)


@kernel("Resize", since=11, until=17)
def Resize_11(x: Any, roi: np.ndarray | None = None, scales: np.ndarray | None = None,
              sizes: np.ndarray | None = None, *, coordinate_transformation_mode: str = "half_pixel",
              cubic_coeff_a: float = -0.75, exclude_outside: int = 0, extrapolation_value: float = 0.0,
              mode: str = "nearest", nearest_mode: str = "round_prefer_floor", _provider: Any = None) -> Any:
    return _resize_11(x, roi, scales, sizes, coordinate_transformation_mode=coordinate_transformation_mode,
                      cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside,
                      extrapolation_value=extrapolation_value, mode=mode, nearest_mode=nearest_mode,
                      provider=_provider)


@kernel("Resize", since=18)
def Resize(x: Any, roi: np.ndarray | None = None, scales: np.ndarray | None = None,
           sizes: np.ndarray | None = None, *, antialias: int = 0, axes: list[int] | None = None,
           coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
           exclude_outside: int = 0, extrapolation_value: float = 0.0, keep_aspect_ratio_policy: str = "stretch",
           mode: str = "nearest", nearest_mode: str = "round_prefer_floor", _provider: Any = None) -> Any:
    """Resize-18 adds antialias, axes and keep_aspect_ratio_policy; 19 adds half_pixel_symmetric."""
    if coordinate_transformation_mode == "tf_half_pixel_for_nn":
        raise ValueError("Resize: tf_half_pixel_for_nn was removed in Resize-18")
    return _resize_11(x, roi, scales, sizes, axes=axes, keep_aspect_ratio_policy=keep_aspect_ratio_policy,
                      antialias=antialias, coordinate_transformation_mode=coordinate_transformation_mode,
                      cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside,
                      extrapolation_value=extrapolation_value, mode=mode, nearest_mode=nearest_mode,
                      provider=_provider)


# --------------------------------------------------------------------------- Upsample


def upsample(x: Any, scales, mode: str, op: str = "Upsample", provider: Any = None) -> Any:
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
                  nearest_mode="simple", provider=provider)


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
def Upsample(x: Any, scales: np.ndarray, *, mode: str = "nearest", _provider: Any = None) -> Any:
    return upsample(x, scales, mode, provider=_provider)
