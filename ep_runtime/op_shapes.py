"""Shape arithmetic of ONNX operators that every provider needs the same way.

Output sizes and padding of sliding-window ops (Conv, pooling) and the coordinate mapping and
output geometry of Resize are host computations on shapes and attributes; providers import
them from here so that one rule serves the CPU, OpenCL, CUDA and C providers alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def normalize_axis(axis: int, rank: int, op: str = "") -> int:
    """`axis` in [-rank, rank) made non-negative; ValueError naming the op otherwise."""
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of rank {rank}")
    return axis + rank if axis < 0 else axis


def normalize_axes(axes: Sequence[int] | np.ndarray, rank: int, op: str = "") -> tuple[int, ...]:
    """Each axis normalized (see normalize_axis); duplicates are an error."""
    out = tuple(normalize_axis(int(a), rank, op) for a in np.asarray(axes).reshape(-1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {list(out)}")
    return out


def ints(value: Any) -> list[int]:
    """A host int tensor / list / None as a Python list of ints (None -> [])."""
    if value is None:
        return []
    return [int(v) for v in np.asarray(value).reshape(-1)]


def window_slices(offsets: Sequence[int], dilations: Sequence[int], strides: Sequence[int],
                  out: Sequence[int]) -> tuple[slice, ...]:
    """Slices over the spatial axes of a padded input that pick, for every output position,
    the element at kernel offset `offsets` (a strided view, no copy)."""
    return tuple(
        slice(k * d, k * d + (o - 1) * s + 1, s) for k, d, s, o in zip(offsets, dilations, strides, out)
    )


def prod(values: Sequence[int]) -> int:
    return math.prod(int(v) for v in values)


def spatial_pads(
    in_shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int] | None,
    auto_pad: str,
    op: str,
    ceil_mode: int = 0,
) -> tuple[list[int], list[int], list[int]]:
    """Begin pads, end pads and output sizes of a sliding-window op (Conv, pooling).

    `auto_pad` SAME_UPPER/SAME_LOWER choose pads so that out = ceil(in / stride) (the extra pad
    at the end for UPPER, at the beginning for LOWER); VALID means no pads; NOTSET uses `pads`.
    With `ceil_mode` the output size rounds up, but a window must start inside the input or
    its begin padding.
    """
    nd = len(in_shape)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end, out = [], [], []
        for i in range(nd):
            o = -(-in_shape[i] // strides[i])
            dk = (kernel[i] - 1) * dilations[i] + 1
            total = max((o - 1) * strides[i] + dk - in_shape[i], 0)
            small = total // 2
            lo, hi = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
            begin.append(lo)
            end.append(hi)
            out.append(o)
        return begin, end, out
    if auto_pad == "VALID":
        begin, end = [0] * nd, [0] * nd
    elif auto_pad in ("NOTSET", ""):
        p = list(pads) if pads is not None else [0] * (2 * nd)
        if len(p) != 2 * nd:
            raise ValueError(f"{op}: pads has {len(p)} values, expected {2 * nd} for {nd} spatial dims")
        begin, end = p[:nd], p[nd:]
    else:
        raise ValueError(f"{op}: unknown auto_pad {auto_pad!r}")
    out = []
    for i in range(nd):
        dk = (kernel[i] - 1) * dilations[i] + 1
        span = in_shape[i] + begin[i] + end[i] - dk
        if span < 0:
            raise ValueError(
                f"{op}: kernel extent {dk} is larger than the padded input size "
                f"{in_shape[i] + begin[i] + end[i]} along spatial axis {i}"
            )
        if ceil_mode:
            o = -(-span // strides[i]) + 1
            if (o - 1) * strides[i] >= in_shape[i] + begin[i]:
                o -= 1
        else:
            o = span // strides[i] + 1
        out.append(o)
    return begin, end, out


COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


def source_coordinates(mode: str, out_len: int, in_len: int, scale: float,
                       roi: tuple[float, float] | None) -> np.ndarray:
    """Input coordinate (float64) of every output position along one axis.

    `scale` is the axis's scale factor; the "resized length" of the spec is `scale * in_len`,
    which differs from `out_len` when the output size was rounded down.
    """
    y = np.arange(out_len, dtype=np.float64)
    resized = scale * in_len
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out_len / resized
        offset = in_len / 2 * (1 - adjustment)
        return offset + (y + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (y + 0.5) / scale - 0.5 if resized != 1 else np.full(out_len, -0.5)
    if mode == "align_corners":
        return y * (in_len - 1) / (resized - 1) if resized != 1 else np.zeros(out_len)
    if mode == "asymmetric":
        return y / scale
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale
    if mode == "tf_crop_and_resize":
        start, end = roi if roi is not None else (0.0, 1.0)
        if resized == 1:
            x = np.full(out_len, (end - start) * (in_len - 1) / 2)
        else:
            x = y * (end - start) * (in_len - 1) / (resized - 1)
        return x + start * (in_len - 1)
    raise ValueError(f"Resize: unknown coordinate_transformation_mode {mode!r}; expected one of {COORDINATE_MODES}")


def resize_output_geometry(shape: Sequence[int], scales: np.ndarray | None, sizes: np.ndarray | None,
                    axes: Sequence[int], keep_aspect_ratio_policy: str = "stretch",
                    op: str = "Resize") -> tuple[list[int], list[float]]:
    """Full-rank output shape and scale factors from `scales` or `sizes` given for `axes`."""
    rank = len(shape)
    if (scales is None) == (sizes is None):
        raise ValueError(f"{op}: exactly one of scales and sizes must be given (got "
                         f"{'both' if scales is not None else 'neither'})")
    given = scales if scales is not None else sizes
    if given.size != len(axes):
        raise ValueError(f"{op}: {'scales' if scales is not None else 'sizes'} has {given.size} values, "
                         f"expected {len(axes)} (one per resized axis)")
    out = list(shape)
    factors = [1.0] * rank
    if scales is not None:
        for a, s in zip(axes, scales.astype(np.float64).reshape(-1)):
            if not s > 0:
                raise ValueError(f"{op}: scales must be positive, got {scales.tolist()}")
            factors[a] = float(s)
            out[a] = int(np.floor(s * shape[a]))
        return out, factors
    want = [int(v) for v in sizes.reshape(-1)]
    if any(v < 0 for v in want):
        raise ValueError(f"{op}: sizes must be non-negative, got {want}")
    ratios = [w / shape[a] if shape[a] else 1.0 for a, w in zip(axes, want)]
    if keep_aspect_ratio_policy == "stretch":
        for a, w, r in zip(axes, want, ratios):
            out[a], factors[a] = w, r
        return out, factors
    if keep_aspect_ratio_policy == "not_larger":
        common = min(ratios)
    elif keep_aspect_ratio_policy == "not_smaller":
        common = max(ratios)
    else:
        raise ValueError(f"{op}: unknown keep_aspect_ratio_policy {keep_aspect_ratio_policy!r}; "
                         "expected stretch, not_larger or not_smaller")
    for a in axes:
        out[a], factors[a] = int(common * shape[a] + 0.5), common
    return out, factors
