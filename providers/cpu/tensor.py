"""Tensor and shape kernels: Reshape, Flatten, Transpose, Concat, Split, Slice, Gather, Squeeze,
Unsqueeze, Expand, Tile, Pad, Shape, Size, Constant, ConstantOfShape, Identity, Dropout, Range,
Unique, ReverseSequence, BitCast.

Shape-like inputs (Reshape's shape, Slice's starts...) are host int64 arrays. Outputs may be
views of the inputs (Reshape, Transpose, Slice, Split, Squeeze); inputs are never written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.array_module import array_module_of, get_array_module
from ep_runtime.graph import onnx_dtype_to_numpy
from ep_runtime.op_shapes import (
    concat_axis,
    expand_shape,
    flatten_shape,
    ints,
    normalize_axis,
    pad_value,
    pad_widths,
    reshape_shape,
    slice_index,
    split_sizes,
    squeeze_shape,
    tile_repeats,
    unsqueeze_shape,
)

from ._base import as_array, kernel_ranges
from .registry import kernel
from .scatter_gather import wrap_indices

# --------------------------------------------------------------------------- Reshape, Flatten, Transpose


def reshape(data: np.ndarray, shape: Sequence[int], allowzero: int = 0) -> np.ndarray:
    """Reshape with ONNX rules: 0 copies the input dim (unless allowzero), -1 is inferred."""
    return data.reshape(reshape_shape(data.shape, shape, allowzero))


@kernel("Reshape", since=1, until=4)
def Reshape_1(data: np.ndarray, *, shape: list[int] | None = None) -> np.ndarray:
    return reshape(data, shape or [])


@kernel("Reshape", since=5, until=13)
def Reshape_5(data: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return reshape(data, ints(shape))


@kernel("Reshape", since=14)
def Reshape(data: np.ndarray, shape: np.ndarray, *, allowzero: int = 0) -> np.ndarray:
    return reshape(data, ints(shape), allowzero)


@kernel("Flatten", since=1)
def Flatten(x: np.ndarray, *, axis: int = 1) -> np.ndarray:
    """2-D result (prod(shape[:axis]), prod(shape[axis:])); axis may equal the rank."""
    return x.reshape(flatten_shape(x.shape, axis))


@kernel("Transpose", since=1)
def Transpose(x: np.ndarray, *, perm: list[int] | None = None) -> np.ndarray:
    if perm is None:
        return x.transpose()
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return x.transpose(perm)


# --------------------------------------------------------------------------- Concat, Split


def concat(xs: Sequence[Any], axis: int) -> Any:
    xp = np if type(xs[0]) is np.ndarray else get_array_module(*xs)
    return xp.concatenate(xs, axis=concat_axis([x.shape for x in xs], axis))


@kernel("Concat", since=1, until=3)
def Concat_1(*xs: np.ndarray, axis: int = 1) -> np.ndarray:
    return concat(xs, axis)


@kernel("Concat", since=4)
def Concat(*xs: np.ndarray, axis: int | None = None) -> np.ndarray:
    if axis is None:
        raise ValueError("Concat: the axis attribute is required")
    return concat(xs, axis)


def split_tensor(x: np.ndarray, sizes: Sequence[int] | None, axis: int, n_out: int, uneven: bool = False) -> list:
    """Split along `axis` into `sizes`, or into `n_out` equal parts (see op_shapes.split_sizes)."""
    ax, sizes = split_sizes(x.shape, sizes, axis, n_out, uneven)
    index = [slice(None)] * x.ndim
    parts, start = [], 0
    for size in sizes:  # views, as np.split makes, at a fraction of its per-call cost
        index[ax] = slice(start, start + size)
        parts.append(x[tuple(index)])
        start += size
    return parts


@kernel("Split", since=1, until=1, multi_output=True)
def Split_1(x: np.ndarray, split_: np.ndarray | None = None, *, axis: int = 0, split: list[int] | None = None,
            _num_outputs: int = 1) -> list:
    sizes = split if split is not None else (ints(split_) if split_ is not None else None)
    return split_tensor(x, sizes, axis, _num_outputs)


@kernel("Split", since=2, until=12, multi_output=True)
def Split_2(x: np.ndarray, *, axis: int = 0, split: list[int] | None = None, _num_outputs: int = 1) -> list:
    return split_tensor(x, split, axis, _num_outputs)


@kernel("Split", since=13, until=17, multi_output=True)
def Split_13(x: np.ndarray, split: np.ndarray | None = None, *, axis: int = 0, _num_outputs: int = 1) -> list:
    return split_tensor(x, None if split is None else ints(split), axis, _num_outputs)


@kernel("Split", since=18, multi_output=True)
def Split(x: np.ndarray, split: np.ndarray | None = None, *, axis: int = 0, num_outputs: int | None = None,
          _num_outputs: int = 1) -> list:
    if split is not None and num_outputs is not None:
        raise ValueError("Split: give either the split input or the num_outputs attribute, not both")
    n = num_outputs if num_outputs is not None else _num_outputs
    return split_tensor(x, None if split is None else ints(split), axis, n, uneven=True)


# --------------------------------------------------------------------------- Slice, Gather


def slice_(x: np.ndarray, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None = None,
           steps: Sequence[int] | None = None) -> np.ndarray:
    """ONNX Slice: out-of-range starts/ends clamp; a negative step walks backwards."""
    return x[slice_index(x.shape, starts, ends, axes, steps)]


@kernel("Slice", since=1, until=9)
def Slice_1(x: np.ndarray, *, axes: list[int] | None = None, ends: list[int] | None = None,
            starts: list[int] | None = None) -> np.ndarray:
    if starts is None or ends is None:
        raise ValueError("Slice: the starts and ends attributes are required")
    return slice_(x, starts, ends, axes)


@kernel("Slice", since=10)
def Slice(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None = None,
          steps: np.ndarray | None = None) -> np.ndarray:
    return slice_(x, ints(starts), ints(ends), None if axes is None else ints(axes),
                  None if steps is None else ints(steps))


@kernel("Gather", since=1)
def Gather(data: Any, indices: Any, *, axis: int = 0) -> Any:
    ax = normalize_axis(axis, data.ndim, "Gather")
    xp = np
    if type(data) is not np.ndarray:  # CuPy's take wraps out-of-range indices instead of raising: check them
        xp = get_array_module(data)
        indices = wrap_indices(indices, data.shape[ax], "Gather")
    try:
        if xp is np and not data.flags.c_contiguous:
            # np.take first copies the whole of a strided input; indexing reads only the rows asked for
            picked = data[(slice(None),) * ax + (np.asarray(indices),)]
            return picked.copy() if np.ndim(indices) == 0 else picked
        return as_array(xp.take(data, indices, axis=ax))
    except IndexError:
        raise ValueError(f"Gather: an index in {indices.min()}..{indices.max()} is out of range for "
                         f"axis {axis} of size {data.shape[ax]}") from None


@kernel("GatherElements", since=11)
def GatherElements(data: Any, indices: Any, *, axis: int = 0) -> Any:
    ax = normalize_axis(axis, data.ndim, "GatherElements")
    idx = wrap_indices(indices, data.shape[ax], "GatherElements")
    return get_array_module(data).take_along_axis(data, idx, axis=ax)


# --------------------------------------------------------------------------- Squeeze, Unsqueeze


def squeeze(x: np.ndarray, axes: Sequence[int] | None) -> np.ndarray:
    return x.reshape(squeeze_shape(x.shape, axes))


def unsqueeze(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    return x.reshape(unsqueeze_shape(x.shape, axes))


@kernel("Squeeze", since=1, until=12)
def Squeeze_1(x: np.ndarray, *, axes: list[int] | None = None) -> np.ndarray:
    return squeeze(x, axes)


@kernel("Squeeze", since=13)
def Squeeze(x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    return squeeze(x, None if axes is None else ints(axes))


@kernel("Unsqueeze", since=1, until=12)
def Unsqueeze_1(x: np.ndarray, *, axes: list[int] | None = None) -> np.ndarray:
    return unsqueeze(x, axes or [])


@kernel("Unsqueeze", since=13)
def Unsqueeze(x: np.ndarray, axes: np.ndarray) -> np.ndarray:
    return unsqueeze(x, ints(axes))


# --------------------------------------------------------------------------- Expand, Tile, Pad


@kernel("Expand", since=8)
def Expand(x: Any, shape: np.ndarray) -> Any:
    """Bidirectional broadcast of x to `shape` (a materialized array, as onnxruntime returns)."""
    return get_array_module(x).broadcast_to(x, expand_shape(x.shape, shape)).copy()


@kernel("Tile", since=1, until=5)
def Tile_1(x: np.ndarray, tiles: np.ndarray, axis: np.ndarray) -> np.ndarray:
    reps = [1] * x.ndim
    reps[normalize_axis(int(axis), x.ndim, "Tile")] = int(tiles)
    return np.tile(x, reps)


@kernel("Tile", since=6)
def Tile(x: Any, repeats: np.ndarray) -> Any:
    return get_array_module(x).tile(x, tile_repeats(x.shape, repeats))


def pad(x: np.ndarray, pads: Sequence[int], mode: str = "constant", value: Any = 0,
        axes: Sequence[int] | None = None) -> np.ndarray:
    """Pad (negative pads crop) with pads = [begin of each axis..., end of each axis...]."""
    crop, width = pad_widths(x.shape, pads, mode, axes)
    if crop is not None:
        x = x[crop]
    if all(w == (0, 0) for w in width):
        return x
    xp = get_array_module(x)
    if mode == "constant":
        value = np.asarray(value, dtype=x.dtype)
        if x.dtype.kind == "O":
            return np.pad(x, width, mode="constant", constant_values=value)
        y = xp.empty(tuple(d + b + e for d, (b, e) in zip(x.shape, width)), dtype=x.dtype)
        y.fill(value[()])
        y[tuple(slice(b, b + d) for d, (b, _) in zip(x.shape, width))] = x
        return y
    if x.size and all(b < d and e < d for d, (b, e) in zip(x.shape, width) if b or e):
        for ax, (b, e) in enumerate(width):
            if b or e:
                x = _pad_axis(x, ax, b, e, mode)
        return x
    return xp.pad(x, width, mode=mode)  # pads reaching past the input's extent: numpy's repeated rule


def _pad_axis(x: np.ndarray, ax: int, b: int, e: int, mode: str) -> np.ndarray:
    """x padded by b and e < x.shape[ax] on axis `ax` by reflect, edge or wrap (np.pad's result, without
    its per-call cost, which dominates a small tensor's Pad)."""
    dim = x.shape[ax]
    lead = (slice(None),) * ax
    if mode == "reflect":
        stop = dim - 2 - e
        before, after = x[lead + (slice(b, 0, -1),)], x[lead + (slice(dim - 2, stop if stop >= 0 else None, -1),)]
    elif mode == "edge":
        before, after = x[lead + (slice(0, 1),)], x[lead + (slice(dim - 1, dim),)]
        before = before.repeat(b, axis=ax)
        after = after.repeat(e, axis=ax)
    else:  # wrap
        before, after = x[lead + (slice(dim - b, dim),)], x[lead + (slice(0, e),)]
    return get_array_module(x).concatenate((before, x, after), axis=ax)


@kernel("Pad", since=1, until=1)
def Pad_1(x: np.ndarray, *, mode: str = "constant", paddings: list[int] | None = None,
          value: float = 0.0) -> np.ndarray:
    return pad(x, paddings or [], mode, value)


@kernel("Pad", since=2, until=10)
def Pad_2(x: np.ndarray, *, mode: str = "constant", pads: list[int] | None = None, value: float = 0.0) -> np.ndarray:
    return pad(x, pads or [], mode, value)


@kernel("Pad", since=11, until=17)
def Pad_11(x: np.ndarray, pads: np.ndarray, constant_value: np.ndarray | None = None, *,
           mode: str = "constant") -> np.ndarray:
    return pad(x, ints(pads), mode, 0 if constant_value is None else constant_value.reshape(-1)[0])


@kernel("Pad", since=18)
def Pad(x: np.ndarray, pads: np.ndarray, constant_value: np.ndarray | None = None,
        axes: np.ndarray | None = None, *, mode: str = "constant") -> np.ndarray:
    return pad(x, ints(pads), mode, pad_value(constant_value), None if axes is None else ints(axes))


# --------------------------------------------------------------------------- Shape, Size, Identity


@kernel("Shape", since=1, until=14)
def Shape_1(x: np.ndarray) -> np.ndarray:
    return np.array(x.shape, dtype=np.int64)


@kernel("Shape", since=15)
def Shape(x: np.ndarray, *, end: int | None = None, start: int = 0) -> np.ndarray:
    return np.array(x.shape[start:end], dtype=np.int64)


@kernel("Size", since=1)
def Size(x: np.ndarray) -> np.ndarray:
    return np.array(x.size, dtype=np.int64)


@kernel("Identity", since=1)
def Identity(x: Any) -> Any:
    """The input itself (a tensor, a sequence or an optional)."""
    return x


# --------------------------------------------------------------------------- constants, Range


def _constant(value=None, sparse_value=None, value_float=None, value_floats=None, value_int=None,
              value_ints=None, value_string=None, value_strings=None) -> np.ndarray:
    given = [(k, v) for k, v in locals().items() if v is not None]
    if len(given) != 1:
        raise ValueError(f"Constant: exactly one value attribute is expected, got {[k for k, _ in given]}")
    name, v = given[0]
    if name in ("value", "sparse_value"):
        return np.asarray(v)
    if name in ("value_float", "value_floats"):
        return np.array(v, dtype=np.float32)
    if name in ("value_int", "value_ints"):
        return np.array(v, dtype=np.int64)
    if name == "value_string":
        return np.array(v, dtype=object)
    return np.array(list(v), dtype=object)


@kernel("Constant", since=1, until=10)
def Constant_1(*, value: np.ndarray | None = None) -> np.ndarray:
    return _constant(value=value)


@kernel("Constant", since=11, until=11)
def Constant_11(*, sparse_value: np.ndarray | None = None, value: np.ndarray | None = None) -> np.ndarray:
    return _constant(value=value, sparse_value=sparse_value)


@kernel("Constant", since=12)
def Constant(*, sparse_value: np.ndarray | None = None, value: np.ndarray | None = None,
             value_float: float | None = None, value_floats: list[float] | None = None,
             value_int: int | None = None, value_ints: list[int] | None = None, value_string: str | None = None,
             value_strings: list[str] | None = None) -> np.ndarray:
    return _constant(value, sparse_value, value_float, value_floats, value_int, value_ints, value_string,
                     value_strings)


@kernel("ConstantOfShape", since=9, factory=True)
def ConstantOfShape(*, value: np.ndarray | None = None, _provider: Any = None) -> Any:
    """A tensor of `shape` (a host input) filled with `value`, made in the provider's array module."""
    xp = array_module_of(_provider)
    v = np.zeros(1, np.float32) if value is None else np.asarray(value)

    def run(shape: np.ndarray) -> Any:
        dims = ints(shape)
        if any(d < 0 for d in dims):
            raise ValueError(f"ConstantOfShape: negative dimension in {dims}")
        if v.size != 1:
            raise ValueError(f"ConstantOfShape: value must hold one element, got shape {v.shape}")
        return xp.full(dims, v.reshape(-1)[0], dtype=v.dtype)

    return run


@kernel("Range", since=11, until=26)
def Range_11(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return Range(start, limit, delta)


@kernel("Range", since=27)
def Range(start: np.ndarray, limit: np.ndarray, delta: np.ndarray, *, stash_type: int = 1) -> np.ndarray:
    """start, start + delta, ... up to (excluding) limit; n = max(ceil((limit - start) / delta), 0)."""
    s, lim, d = (np.asarray(v).reshape(()) for v in (start, limit, delta))
    if d == 0:
        raise ValueError("Range: delta must not be 0")
    n = max(int(math.ceil((float(lim) - float(s)) / float(d))), 0)
    if s.dtype.kind in "iu":
        return (s + np.arange(n, dtype=s.dtype) * d).astype(s.dtype, copy=False)
    return as_array(s + np.arange(n, dtype=s.dtype) * d, s.dtype)


# --------------------------------------------------------------------------- Dropout


def _dropout(x: Any, ratio: float, training: bool, seed: int | None, num_outputs: int, mask_dtype: Any) -> tuple:
    if not training or ratio == 0:
        outs = (x, get_array_module(x).ones(x.shape, dtype=mask_dtype or x.dtype))
        return outs[:max(num_outputs, 1)]
    if not 0 <= ratio < 1:
        raise ValueError(f"Dropout: ratio must be in [0, 1), got {ratio}")
    # the legacy RandomState, as onnx's reference implementation uses, so that a seed reproduces it
    keep = np.random.RandomState(seed).uniform(0, 1.0, x.shape) >= ratio
    y = as_array(x * keep / (1 - ratio), x.dtype)
    return (y, keep.astype(mask_dtype or x.dtype))[:max(num_outputs, 1)]


@kernel_ranges("Dropout", (1, 6), until=6, multi_output=True)
def Dropout_1(x, *, is_test: int = 0, ratio: float = 0.5, _num_outputs: int = 1):
    return _dropout(x, ratio, not is_test, None, _num_outputs, None)


@kernel("Dropout", since=7, until=9, multi_output=True)
def Dropout_7(x, *, ratio: float = 0.5, _num_outputs: int = 1):
    """Inference: the identity (and an all-ones mask in the input's dtype)."""
    return _dropout(x, ratio, False, None, _num_outputs, None)


@kernel("Dropout", since=10, until=11, multi_output=True)
def Dropout_10(x, *, ratio: float = 0.5, _num_outputs: int = 1):
    return _dropout(x, ratio, False, None, _num_outputs, bool)


@kernel("Dropout", since=12, multi_output=True)
def Dropout(x, ratio: np.ndarray | None = None, training_mode: np.ndarray | None = None, *,
            seed: int | None = None, _num_outputs: int = 1):
    """Identity unless training_mode is true; then drops with probability `ratio` and scales."""
    r = 0.5 if ratio is None else float(ratio.reshape(()))
    training = training_mode is not None and bool(training_mode.reshape(()))
    return _dropout(x, r, training, seed, _num_outputs, bool)


# --------------------------------------------------------------------------- Unique, ReverseSequence, BitCast


def unique(x: np.ndarray, axis: int | None, sorted_: bool, num_outputs: int) -> tuple:
    """The distinct values (or slices along `axis`), the first index of each, the inverse indices
    and the counts; sorted ascending or, with sorted_=False, in order of first occurrence."""
    ax = None if axis is None else normalize_axis(axis, x.ndim, "Unique")
    data = x.reshape(-1) if ax is None else x
    try:
        y, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True, return_counts=True,
                                              axis=ax)
    except TypeError:  # dtypes numpy cannot sort structurally (bfloat16 along an axis): go through float32
        y, first, inverse, counts = np.unique(data.astype(np.float32), return_index=True, return_inverse=True,
                                              return_counts=True, axis=ax)
        y = y.astype(x.dtype)
    inverse = inverse.reshape(-1)
    if not sorted_:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        y = np.take(y, order, axis=0 if ax is None else ax)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    outs = (as_array(y, x.dtype), first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64))
    return outs[:max(num_outputs, 1)]


@kernel("Unique", since=11, multi_output=True)
def Unique(x: np.ndarray, *, axis: int | None = None, sorted: int = 1, _num_outputs: int = 1) -> tuple:  # noqa: A002
    return unique(x, axis, bool(sorted), _num_outputs)


@kernel("ReverseSequence", since=10)
def ReverseSequence(x: np.ndarray, sequence_lens: np.ndarray, *, batch_axis: int = 1,
                    time_axis: int = 0) -> np.ndarray:
    """Reverse the first sequence_lens[b] steps along `time_axis` of every batch entry b."""
    if x.ndim < 2 or {batch_axis, time_axis} - {0, 1} or batch_axis == time_axis:
        raise ValueError(f"ReverseSequence: batch_axis {batch_axis} and time_axis {time_axis} must be 0 and 1 "
                         f"(in some order) of a tensor of rank >= 2, got shape {x.shape}")
    batch, steps = x.shape[batch_axis], x.shape[time_axis]
    lens = sequence_lens.astype(np.int64).reshape(-1)
    if lens.size != batch or (lens < 0).any() or (lens > steps).any():
        raise ValueError(f"ReverseSequence: sequence_lens {lens.tolist()} must give one length in [0, {steps}] "
                         f"for each of the {batch} batch entries")
    t = np.arange(steps).reshape(1, -1)
    src = np.where(t < lens.reshape(-1, 1), lens.reshape(-1, 1) - 1 - t, t)  # (batch, time)
    if time_axis == 0:
        src = src.T
    src = src.reshape(src.shape + (1,) * (x.ndim - 2))
    return np.take_along_axis(x, np.broadcast_to(src, x.shape), axis=time_axis)


@kernel("BitCast", since=26)
def BitCast(x: np.ndarray, *, to: int | None = None) -> np.ndarray:
    """The same bits read as another type of the same width (no value conversion)."""
    if to is None:
        raise ValueError("BitCast: the 'to' attribute is required")
    dt = onnx_dtype_to_numpy(to)
    if x.dtype.kind == "O" or dt.kind == "O":
        raise ValueError("BitCast: string tensors cannot be bit-cast")
    if x.dtype.itemsize != dt.itemsize:
        raise ValueError(f"BitCast: {x.dtype} ({8 * x.dtype.itemsize} bits) and {dt} ({8 * dt.itemsize} bits) "
                         f"differ in width")
    return (x if x.flags.c_contiguous else x.copy()).view(dt)
