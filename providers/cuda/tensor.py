"""Shape and data-movement ops: Reshape, Flatten, Transpose, Concat, Split, Slice, Squeeze,
Unsqueeze, Expand, Tile, Pad, ConstantOfShape. Shape-like inputs (Reshape's shape, Slice's
starts...) arrive as host numpy arrays (ep_runtime.host_inputs); data stays on the device.
Views (Reshape, Transpose, Slice) are returned as CuPy/numpy views: values are never mutated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module, ints, normalize_axes, normalize_axis, prod

from .registry import kernel

# --------------------------------------------------------------------------- Reshape, Flatten, Transpose


def reshape(data: Any, shape: Sequence[int], allowzero: int = 0) -> Any:
    """Reshape with ONNX rules: 0 copies the input dim (unless allowzero), -1 is inferred."""
    requested = [int(s) for s in shape]
    target = list(requested)
    if not allowzero:
        for i, s in enumerate(target):
            if s == 0:
                if i >= data.ndim:
                    raise ValueError(f"Reshape: shape {requested} has 0 at position {i}, "
                                     f"beyond the input's rank {data.ndim}")
                target[i] = data.shape[i]
    if target.count(-1) > 1:
        raise ValueError(f"Reshape: shape {requested} has more than one -1")
    try:
        return data.reshape(target)
    except ValueError:
        raise ValueError(f"Reshape: cannot reshape an input of shape {data.shape} ({data.size} elements) "
                         f"to {requested}") from None


@kernel("Reshape", since=5, until=13)
def Reshape_5(data: Any, shape: np.ndarray) -> Any:
    return reshape(data, ints(shape))


@kernel("Reshape", since=14)
def Reshape(data: Any, shape: np.ndarray, *, allowzero: int = 0) -> Any:
    return reshape(data, ints(shape), allowzero)


@kernel("Flatten", since=1)
def Flatten(x: Any, *, axis: int = 1) -> Any:
    """2-D result (prod(shape[:axis]), prod(shape[axis:])); axis may equal the rank."""
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"Flatten: axis {axis} is out of range for a tensor of rank {x.ndim}")
    if axis < 0:
        axis += x.ndim
    return x.reshape(prod(x.shape[:axis]), prod(x.shape[axis:]))


@kernel("Transpose", since=1)
def Transpose(x: Any, *, perm: list[int] | None = None) -> Any:
    if perm is None:
        return x.transpose()
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return x.transpose(perm)


# --------------------------------------------------------------------------- Concat, Split


@kernel("Concat", since=4)
def Concat(*xs: Any, axis: int | None = None) -> Any:
    if axis is None:
        raise ValueError("Concat: the axis attribute is required")
    if not xs:
        raise ValueError("Concat: needs at least one input")
    xp = get_array_module(*xs)
    rank = xs[0].ndim
    ax = normalize_axis(axis, rank, "Concat")
    for k, x in enumerate(xs):
        if x.ndim != rank or x.shape[:ax] + x.shape[ax + 1:] != xs[0].shape[:ax] + xs[0].shape[ax + 1:]:
            raise ValueError(f"Concat: input {k} of shape {x.shape} does not match the others along axes "
                             f"other than {axis} (shapes {[tuple(t.shape) for t in xs]})")
    return xp.concatenate(xs, axis=ax)


def split_tensor(x: Any, sizes: Sequence[int] | None, axis: int, n_out: int, uneven: bool = False) -> list:
    """Split along `axis` into `sizes`, or into `n_out` equal parts (the last one smaller when
    `uneven` allows it, as Split-18 with num_outputs)."""
    ax = normalize_axis(axis, x.ndim, "Split")
    dim = x.shape[ax]
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
        raise ValueError(f"Split: split sizes {sizes} do not add up to dim {dim} of axis {axis} (shape {x.shape})")
    out, start = [], 0
    for s in sizes:
        index = [slice(None)] * x.ndim
        index[ax] = slice(start, start + s)
        out.append(x[tuple(index)])
        start += s
    return out


@kernel("Split", since=2, until=12, multi_output=True)
def Split_2(x: Any, *, axis: int = 0, split: list[int] | None = None, _num_outputs: int = 1) -> list:
    return split_tensor(x, split, axis, _num_outputs)


@kernel("Split", since=13, until=17, multi_output=True)
def Split_13(x: Any, split: np.ndarray | None = None, *, axis: int = 0, _num_outputs: int = 1) -> list:
    return split_tensor(x, None if split is None else ints(split), axis, _num_outputs)


@kernel("Split", since=18, multi_output=True)
def Split(x: Any, split: np.ndarray | None = None, *, axis: int = 0, num_outputs: int | None = None,
          _num_outputs: int = 1) -> list:
    if split is not None and num_outputs is not None:
        raise ValueError("Split: give either the split input or the num_outputs attribute, not both")
    n = num_outputs if num_outputs is not None else _num_outputs
    return split_tensor(x, None if split is None else ints(split), axis, n, uneven=True)


# --------------------------------------------------------------------------- Slice


def slice_(x: Any, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None = None,
           steps: Sequence[int] | None = None) -> Any:
    """ONNX Slice: out-of-range starts/ends clamp; a negative step walks backwards."""
    starts, ends = list(starts), list(ends)
    if len(starts) != len(ends):
        raise ValueError(f"Slice: starts {starts} and ends {ends} differ in length")
    axes = list(range(len(starts))) if axes is None or len(axes) == 0 else list(axes)
    steps = [1] * len(starts) if steps is None or len(steps) == 0 else list(steps)
    if not len(axes) == len(steps) == len(starts):
        raise ValueError(f"Slice: starts, ends, axes {axes} and steps {steps} must have the same length")
    index: list[Any] = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, normalize_axes(axes, x.ndim, "Slice"), steps):
        dim = x.shape[a]
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
    return x[tuple(index)]


@kernel("Slice", since=1, until=9)
def Slice_1(x: Any, *, axes: list[int] | None = None, ends: list[int] | None = None,
            starts: list[int] | None = None) -> Any:
    if starts is None or ends is None:
        raise ValueError("Slice: the starts and ends attributes are required")
    return slice_(x, starts, ends, axes)


@kernel("Slice", since=10)
def Slice(x: Any, starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None = None,
          steps: np.ndarray | None = None) -> Any:
    return slice_(x, ints(starts), ints(ends), None if axes is None else ints(axes),
                  None if steps is None else ints(steps))


# --------------------------------------------------------------------------- Squeeze, Unsqueeze


def squeeze(x: Any, axes: Sequence[int] | None) -> Any:
    if axes is None or len(axes) == 0:
        return x.reshape([d for d in x.shape if d != 1])
    ax = normalize_axes(axes, x.ndim, "Squeeze")
    for a in ax:
        if x.shape[a] != 1:
            raise ValueError(f"Squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1")
    return x.reshape([d for i, d in enumerate(x.shape) if i not in ax])


def unsqueeze(x: Any, axes: Sequence[int]) -> Any:
    if axes is None or len(axes) == 0:
        raise ValueError("Unsqueeze: axes are required")
    rank = x.ndim + len(axes)
    shape = list(x.shape)
    for a in sorted(normalize_axes(axes, rank, "Unsqueeze")):
        shape.insert(a, 1)
    return x.reshape(shape)


@kernel("Squeeze", since=1, until=12)
def Squeeze_1(x: Any, *, axes: list[int] | None = None) -> Any:
    return squeeze(x, axes)


@kernel("Squeeze", since=13)
def Squeeze(x: Any, axes: np.ndarray | None = None) -> Any:
    return squeeze(x, None if axes is None else ints(axes))


@kernel("Unsqueeze", since=1, until=12)
def Unsqueeze_1(x: Any, *, axes: list[int] | None = None) -> Any:
    return unsqueeze(x, axes or [])


@kernel("Unsqueeze", since=13)
def Unsqueeze(x: Any, axes: np.ndarray) -> Any:
    return unsqueeze(x, ints(axes))


# --------------------------------------------------------------------------- Expand, Tile, Pad


@kernel("Expand", since=8)
def Expand(x: Any, shape: np.ndarray) -> Any:
    """Bidirectional broadcast of x to `shape` (a materialized array, as onnxruntime returns)."""
    xp = get_array_module(x)
    target = tuple(ints(shape))
    try:
        out = np.broadcast_shapes(x.shape, target)
    except ValueError:
        raise ValueError(f"Expand: input of shape {x.shape} cannot broadcast with shape {list(target)}") from None
    return xp.array(xp.broadcast_to(x, out), copy=True)


@kernel("Tile", since=6)
def Tile(x: Any, repeats: np.ndarray) -> Any:
    xp = get_array_module(x)
    reps = ints(repeats)
    if len(reps) != x.ndim:
        raise ValueError(f"Tile: repeats {reps} must have one value per axis of the input's shape {x.shape}")
    return xp.tile(x, reps)


def pad(x: Any, pads: Sequence[int], mode: str = "constant", value: Any = 0,
        axes: Sequence[int] | None = None) -> Any:
    """Pad (negative pads crop) with pads = [begin of each axis..., end of each axis...]."""
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ValueError(f"Pad: unknown mode {mode!r} (expected constant, reflect, edge or wrap)")
    xp = get_array_module(x)
    axes = list(range(x.ndim)) if axes is None or len(axes) == 0 else list(normalize_axes(axes, x.ndim, "Pad"))
    n = len(axes)
    pads = [int(p) for p in pads]
    if len(pads) != 2 * n:
        raise ValueError(f"Pad: {len(pads)} pads given for {n} axes of shape {x.shape} (expected {2 * n})")
    width = [(0, 0)] * x.ndim
    crop: list[Any] = [slice(None)] * x.ndim
    for i, a in enumerate(axes):
        b, e = pads[i], pads[i + n]
        if b < 0 or e < 0:
            crop[a] = slice(max(-b, 0), x.shape[a] - max(-e, 0))
        width[a] = (max(b, 0), max(e, 0))
    if any(c != slice(None) for c in crop):
        x = x[tuple(crop)]
    if all(w == (0, 0) for w in width):
        return x
    if mode == "constant":
        out = xp.full(tuple(d + b + e for d, (b, e) in zip(x.shape, width)), np.asarray(value).item(),
                      dtype=x.dtype)
        out[tuple(slice(b, b + d) for d, (b, _) in zip(x.shape, width))] = x
        return out
    return xp.pad(x, width, mode=mode)


@kernel("Pad", since=2, until=10)
def Pad_2(x: Any, *, mode: str = "constant", pads: list[int] | None = None, value: float = 0.0) -> Any:
    return pad(x, pads or [], mode, value)


@kernel("Pad", since=11, until=17)
def Pad_11(x: Any, pads: np.ndarray, constant_value: np.ndarray | None = None, *, mode: str = "constant") -> Any:
    return pad(x, ints(pads), mode, 0 if constant_value is None else np.asarray(constant_value).reshape(-1)[0])


@kernel("Pad", since=18)
def Pad(x: Any, pads: np.ndarray, constant_value: np.ndarray | None = None, axes: np.ndarray | None = None, *,
        mode: str = "constant") -> Any:
    cv = None if constant_value is None else np.asarray(constant_value)
    value = 0 if cv is None or cv.size == 0 else cv.reshape(-1)[0]
    return pad(x, ints(pads), mode, value, None if axes is None else ints(axes))


# --------------------------------------------------------------------------- ConstantOfShape


@kernel("ConstantOfShape", since=9, factory=True)
def ConstantOfShape(*, value: np.ndarray | None = None, _provider: Any = None) -> Any:
    """A tensor of `shape` (a host input) filled with `value`, made on the device."""
    v = np.zeros(1, np.float32) if value is None else np.asarray(value)
    if v.size != 1:
        raise ValueError(f"ConstantOfShape: value must hold one element, got shape {v.shape}")
    xp = _provider.xp if _provider is not None else np
    fill, dtype = v.reshape(-1)[0].item(), v.dtype

    def run(shape: np.ndarray) -> Any:
        dims = ints(shape)
        if any(d < 0 for d in dims):
            raise ValueError(f"ConstantOfShape: negative dimension in {dims}")
        return xp.full(dims, fill, dtype=dtype)

    return run
