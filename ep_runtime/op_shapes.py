"""Shape arithmetic of ONNX operators that every provider needs the same way.

Output sizes and padding of sliding-window ops (Conv, pooling) and the coordinate mapping and
output geometry of Resize are host computations on shapes and attributes; providers import
them from here so that one rule serves the CPU, OpenCL, CUDA and C providers alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


def normalize_axis(axis: int, rank: int, op: str = "") -> int:
    """`axis` in [-rank, rank) made non-negative; ValueError naming the op otherwise."""
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of rank {rank}")
    return axis + rank if axis < 0 else axis


def normalize_axes(axes: Sequence[int] | np.ndarray, rank: int, op: str = "") -> tuple[int, ...]:
    """Each axis normalized (see normalize_axis); duplicates are an error."""
    # lists and tuples of ints (attributes, ints()) skip numpy: this runs once per Slice, Squeeze... call
    values = axes if type(axes) in (list, tuple) else np.asarray(axes).reshape(-1).tolist()
    out = []
    for a in values:
        if type(a) is not int:
            if isinstance(a, (list, tuple)):  # nested lists flatten, as numpy would
                return normalize_axes(np.asarray(axes), rank, op)
            a = int(a)
        if not -rank <= a < max(rank, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of rank {rank}")
        out.append(a + rank if a < 0 else a)
    out = tuple(out)
    if len(out) > 1 and len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {list(out)}")
    return out


def ints(value: Any) -> list[int]:
    """A host int tensor / list / None as a Python list of ints (None -> [])."""
    if value is None:
        return []
    if type(value) is np.ndarray and value.dtype.kind in "iu":
        return value.reshape(-1).tolist()  # Python ints, without a numpy scalar per element
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


def check_window(nd: int, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                 pads: Sequence[int] | None, op: str) -> None:
    """ValueError naming `op` unless the sliding-window attributes fit `nd` spatial axes and are in range."""
    for name, values, length, low in (("kernel_shape", kernel, nd, 1), ("strides", strides, nd, 1),
                                      ("dilations", dilations, nd, 1), ("pads", pads, 2 * nd, 0)):
        if values is None:
            continue
        if len(values) != length:
            raise ValueError(f"{op}: {name} {list(values)} has {len(values)} values, the input has {nd} spatial "
                             f"axes (expected {length})")
        if any(v < low for v in values):
            raise ValueError(f"{op}: {name} {list(values)} must be >= {low}")


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
    its begin padding. Strides, dilations and kernel sizes below 1, negative pads, and attribute
    lengths that disagree with the input's spatial rank are a ValueError naming the op.
    """
    nd = len(in_shape)
    check_window(nd, kernel, strides, dilations, pads, op)
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


# --------------------------------------------------------------------------- shape and data-movement ops


def reshape_shape(in_shape: Sequence[int], shape: Sequence[int], allowzero: int = 0) -> list[int]:
    """The output shape of Reshape: 0 copies the input dim (unless allowzero), one -1 is inferred."""
    requested = [int(s) for s in shape]
    target = list(requested)
    if not allowzero:
        for i, s in enumerate(target):
            if s == 0:
                if i >= len(in_shape):
                    raise ValueError(f"Reshape: shape {requested} has 0 at position {i}, "
                                     f"beyond the input's rank {len(in_shape)}")
                target[i] = in_shape[i]
    if target.count(-1) > 1:
        raise ValueError(f"Reshape: shape {requested} has more than one -1")
    size = prod(in_shape)
    known = prod(d for d in target if d != -1)
    if any(d < -1 for d in target) or (-1 in target and (known == 0 or size % known)) or \
            (-1 not in target and known != size):
        raise ValueError(f"Reshape: cannot reshape an input of shape {tuple(in_shape)} ({size} elements) "
                         f"to {requested}")
    if -1 in target:
        target[target.index(-1)] = size // known
    return target


def flatten_shape(in_shape: Sequence[int], axis: int) -> tuple[int, int]:
    """Flatten's 2-D output shape (prod(shape[:axis]), prod(shape[axis:])); axis may equal the rank."""
    rank = len(in_shape)
    if not -rank <= axis <= rank:
        raise ValueError(f"Flatten: axis {axis} is out of range for a tensor of rank {rank}")
    if axis < 0:
        axis += rank
    return prod(in_shape[:axis]), prod(in_shape[axis:])


def concat_axis(shapes: Sequence[Sequence[int]], axis: int) -> int:
    """Concat's normalized axis, once every input shape is checked against the first."""
    if not shapes:
        raise ValueError("Concat: needs at least one input")
    first = tuple(shapes[0])
    rank = len(first)
    ax = normalize_axis(axis, rank, "Concat")
    for k, shape in enumerate(shapes):
        shape = tuple(shape)
        if len(shape) != rank or shape[:ax] + shape[ax + 1:] != first[:ax] + first[ax + 1:]:
            raise ValueError(f"Concat: input {k} of shape {shape} does not match the others along "
                             f"axes other than {axis} (shapes {[tuple(s) for s in shapes]})")
    return ax


def split_sizes(in_shape: Sequence[int], sizes: Sequence[int] | None, axis: int, n_out: int,
                uneven: bool = False) -> tuple[int, list[int]]:
    """Split's normalized axis and part sizes: `sizes`, or `n_out` equal parts (the last one
    smaller when `uneven` allows it, as Split-18 with num_outputs)."""
    ax = normalize_axis(axis, len(in_shape), "Split")
    dim = in_shape[ax]
    if sizes is None or len(sizes) == 0:
        if n_out < 1:
            raise ValueError("Split: no split sizes and no outputs")
        if dim % n_out:
            if not uneven:
                raise ValueError(f"Split: dim {dim} of axis {axis} cannot be split into {n_out} equal parts")
            chunk = -(-dim // n_out)
            sizes = [chunk] * (dim // chunk) + ([dim % chunk] if dim % chunk else [])
            if len(sizes) != n_out:
                raise ValueError(f"Split: dim {dim} of axis {axis} cannot be split into {n_out} outputs")
        else:
            sizes = [dim // n_out] * n_out
    sizes = [int(s) for s in sizes]
    if sum(sizes) != dim or any(s < 0 for s in sizes):
        raise ValueError(f"Split: split sizes {sizes} do not add up to dim {dim} of axis {axis} "
                         f"(shape {tuple(in_shape)})")
    return ax, sizes


def slice_index(in_shape: Sequence[int], starts: Sequence[int], ends: Sequence[int],
                axes: Sequence[int] | None = None, steps: Sequence[int] | None = None) -> tuple[slice, ...]:
    """ONNX Slice as one basic index (a slice per axis): out-of-range starts/ends clamp, a negative
    step walks backwards."""
    starts, ends = list(starts), list(ends)
    n = len(starts)
    if len(ends) != n:
        raise ValueError(f"Slice: starts {starts} and ends {ends} differ in length")
    axes = list(range(n)) if axes is None or len(axes) == 0 else list(axes)
    steps = [1] * n if steps is None or len(steps) == 0 else list(steps)
    if not len(axes) == len(steps) == n:
        raise ValueError(f"Slice: starts, ends, axes {axes} and steps {steps} must have the same length")
    index = [slice(None)] * len(in_shape)
    for s, e, a, st in zip(starts, ends, normalize_axes(axes, len(in_shape), "Slice"), steps):
        dim = in_shape[a]
        if st == 0:
            raise ValueError("Slice: a step must not be 0")
        if s < 0:
            s += dim
        if e < 0:
            e += dim
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
        index[a] = slice(s, e if e >= 0 else None, st)
    return tuple(index)


def squeeze_shape(in_shape: Sequence[int], axes: Sequence[int] | None) -> list[int]:
    """Squeeze's output shape: `axes` (each of size 1) removed, or every 1 when no axes are given."""
    if axes is None or len(axes) == 0:
        return [d for d in in_shape if d != 1]
    ax = normalize_axes(axes, len(in_shape), "Squeeze")
    for a in ax:
        if in_shape[a] != 1:
            raise ValueError(f"Squeeze: axis {a} of shape {tuple(in_shape)} has size {in_shape[a]}, not 1")
    return [d for i, d in enumerate(in_shape) if i not in ax]


def unsqueeze_shape(in_shape: Sequence[int], axes: Sequence[int] | None) -> list[int]:
    """Unsqueeze's output shape: a 1 inserted at each of `axes` (axes of the output)."""
    if axes is None or len(axes) == 0:
        raise ValueError("Unsqueeze: axes are required")
    shape = list(in_shape)
    for a in sorted(normalize_axes(axes, len(in_shape) + len(axes), "Unsqueeze")):
        shape.insert(a, 1)
    return shape


def expand_shape(in_shape: Sequence[int], shape: Any) -> tuple[int, ...]:
    """Expand's output shape: the input's shape and `shape` broadcast bidirectionally."""
    target = tuple(ints(shape))
    try:
        return tuple(np.broadcast_shapes(tuple(in_shape), target))
    except ValueError:
        raise ValueError(f"Expand: input of shape {tuple(in_shape)} cannot broadcast with shape "
                         f"{list(target)}") from None


def check_broadcasts_to(shape: Sequence[int], target: Sequence[int], op: str, name: str = "C") -> None:
    """An operand `name` of `shape` must broadcast to the result shape `target` without changing it
    (Gemm's C); a ValueError naming the op and both shapes otherwise."""
    try:
        fits = np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {tuple(shape)} does not broadcast to the result shape {tuple(target)}")


def tile_repeats(in_shape: Sequence[int], repeats: Any) -> list[int]:
    """Tile's repeats as ints, one per input axis."""
    reps = ints(repeats)
    if len(reps) != len(in_shape):
        raise ValueError(f"Tile: repeats {reps} must have one value per axis of the input's shape "
                         f"{tuple(in_shape)}")
    return reps


PAD_MODES = ("constant", "reflect", "edge", "wrap")


def pad_widths(in_shape: Sequence[int], pads: Sequence[int], mode: str = "constant",
               axes: Sequence[int] | None = None) -> tuple[tuple[slice, ...] | None, list[tuple[int, int]]]:
    """Pad's pads = [begin of each axis..., end of each axis...] (negative ones crop) as the crop
    to apply first (a basic index, None when nothing is cropped) and the (begin, end) widths,
    all >= 0, to pad each axis of the cropped input with."""
    if mode not in PAD_MODES:
        raise ValueError(f"Pad: unknown mode {mode!r} (expected constant, reflect, edge or wrap)")
    rank = len(in_shape)
    axes = list(range(rank)) if axes is None or len(axes) == 0 else list(normalize_axes(axes, rank, "Pad"))
    n = len(axes)
    pads = [int(p) for p in pads]
    if len(pads) != 2 * n:
        raise ValueError(f"Pad: {len(pads)} pads given for {n} axes of shape {tuple(in_shape)} "
                         f"(expected {2 * n})")
    width = [(0, 0)] * rank
    crop = [slice(None)] * rank
    for i, a in enumerate(axes):
        b, e = pads[i], pads[i + n]
        if b < 0 or e < 0:
            crop[a] = slice(max(-b, 0), in_shape[a] - max(-e, 0))
        width[a] = (max(b, 0), max(e, 0))
    return (tuple(crop) if any(c != slice(None) for c in crop) else None), width


def pad_value(constant_value: Any) -> Any:
    """Pad's constant_value input (None or empty: 0) as one scalar."""
    cv = None if constant_value is None else np.asarray(constant_value)
    return 0 if cv is None or cv.size == 0 else cv.reshape(-1)[0]


# --------------------------------------------------------------------------- Conv, ConvTranspose, pooling


def check_conv_shapes(x_shape: Sequence[int], w_shape: Sequence[int], group: int,
                      kernel_shape: Sequence[int] | None, op: str) -> int:
    """The number of spatial dims of a Conv-like op, once X, W, group and kernel_shape agree."""
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    if len(x_shape) < 3:
        raise ValueError(f"{op}: input X must have rank >= 3 (N, C, spatial...), got shape {x_shape}")
    if len(w_shape) != len(x_shape):
        raise ValueError(f"{op}: weight W of shape {w_shape} must have the rank of X {x_shape}")
    if group < 1:
        raise ValueError(f"{op}: group must be >= 1, got {group}")
    if kernel_shape is not None and tuple(kernel_shape) != w_shape[2:]:
        raise ValueError(f"{op}: kernel_shape {list(kernel_shape)} does not match weight shape {w_shape}")
    return len(x_shape) - 2


def conv_channels(x_shape: Sequence[int], w_shape: Sequence[int], b_shape: Sequence[int] | None,
                  group: int) -> tuple[int, int]:
    """Conv's output channels M and input channels per group, once X, W (M, C/group, k...) and B agree."""
    c = x_shape[1]
    m, cg = w_shape[:2]
    if c != cg * group:
        raise ValueError(f"Conv: X has {c} channels but W of shape {tuple(w_shape)} with group={group} "
                         f"expects {cg * group}")
    if m % group:
        raise ValueError(f"Conv: {m} output channels are not divisible by group={group}")
    if b_shape is not None and tuple(b_shape) != (m,):
        raise ValueError(f"Conv: bias B must have shape ({m},), got {tuple(b_shape)}")
    return m, cg


def conv_transpose_channels(x_shape: Sequence[int], w_shape: Sequence[int], b_shape: Sequence[int] | None,
                            group: int) -> tuple[int, int, int]:
    """ConvTranspose's output channels M, output channels per group and input channels per group,
    once X, W (C, M/group, k...) and B agree."""
    c = x_shape[1]
    if w_shape[0] != c:
        raise ValueError(f"ConvTranspose: X has {c} channels but W of shape {tuple(w_shape)} expects {w_shape[0]}")
    if c % group:
        raise ValueError(f"ConvTranspose: {c} input channels are not divisible by group={group}")
    mg = w_shape[1]
    m = mg * group
    if b_shape is not None and tuple(b_shape) != (m,):
        raise ValueError(f"ConvTranspose: bias B must have shape ({m},), got {tuple(b_shape)}")
    return m, mg, c // group


class ConvTransposeGeometry(NamedTuple):
    """Host geometry of a ConvTranspose done as matmul + col2im: the columns are scattered into a
    buffer of spatial `size` (the full transposed output shifted by `shift` so that negative
    begin pads fit), from which `crop` cuts the output of spatial shape `out`."""

    strides: list[int]
    dilations: list[int]
    begin: list[int]
    out: list[int]
    shift: list[int]
    size: list[int]

    @property
    def crop(self) -> tuple[slice, ...]:
        return tuple(slice(b + s, b + s + o) for b, s, o in zip(self.begin, self.shift, self.out))

    def scatter_slices(self, offsets: Sequence[int], in_spatial: Sequence[int]) -> tuple[slice, ...]:
        """Where, in the buffer, the columns of kernel offset `offsets` add up."""
        return tuple(slice(sh + k * d, sh + k * d + (i - 1) * s + 1, s)
                     for sh, k, d, i, s in zip(self.shift, offsets, self.dilations, in_spatial, self.strides))


def conv_transpose_geometry(in_spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int] | None,
                            dilations: Sequence[int] | None, output_padding: Sequence[int] | None,
                            output_shape: Sequence[int] | None, pads: Sequence[int] | None,
                            auto_pad: str) -> ConvTransposeGeometry:
    """Output spatial shape and begin pads of ConvTranspose: from output_shape or SAME_* (the
    total padding split as the spec says), else from pads (VALID: none)."""
    nd = len(in_spatial)
    strides = list(strides) if strides is not None else [1] * nd
    dilations = list(dilations) if dilations is not None else [1] * nd
    opad = list(output_padding) if output_padding is not None else [0] * nd
    dk = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    full = [(i - 1) * s + e for i, s, e in zip(in_spatial, strides, dk)]
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = ([int(v) for v in list(output_shape)[-nd:]] if output_shape is not None
               else [i * s for i, s in zip(in_spatial, strides)])
        total = [f + op - o for f, op, o in zip(full, opad, out)]
        begin = [t // 2 for t in total] if auto_pad == "SAME_UPPER" else [t - t // 2 for t in total]
    else:
        if auto_pad not in ("NOTSET", "", "VALID"):
            raise ValueError(f"ConvTranspose: unknown auto_pad {auto_pad!r}")
        pp = list(pads) if pads is not None and auto_pad != "VALID" else [0] * (2 * nd)
        if len(pp) != 2 * nd:
            raise ValueError(f"ConvTranspose: pads has {len(pp)} values, expected {2 * nd}")
        begin = pp[:nd]
        out = [f + op - pb - pe for f, op, pb, pe in zip(full, opad, pp[:nd], pp[nd:])]
    if any(o <= 0 for o in out):
        raise ValueError(f"ConvTranspose: computed output spatial shape {out} is not positive")
    shift = [max(0, -b) for b in begin]
    size = [max(f, b + o) + sh for f, b, o, sh in zip(full, begin, out, shift)]
    return ConvTransposeGeometry(strides, dilations, begin, out, shift, size)


class PoolGeometry(NamedTuple):
    """Host geometry of a pooling op: `end_buf` pads the end further so that every (ceil-mode)
    window lies inside the padded buffer; `end` is the pad the spec counts."""

    strides: list[int]
    dilations: list[int]
    begin: list[int]
    end: list[int]
    end_buf: list[int]
    out: list[int]


def pool_geometry(x_shape: Sequence[int], op: str, kernel_shape: Sequence[int] | None, strides: Any,
                  dilations: Any, pads: Any, auto_pad: str, ceil_mode: int) -> PoolGeometry:
    """Strides, dilations, pads and output spatial shape of MaxPool / AveragePool / LpPool."""
    if kernel_shape is None:
        raise ValueError(f"{op}: the kernel_shape attribute is required")
    nd = len(kernel_shape)
    if len(x_shape) != nd + 2:
        raise ValueError(f"{op}: input of shape {tuple(x_shape)} does not match a {nd}-D kernel_shape "
                         f"{list(kernel_shape)}")
    strides = list(strides) if strides is not None else [1] * nd
    dilations = list(dilations) if dilations is not None else [1] * nd
    ins = list(x_shape[2:])
    begin, end, out = spatial_pads(ins, kernel_shape, strides, dilations, pads, auto_pad, op, ceil_mode)
    need = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(out, strides, kernel_shape, dilations)]
    end_buf = [max(e, n - i - b) for e, n, i, b in zip(end, need, ins, begin)]
    return PoolGeometry(strides, dilations, begin, end, end_buf, out)


def avg_pool_counts(in_spatial: Sequence[int], kernel_shape: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int], begin: Sequence[int], end: Sequence[int], out: Sequence[int],
                    count_include_pad: int) -> np.ndarray | None:
    """AveragePool's divisor per output position (float64, of the output's spatial shape, at least
    1), None when every window counts the whole kernel. Padded positions count only with
    `count_include_pad`; positions beyond the explicit pads (ceil_mode) never count."""
    # the divisor is separable: per axis, how many window taps fall in the counted range
    count = np.ones((), dtype=np.float64)
    for i, (k, s, d, o) in enumerate(zip(kernel_shape, strides, dilations, out)):
        lo, hi = (0, in_spatial[i] + begin[i] + end[i]) if count_include_pad else (begin[i], begin[i] + in_spatial[i])
        taps = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d
        count = np.multiply.outer(count, ((taps >= lo) & (taps < hi)).sum(axis=1).astype(np.float64))
    if np.all(count == prod(kernel_shape)):
        return None
    return np.maximum(count, 1)


# --------------------------------------------------------------------------- Resize taps


def nearest_taps(x: np.ndarray, in_len: int, nearest_mode: str, downsampling: bool) -> np.ndarray:
    """The index (out_len, 1) picked by `nearest_mode` for each source coordinate, clamped."""
    if nearest_mode == "round_prefer_floor":
        idx = np.ceil(x - 0.5)
    elif nearest_mode == "round_prefer_ceil":
        idx = np.floor(x + 0.5)
    elif nearest_mode == "floor":
        idx = np.floor(x)
    elif nearest_mode == "ceil":
        idx = np.ceil(x)
    elif nearest_mode == "simple":  # Resize-10 / Upsample: ceil when shrinking, else truncate
        idx = np.ceil(x) if downsampling else np.floor(x)
    else:
        raise ValueError(f"Resize: unknown nearest_mode {nearest_mode!r}; expected one of {NEAREST_MODES[:4]}")
    return np.clip(idx, 0, in_len - 1).astype(np.intp)[:, None]


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with coefficient `a`, zero beyond |t| >= 2."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def filter_taps(x: np.ndarray, in_len: int, mode: str, scale: float, cubic_coeff_a: float, antialias: bool,
                exclude_outside: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices (out_len, n) and weights (out_len, n) of the linear or cubic filter at each `x`."""
    support = 1 if mode == "linear" else 2
    stretch = min(scale, 1.0) if antialias else 1.0
    first = int(np.floor(-support / stretch)) + 1  # first tap offset from the base index
    n = 2 - 2 * first
    # the base index is the pixel left of x, an exact integer x counting as the right end
    base = np.ceil(x).astype(np.int64) - 1
    idx = base[:, None] + np.arange(first, first + n)[None, :]
    t = (idx - x[:, None]) * stretch
    w = np.clip(1 - np.abs(t), 0, 1) if mode == "linear" else _cubic(t, cubic_coeff_a)
    inside = (idx >= 0) & (idx < in_len)
    if exclude_outside:
        w = np.where(inside, w, 0.0)
    if antialias or exclude_outside:
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, in_len - 1).astype(np.intp), w
