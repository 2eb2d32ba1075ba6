"""Shape and data-movement ops: Reshape, Flatten, Transpose, Concat, Split, Slice, Squeeze,
Unsqueeze, Expand, Tile, Pad, ConstantOfShape. Shape-like inputs (Reshape's shape, Slice's
starts...) arrive as host numpy arrays (ep_runtime.host_inputs); data stays on the device.
Views (Reshape, Transpose, Slice) are returned as CuPy/numpy views: values are never mutated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module
from ep_runtime.op_shapes import (
    concat_axis,
    expand_shape,
    flatten_shape,
    ints,
    pad_value,
    pad_widths,
    reshape_shape,
    slice_index,
    split_sizes,
    squeeze_shape,
    tile_repeats,
    unsqueeze_shape,
)

from .registry import kernel

# --------------------------------------------------------------------------- Reshape, Flatten, Transpose


def reshape(data: Any, shape: Sequence[int], allowzero: int = 0) -> Any:
    """Reshape with ONNX rules: 0 copies the input dim (unless allowzero), -1 is inferred."""
    return data.reshape(reshape_shape(data.shape, shape, allowzero))


@kernel("Reshape", since=5, until=13)
def Reshape_5(data: Any, shape: np.ndarray) -> Any:
    return reshape(data, ints(shape))


@kernel("Reshape", since=14)
def Reshape(data: Any, shape: np.ndarray, *, allowzero: int = 0) -> Any:
    return reshape(data, ints(shape), allowzero)


@kernel("Flatten", since=1)
def Flatten(x: Any, *, axis: int = 1) -> Any:
    """2-D result (prod(shape[:axis]), prod(shape[axis:])); axis may equal the rank."""
    return x.reshape(flatten_shape(x.shape, axis))


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
    ax = concat_axis([x.shape for x in xs], axis)
    return get_array_module(*xs).concatenate(xs, axis=ax)


def split_tensor(x: Any, sizes: Sequence[int] | None, axis: int, n_out: int, uneven: bool = False) -> list:
    """Split along `axis` into `sizes`, or into `n_out` equal parts (see op_shapes.split_sizes)."""
    ax, sizes = split_sizes(x.shape, sizes, axis, n_out, uneven)
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
    return x[slice_index(x.shape, starts, ends, axes, steps)]


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
    return x.reshape(squeeze_shape(x.shape, axes))


def unsqueeze(x: Any, axes: Sequence[int]) -> Any:
    return x.reshape(unsqueeze_shape(x.shape, axes))


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
    return xp.array(xp.broadcast_to(x, expand_shape(x.shape, shape)), copy=True)


@kernel("Tile", since=6)
def Tile(x: Any, repeats: np.ndarray) -> Any:
    xp = get_array_module(x)
    return xp.tile(x, tile_repeats(x.shape, repeats))


def pad(x: Any, pads: Sequence[int], mode: str = "constant", value: Any = 0,
        axes: Sequence[int] | None = None) -> Any:
    """Pad (negative pads crop) with pads = [begin of each axis..., end of each axis...]."""
    xp = get_array_module(x)
    crop, width = pad_widths(x.shape, pads, mode, axes)
    if crop is not None:
        x = x[crop]
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
    return pad(x, ints(pads), mode, pad_value(constant_value), None if axes is None else ints(axes))


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
