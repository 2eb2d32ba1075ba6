"""Shape and data-movement ops: views (Reshape, Flatten, Squeeze, Unsqueeze), strided copies
(Transpose, Slice, Expand, Concat, Split; the copy kernels are in copies.py), Gather, Pad, Tile, Resize, Cast.

Data movement is built per element size (tensor.cl with T = uchar/ushort/uint/ulong), so these
ops take any storable dtype. Host-only inputs (Reshape's shape, Slice's starts...) arrive as
numpy arrays (ep_runtime.host_inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node, onnx_dtype_to_numpy
from ep_runtime.op_shapes import (
    concat_axis,
    ints,
    nearest_taps,
    normalize_axis,
    resize_output_geometry,
    slice_index,
    source_coordinates,
    split_sizes,
)

from .copies import bits, expand, strided_copy
from .launch import MAX_RANK, broadcast_shape, int8
from .registry import FLOATS, kernel
from .runtime import CL_TYPES, Launcher, contiguous_strides, ftype, prod

CL = "tensor.cl"


# ---------------------------------------------------------------- views


def _reshape(x: Any, shape: Any, allowzero: int = 0) -> Any:
    dims = ints(shape)
    out = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(dims)]
    if out.count(-1) > 1:
        raise ValueError(f"Reshape: more than one -1 in {dims}")
    if -1 in out:
        known = prod([d for d in out if d != -1])
        out[out.index(-1)] = x.size // known if known else 0
    if prod(out) != x.size:
        raise ValueError(f"Reshape: cannot reshape {x.shape} into {dims}")
    return x.reshape(tuple(out))


@kernel("Reshape", since=5, until=13, factory=True)
def Reshape_5(*, _provider):
    return lambda x, shape: _reshape(x, shape)


@kernel("Reshape", since=14, factory=True)
def Reshape(*, allowzero: int = 0, _provider):
    return lambda x, shape: _reshape(x, shape, allowzero)


@kernel("Flatten", since=1, factory=True)
def Flatten(*, axis: int = 1, _provider):
    def run(x):
        a = axis + x.ndim if axis < 0 else axis
        return x.reshape((prod(x.shape[:a]), prod(x.shape[a:])))

    return run


def _squeeze(x: Any, axes: Any) -> Any:
    if axes is None or len(ints(axes)) == 0:
        return x.reshape(tuple(d for d in x.shape if d != 1))
    ax = {normalize_axis(a, x.ndim, "Squeeze") for a in ints(axes)}
    for a in ax:
        if x.shape[a] != 1:
            raise ValueError(f"Squeeze: axis {a} of shape {x.shape} is not 1")
    return x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in ax))


def _unsqueeze(x: Any, axes: Any) -> Any:
    rank = x.ndim + len(ints(axes))
    ax = sorted(normalize_axis(a, rank, "Unsqueeze") for a in ints(axes))
    shape = list(x.shape)
    for a in ax:
        shape.insert(a, 1)
    return x.reshape(tuple(shape))


@kernel("Squeeze", since=1, until=12, factory=True)
def Squeeze_1(*, axes: list[int] | None = None, _provider):
    return lambda x: _squeeze(x, axes)


@kernel("Squeeze", since=13, factory=True)
def Squeeze(*, _provider):
    return lambda x, axes=None: _squeeze(x, axes)


@kernel("Unsqueeze", since=1, until=12, factory=True)
def Unsqueeze_1(*, axes: list[int] | None = None, _provider):
    return lambda x: _unsqueeze(x, axes)


@kernel("Unsqueeze", since=13, factory=True)
def Unsqueeze(*, _provider):
    return lambda x, axes: _unsqueeze(x, axes)


# ---------------------------------------------------------------- strided copies


@kernel("Transpose", since=1, factory=True)
def Transpose(*, perm: list[int] | None = None, _provider):
    """Lazy, like numpy's: a view with permuted strides; the first consumer that needs a contiguous
    array (anything but Transpose and Identity, see OpenCLExecutionProvider.kernel_call) copies it."""

    def run(x):
        p = list(perm) if perm is not None else list(range(x.ndim))[::-1]
        return x.transpose(p)

    return run


def concat(rt: Launcher, xs: Sequence[Any], axis: int) -> Any:
    axis = concat_axis([x.shape for x in xs], axis)
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    y = rt.empty(shape, xs[0].dtype)
    ds = contiguous_strides(shape)
    off = 0
    for x in xs:
        strided_copy(rt, x, y, x.shape, contiguous_strides(x.shape), 0, ds, off * ds[axis])
        off += x.shape[axis]
    return y


@kernel("Concat", since=4, factory=True)
def Concat(*, axis: int | None = None, _provider):
    if axis is None:
        raise ValueError("Concat: the axis attribute is required")
    rt = _provider.rt
    return lambda *xs: concat(rt, xs, axis)


def split_tensor(rt: Launcher, x: Any, sizes: Sequence[int] | None, axis: int, n_out: int) -> list[Any]:
    if sizes:
        axis, sizes = split_sizes(x.shape, sizes, axis, n_out)
    else:
        axis = normalize_axis(axis, x.ndim, "Split")
        dim = x.shape[axis]
        chunk = -(-dim // n_out)
        sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(n_out)]
    cs = contiguous_strides(x.shape)
    outs, off = [], 0
    for s in sizes:
        shape = list(x.shape)
        shape[axis] = s
        y = rt.empty(shape, x.dtype)
        strided_copy(rt, x, y, shape, cs, off * cs[axis], contiguous_strides(shape), 0)
        outs.append(y)
        off += s
    return outs


@kernel("Split", since=2, until=12, factory=True, multi_output=True)
def Split_2(*, axis: int = 0, split: list[int] | None = None, _provider, _num_outputs: int = 1):
    rt = _provider.rt
    return lambda x: split_tensor(rt, x, split, axis, _num_outputs)


@kernel("Split", since=13, until=17, factory=True, multi_output=True)
def Split_13(*, axis: int = 0, _provider, _num_outputs: int = 1):
    rt = _provider.rt
    return lambda x, sizes=None: split_tensor(rt, x, ints(sizes), axis, _num_outputs)


@kernel("Split", since=18, factory=True, multi_output=True)
def Split(*, axis: int = 0, num_outputs: int | None = None, _provider, _num_outputs: int = 1):
    rt = _provider.rt
    return lambda x, sizes=None: split_tensor(rt, x, ints(sizes), axis, _num_outputs)


def slice_(rt: Launcher, x: Any, starts, ends, axes=None, steps=None) -> Any:
    """Slice as one strided copy; the geometry (clamping, negative steps, axes checks) is op_shapes.slice_index's."""
    index = slice_index(x.shape, ints(starts), ints(ends), None if axes is None else ints(axes),
                        None if steps is None else ints(steps))
    cs = contiguous_strides(x.shape)
    shape = list(x.shape)
    sstride = list(cs)
    off = 0
    for a, part in enumerate(index):
        start, stop, st = part.indices(x.shape[a])
        length = len(range(start, stop, st))
        shape[a] = length
        sstride[a] = cs[a] * st
        off += start * cs[a] if length else 0
    y = rt.empty(shape, x.dtype)
    strided_copy(rt, x, y, shape, sstride, off, contiguous_strides(shape), 0)
    return y


@kernel("Slice", since=1, until=9, factory=True)
def Slice_1(*, axes: list[int] | None = None, ends: list[int] | None = None, starts: list[int] | None = None,
            _provider):
    rt = _provider.rt
    return lambda x: slice_(rt, x, starts, ends, axes)


@kernel("Slice", since=10, factory=True)
def Slice(*, _provider):
    rt = _provider.rt
    return lambda x, starts, ends, axes=None, steps=None: slice_(rt, x, starts, ends, axes, steps)


def _index_dtype(node: Node, graph: Graph) -> str | None:
    dt = graph.value(node.inputs[1]).dtype
    if dt not in (np.dtype(np.int64), np.dtype(np.int32)):
        return f"Gather indices of dtype {dt} unsupported (int32/int64 only)"
    return None


@kernel("Gather", since=1, factory=True, supports=_index_dtype)
def Gather(*, axis: int = 0, _provider):
    rt = _provider.rt

    def run(x, idx):
        a = normalize_axis(axis, x.ndim, "Gather")
        shape = tuple(x.shape[:a]) + tuple(idx.shape) + tuple(x.shape[a + 1:])
        y = rt.empty(shape, x.dtype)
        inner = prod(x.shape[a + 1:])
        knl = rt.kernel(CL, "gather", T=bits(x.dtype), IDX=CL_TYPES[idx.dtype])
        n = y.size
        if not n:
            return y
        if x.shape[a] == 0:
            raise IndexError(f"Gather: indexing axis {axis} of size 0")
        bad = rt.to_device(np.zeros(1, np.int32))
        rt.launch1d(knl, n, np.int32(n), np.int32(max(idx.size, 1)), np.int32(max(inner, 1)),
                    np.int32(x.shape[a]), x.data, idx.data, y.data, bad.data)
        if bad.get()[0]:  # waits for the kernel: an out-of-range index must not give a silently wrong answer
            host_idx = idx.get()
            raise IndexError(f"Gather: an index in {host_idx.min()}..{host_idx.max()} is out of range for "
                             f"axis {axis} of size {x.shape[a]}")
        return y

    return run


@kernel("Expand", since=8, factory=True)
def Expand(*, _provider):
    rt = _provider.rt

    def run(x, shape):
        out = broadcast_shape(x.shape, ints(shape))
        return expand(rt, x, out)

    return run


@kernel("Tile", since=6, factory=True)
def Tile(*, _provider):
    rt = _provider.rt

    def run(x, repeats):
        reps = ints(repeats)
        if len(reps) != x.ndim:
            raise ValueError(f"Tile: {len(reps)} repeats for rank {x.ndim}")
        out = tuple(d * r for d, r in zip(x.shape, reps))
        y = rt.empty(out, x.dtype)
        if y.size == 0:
            return y
        if x.ndim > MAX_RANK:
            raise ValueError(f"Tile: rank {x.ndim} > {MAX_RANK}")
        knl = rt.kernel(CL, "tile", T=bits(x.dtype))
        rt.launch1d(knl, y.size, np.int32(y.size), np.int32(max(x.ndim, 1)), int8(out or (1,)),
                    int8(x.shape or (1,)), x.data, y.data)
        return y

    return run


# ---------------------------------------------------------------- Pad

PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}


def pad(rt: Launcher, x: Any, pads: Sequence[int], mode: str, value: Any, axes: Sequence[int] | None = None) -> Any:
    rank = x.ndim
    if mode not in PAD_MODES:
        raise ValueError(f"Pad: mode {mode!r} unsupported")
    axes = [normalize_axis(a, rank, "Pad") for a in axes] if axes is not None else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad: {len(pads)} pads for {len(axes)} axes")
    begin = [0] * rank
    end = [0] * rank
    for i, a in enumerate(axes):
        begin[a], end[a] = int(pads[i]), int(pads[i + len(axes)])
    out = [d + b + e for d, b, e in zip(x.shape, begin, end)]
    if any(o < 0 for o in out):
        raise ValueError(f"Pad: negative output shape {out}")
    y = rt.empty(out, x.dtype)
    if y.size == 0:
        return y
    if x.size == 0 and mode != "constant":
        raise ValueError(f"Pad: mode {mode} of an empty tensor")
    if rank > MAX_RANK:
        raise ValueError(f"Pad: rank {rank} > {MAX_RANK}")
    if x.size == 0:
        x = rt.empty((1,) * rank, x.dtype)  # never read: every output position is padding
        in_shape = [1] * rank
        begin = [d + 1 for d in out]
    else:
        in_shape = list(x.shape)
    bt = bits(x.dtype)
    raw = np.asarray(value if value is not None else 0).astype(x.dtype).reshape(-1)[:1]
    raw = raw if raw.size else np.zeros(1, x.dtype)
    fill = raw.view(np.dtype(f"u{x.dtype.itemsize}"))[0]
    knl = rt.kernel(CL, "pad", T=bt)
    rt.launch1d(knl, y.size, np.int32(y.size), np.int32(max(rank, 1)), int8(out or [1]), int8(in_shape or [1]),
                int8(begin or [0]), np.int32(PAD_MODES[mode]), fill, x.data, y.data)
    return y


def _pad_mode(node: Node, graph: Graph) -> str | None:
    mode = node.attrs.get("mode", "constant")
    if mode not in PAD_MODES:
        return f"Pad mode={mode!r} unsupported"
    return None


@kernel("Pad", since=2, until=10, factory=True, supports=_pad_mode)
def Pad_2(*, mode: str = "constant", pads: list[int] | None = None, value: float = 0.0, _provider):
    rt = _provider.rt
    return lambda x: pad(rt, x, pads or [], mode, value)


@kernel("Pad", since=11, until=17, factory=True, supports=_pad_mode)
def Pad_11(*, mode: str = "constant", _provider):
    rt = _provider.rt
    return lambda x, pads, value=None: pad(rt, x, ints(pads), mode, value)


@kernel("Pad", since=18, factory=True, supports=_pad_mode)
def Pad(*, mode: str = "constant", _provider):
    rt = _provider.rt
    return lambda x, pads, value=None, axes=None: pad(rt, x, ints(pads), mode, value,
                                                      ints(axes) if axes is not None else None)


# ---------------------------------------------------------------- Cast

CASTABLE = frozenset(np.dtype(t) for t in (np.float32, np.float16, np.float64, np.int64, np.int32, np.int16,
                                           np.int8, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_))


def _cast_check(node: Node, graph: Graph) -> str | None:
    src = graph.value(node.inputs[0]).dtype
    try:
        dst = onnx_dtype_to_numpy(int(node.attrs.get("to", 0)))
    except Exception:
        return f"Cast to type {node.attrs.get('to')} unsupported"
    for dt in (src, dst):
        if dt not in CASTABLE:
            return f"Cast involving {dt} unsupported"
    return None


def cast(rt: Launcher, x: Any, dst: np.dtype) -> Any:
    if x.dtype == dst:
        return x
    y = rt.empty(x.shape, dst)
    defines: dict[str, Any] = {"SRC": CL_TYPES[x.dtype], "DST": CL_TYPES[dst]}
    if x.dtype == np.float16:
        defines.update(SRC="ushort", SRC_HALF=1)
    if dst == np.float16:
        defines.update(DST="ushort", DST_HALF=1)
    if dst == np.bool_:
        defines["DST_BOOL"] = 1
    if np.dtype(np.float64) in (x.dtype, dst):
        defines["USE_DOUBLE"] = 1
    knl = rt.kernel("cast.cl", "cast", **defines)
    rt.launch1d(knl, x.size, np.int32(x.size), x.data, y.data)
    return y


@kernel("Cast", since=6, factory=True, supports=_cast_check)
def Cast(*, to: int, saturate: int = 1, _provider):
    rt = _provider.rt
    dst = onnx_dtype_to_numpy(int(to))
    return lambda x: cast(rt, x, dst)


# ---------------------------------------------------------------- Resize


RESIZE_COORDS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                 "tf_half_pixel_for_nn")


def _resize_check(node: Node, graph: Graph) -> str | None:
    a = node.attrs
    if a.get("mode", "nearest") not in ("nearest", "linear"):
        return f"Resize mode={a.get('mode')!r} unsupported"
    if a.get("coordinate_transformation_mode", "half_pixel") not in RESIZE_COORDS:
        return f"Resize coordinate_transformation_mode={a.get('coordinate_transformation_mode')!r} unsupported"
    if a.get("antialias", 0):
        return "Resize antialias=1 unsupported"
    if a.get("nearest_mode", "round_prefer_floor") not in ("round_prefer_floor", "round_prefer_ceil", "floor",
                                                           "ceil"):
        return f"Resize nearest_mode={a.get('nearest_mode')!r} unsupported"
    dt = graph.value(node.inputs[0]).dtype
    if a.get("mode", "nearest") == "linear" and dt not in (np.dtype(np.float32), np.dtype(np.float16)):
        return f"Resize linear on {dt} unsupported"
    return None


def _opt(v):
    if v is None:
        return None
    v = np.asarray(v)
    return None if v.size == 0 else v


def resize_factory(rt: Launcher, mode: str, ctm: str, nearest_mode: str, axes_attr, policy: str):
    tables: dict[tuple, list] = {}

    def plan(shape, scales, sizes):
        axes = [normalize_axis(a, len(shape), "Resize") for a in axes_attr] if axes_attr else list(range(len(shape)))
        out, factors = resize_output_geometry(shape, scales, sizes, axes, policy)
        key = (tuple(shape), tuple(out), tuple(factors))
        if key in tables:
            return out, tables[key]
        steps = []
        for a in axes:
            in_len, out_len, scale = shape[a], out[a], factors[a]
            if out_len == in_len and scale == 1.0:
                continue
            if in_len == 0 or out_len == 0:
                steps.append((a, out_len, None))
                continue
            src = source_coordinates(ctm, out_len, in_len, scale, None)
            if mode == "nearest":
                idx = nearest_taps(src, in_len, nearest_mode, False)[:, 0].astype(np.int32)
                steps.append((a, out_len, (rt.to_device(idx),)))
            else:
                base = np.ceil(src) - 1
                w1 = 1 - np.abs(base + 1 - src)
                w1 = np.clip(w1, 0, 1)
                i0 = np.clip(base, 0, in_len - 1).astype(np.int32)
                i1 = np.clip(base + 1, 0, in_len - 1).astype(np.int32)
                steps.append((a, out_len, (rt.to_device(i0), rt.to_device(i1),
                                           rt.to_device(w1.astype(np.float32)))))
        tables[key] = steps
        return out, steps

    def run(x, roi=None, scales=None, sizes=None):
        scales, sizes = _opt(scales), _opt(sizes)
        if (scales is None) == (sizes is None):
            raise ValueError("Resize: exactly one of scales and sizes must be given")
        _, steps = plan(tuple(x.shape), scales, sizes)
        cur = x
        for a, out_len, tab in steps:
            shape = list(cur.shape)
            in_len = shape[a]
            shape[a] = out_len
            y = rt.empty(shape, x.dtype)
            if tab is None or y.size == 0:
                cur = y
                continue
            inner = prod(shape[a + 1:])
            if len(tab) == 1:
                knl = rt.kernel(CL, "resize_nearest_axis", T=bits(x.dtype))
            else:
                knl = rt.kernel(CL, "resize_linear_axis", T=ftype(x.dtype), FLOAT_OPS=1)
            rt.launch1d(knl, y.size, np.int32(y.size), np.int32(out_len), np.int32(inner), np.int32(in_len),
                        *[t.data for t in tab], cur.data, y.data)
            cur = y
        if cur is x:
            y = rt.empty(x.shape, x.dtype)
            strided_copy(rt, x, y, x.shape, contiguous_strides(x.shape), 0, contiguous_strides(x.shape), 0)
            cur = y
        return cur

    return run


@kernel("Resize", since=11, until=12, factory=True, supports=_resize_check)
def Resize_11(*, coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
              exclude_outside: int = 0, extrapolation_value: float = 0.0, mode: str = "nearest",
              nearest_mode: str = "round_prefer_floor", _provider):
    return resize_factory(_provider.rt, mode, coordinate_transformation_mode, nearest_mode, None, "stretch")


@kernel("Resize", since=13, until=17, factory=True, supports=_resize_check)
def Resize_13(*, coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
              exclude_outside: int = 0, extrapolation_value: float = 0.0, mode: str = "nearest",
              nearest_mode: str = "round_prefer_floor", _provider):
    return resize_factory(_provider.rt, mode, coordinate_transformation_mode, nearest_mode, None, "stretch")


@kernel("Resize", since=18, factory=True, supports=_resize_check)
def Resize(*, antialias: int = 0, axes: list[int] | None = None, coordinate_transformation_mode: str = "half_pixel",
           cubic_coeff_a: float = -0.75, exclude_outside: int = 0, extrapolation_value: float = 0.0,
           keep_aspect_ratio_policy: str = "stretch", mode: str = "nearest",
           nearest_mode: str = "round_prefer_floor", _provider):
    return resize_factory(_provider.rt, mode, coordinate_transformation_mode, nearest_mode, axes,
                          keep_aspect_ratio_policy)


__all__ = ["FLOATS", "cast", "concat", "expand", "pad", "slice_", "split_tensor", "strided_copy"]
