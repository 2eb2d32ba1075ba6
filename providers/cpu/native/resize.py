"""Native Resize and Upsample of float32 tensors over their last two axes (csrc/resize.c).

The C kernel reads the numpy kernel's own tap tables (`providers/cpu/resize.py`, `axis_plan`) and
resamples the two axes in the numpy kernel's order, so nearest gives its bits and linear its sums.
It takes the nearest mode (every nearest_mode, and Upsample's) and the linear mode without antialias,
with every coordinate_transformation_mode but tf_crop_and_resize, from scales or sizes, when only the
last two axes change. Everything else (cubic, antialias, tf_crop_and_resize, a resized batch or channel
axis, other dtypes, empty tensors) runs the numpy kernel. Each node plans the C call once per input
shape and scales (or sizes) and keeps the plan.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import normalize_axes
from ep_runtime.op_shapes import resize_output_geometry as output_geometry
from ep_runtime.threads import intra_op_threads

from .. import resize as reference
from . import library
from ._register import F32, is_f32_array, native_kernel

#: csrc/ep_native.h: EP_RESIZE_UNCOVERED, EP_RESIZE_MAX_TAPS
UNCOVERED = 1
MAX_TAPS = 16

#: the coordinate modes whose taps the C kernel applies (tf_crop_and_resize also extrapolates: numpy)
COORDINATE_MODES = frozenset(("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                              "asymmetric", "tf_half_pixel_for_nn"))


class ResizePlan(ctypes.Structure):
    """csrc/ep_native.h's ep_resize_plan: the geometry, the axis order and the tap tables of one resize."""

    _fields_ = [(name, ctypes.c_int64) for name in ("planes", "in_h", "in_w", "out_h", "out_w", "taps_h", "taps_w",
                                                    "rows_first")] + \
               [(name, ctypes.c_void_p) for name in ("idx_h", "w_h", "idx_w", "w_w")]


class Plan(NamedTuple):
    """One call of ep_resize_f32 for an input shape: the output shape, the C plan (and its address) and the
    tables it points into."""

    out_shape: tuple[int, ...]
    c_plan: ResizePlan
    address: int
    tables: tuple[np.ndarray | None, ...]


def _axis_tables(mode: str, coordinate_transformation_mode: str, nearest_mode: str, exclude_outside: bool,
                 in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The numpy kernel's taps of one axis as C arrays: indices (int64) and weights (float32; None: nearest)."""
    p = reference.axis_plan(mode, coordinate_transformation_mode, nearest_mode, -0.75, False, exclude_outside,
                            in_len, out_len, scale, None)
    idx = np.ascontiguousarray(p.idx, dtype=np.int64)
    w = None if p.w is None else np.ascontiguousarray(p.w, dtype=np.float32)
    return idx, w


def plan(shape: tuple[int, ...], scales: tuple[float, ...] | None, sizes: tuple[int, ...] | None,
         axes: tuple[int, ...] | None, keep_aspect_ratio_policy: str, mode: str, coordinate_transformation_mode: str,
         nearest_mode: str, exclude_outside: bool, roi_size: int) -> Plan | None:
    """The C call resizing `shape` as the numpy kernel would, or None where the C kernel does not apply or
    the node is invalid (the numpy kernel then runs, and reports what is wrong). Nodes keep the plans they
    use (`node_runner`); the axis tables come from the numpy kernel's own cache."""
    rank = len(shape)
    if rank < 2 or mode not in ("nearest", "linear") or coordinate_transformation_mode not in COORDINATE_MODES:
        return None
    try:
        ax = list(normalize_axes(list(axes), rank, "Resize")) if axes is not None else list(range(rank))
        if roi_size and roi_size != 2 * len(ax):
            return None
        out, factors = output_geometry(shape, None if scales is None else np.asarray(scales, dtype=np.float64),
                                       None if sizes is None else np.asarray(sizes, dtype=np.int64),
                                       ax, keep_aspect_ratio_policy)
    except ValueError:
        return None
    resized = {a for a in ax if not (out[a] == shape[a] and factors[a] == 1.0)}
    if any(a < rank - 2 for a in resized) or 0 in out or 0 in shape:
        return None
    tables: list[np.ndarray | None] = []
    taps: list[int] = []
    for a in (rank - 2, rank - 1):
        if a in resized:
            idx, w = _axis_tables(mode, coordinate_transformation_mode, nearest_mode, exclude_outside, shape[a],
                                  out[a], factors[a])
            if idx.shape[1] > MAX_TAPS:
                return None
            tables += [idx, w]
            taps.append(idx.shape[1])
        else:
            tables += [None, None]
            taps.append(1)
    in_h, out_h = shape[-2], out[-2]
    planes = int(np.prod(shape[:-2], dtype=np.int64)) if rank > 2 else 1

    def ratio(a: int) -> float:
        return out[a] / max(shape[a], 1)

    # the numpy kernel resamples the axis of the smaller out/in ratio first, the innermost on a tie
    rows_first = int(ratio(rank - 2) < ratio(rank - 1))
    ptrs = [None if t is None else t.ctypes.data for t in tables]
    c_plan = ResizePlan(planes, in_h, shape[-1], out_h, out[-1], taps[0], taps[1], rows_first, *ptrs)
    return Plan(tuple(out), c_plan, ctypes.addressof(c_plan), tuple(tables))


def _supports(node: Node, graph: Graph) -> str | None:
    """Refuse, from the attributes, what the C kernel never takes (the numpy kernel runs the node)."""
    mode = node.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        return f"the native Resize is nearest or linear, not {mode!r}"
    if node.attrs.get("antialias", 0):
        return "the native Resize has no antialias"
    ctm = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    if ctm not in COORDINATE_MODES:
        return f"the native Resize does not take coordinate_transformation_mode {ctm!r}"
    return None


def _key(value: Any, kind: type) -> tuple | None:
    """An optional scales / sizes input as a tuple of Python numbers (an empty tensor counts as absent, as in the
    numpy kernel)."""
    if value is None:
        return None
    value = np.asarray(value)
    if value.size == 0:
        return None
    return tuple(kind(v) for v in value.reshape(-1).tolist())


def resize(x: np.ndarray, scales: Any, sizes: Any, roi: Any, axes: list[int] | None = None,
           keep_aspect_ratio_policy: str = "stretch", mode: str = "nearest",
           coordinate_transformation_mode: str = "half_pixel", nearest_mode: str = "round_prefer_floor",
           exclude_outside: int = 0, antialias: int = 0) -> np.ndarray | None:
    """`x` resized by the C kernel, or None when it does not apply: the caller then runs the numpy kernel."""
    if library.LIB is None or antialias or not is_f32_array(x) or x.size == 0:
        return None
    try:
        found = plan(x.shape, _key(scales, float), _key(sizes, int), None if axes is None else tuple(axes),
                     keep_aspect_ratio_policy, mode, coordinate_transformation_mode, nearest_mode,
                     bool(exclude_outside), 0 if roi is None else int(np.asarray(roi).size))
    except (TypeError, ValueError, OverflowError):
        return None
    return None if found is None else run_plan(x, found)


def run_plan(x: np.ndarray, found: Plan) -> np.ndarray | None:
    """`x` (float32) resized by the C kernel as `found` says, or None if the C kernel refuses the tables."""
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    y = np.empty(found.out_shape, F32)
    rc = library.LIB.ep_resize_f32(x.ctypes.data, y.ctypes.data, found.address, intra_op_threads())
    if rc == 0:
        return y
    if rc == UNCOVERED:
        return None
    raise MemoryError("Resize: the native kernel could not allocate its scratch memory")


#: plans a node keeps (one per input shape and scales / sizes it has seen)
NODE_PLANS = 8


def _input_key(value: Any) -> Any:
    """What identifies an optional host input (scales, sizes) for a node's plan cache."""
    if value is None:
        return None
    if type(value) is np.ndarray:
        return value.dtype.char, value.shape, value.tobytes()
    raise TypeError(f"unexpected input type {type(value).__name__}")


def constant_inputs(node: Node | None, graph: Graph | None, first: int) -> bool:
    """Whether every input of `node` from position `first` on is absent or a constant the session hands to every
    run as the same array (Graph.is_constant, the rule of conv.PackedWeights.for_node)."""
    if node is None or graph is None:
        return False
    return all(not name or graph.is_constant(name) for name in node.inputs[first:])


def node_runner(fallback: Callable[..., Any], axes: list[int] | None, keep_aspect_ratio_policy: str, mode: str,
                coordinate_transformation_mode: str, nearest_mode: str, exclude_outside: int, antialias: int,
                constant: bool = False) -> Callable[..., Any]:
    """The function running one node, `run(x, roi, scales, sizes)`: the C kernel where it applies, else
    `fallback` with the same inputs. Its plan is looked up by input shape and the bytes of scales / sizes;
    when those inputs are `constant` (the same arrays every run), the last plan is first tried by identity."""
    covered = (library.LIB is not None and not antialias and mode in ("nearest", "linear")
               and coordinate_transformation_mode in COORDINATE_MODES)
    axes_key = None if axes is None else tuple(axes)
    plans = library.PlanCache(NODE_PLANS)
    # the last lookup, replaced as one tuple (concurrent runs): x shape, roi, scales, sizes (held, so that their
    # ids stay unique), plan
    last: list[tuple[Any, ...]] = [(None, None, None, None, None)]

    def make(x: np.ndarray, scales: Any, sizes: Any, roi_size: int) -> Plan | None:
        return None if x.size == 0 else plan(
            x.shape, _key(scales, float), _key(sizes, int), axes_key, keep_aspect_ratio_policy, mode,
            coordinate_transformation_mode, nearest_mode, bool(exclude_outside), roi_size)

    def lookup(x: np.ndarray, roi: Any, scales: Any, sizes: Any) -> Plan | None:
        try:
            key = (x.shape, _input_key(scales), _input_key(sizes), 0 if roi is None else np.size(roi))
            found = plans.get(key, make, x, scales, sizes, key[3])
        except (TypeError, ValueError, OverflowError):
            return None
        if constant:
            last[0] = (x.shape, roi, scales, sizes, found)
        return found

    def run(x: Any, roi: Any = None, scales: Any = None, sizes: Any = None) -> Any:
        if covered and type(x) is np.ndarray and x.dtype == F32:
            entry = last[0]
            if scales is entry[2] and sizes is entry[3] and roi is entry[1] and x.shape == entry[0]:
                found = entry[4]
            else:
                found = lookup(x, roi, scales, sizes)
            if found is not None:
                y = run_plan(x, found)
                if y is not None:
                    return y
        return fallback(x, roi, scales, sizes)

    return run


@native_kernel("Resize", 18, factory=True, supports=_supports)
def Resize(*, antialias: int = 0, axes: list[int] | None = None, coordinate_transformation_mode: str = "half_pixel",
           cubic_coeff_a: float = -0.75, exclude_outside: int = 0, extrapolation_value: float = 0.0,
           keep_aspect_ratio_policy: str = "stretch", mode: str = "nearest", nearest_mode: str = "round_prefer_floor",
           _provider: Any = None, _node: Node | None = None, _graph: Graph | None = None) -> Callable[..., Any]:
    """The kernel of one Resize-18+ node (tf_half_pixel_for_nn, removed in 18, is the numpy kernel's error)."""
    attrs = dict(antialias=antialias, axes=axes, coordinate_transformation_mode=coordinate_transformation_mode,
                 cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside,
                 extrapolation_value=extrapolation_value, keep_aspect_ratio_policy=keep_aspect_ratio_policy, mode=mode,
                 nearest_mode=nearest_mode, _provider=_provider)
    ctm = "" if coordinate_transformation_mode == "tf_half_pixel_for_nn" else coordinate_transformation_mode
    return node_runner(functools.partial(reference.Resize, **attrs), axes, keep_aspect_ratio_policy, mode, ctm,
                       nearest_mode, exclude_outside, antialias, constant_inputs(_node, _graph, 1))


@native_kernel("Resize", 11, until=17, factory=True, supports=_supports)
def Resize_11(*, coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
              exclude_outside: int = 0, extrapolation_value: float = 0.0, mode: str = "nearest",
              nearest_mode: str = "round_prefer_floor", _provider: Any = None, _node: Node | None = None,
              _graph: Graph | None = None) -> Callable[..., Any]:
    """The kernel of one Resize-11 to 17 node."""
    attrs = dict(coordinate_transformation_mode=coordinate_transformation_mode, cubic_coeff_a=cubic_coeff_a,
                 exclude_outside=exclude_outside, extrapolation_value=extrapolation_value, mode=mode,
                 nearest_mode=nearest_mode, _provider=_provider)
    return node_runner(functools.partial(reference.Resize_11, **attrs), None, "stretch", mode,
                       coordinate_transformation_mode, nearest_mode, exclude_outside, 0,
                       constant_inputs(_node, _graph, 1))


def _upsample_runner(fallback: Callable[..., Any], mode: str, constant: bool) -> Callable[..., Any]:
    """The function running one Upsample-9 / Resize-10 node, `run(x, scales)`: asymmetric coordinates,
    Upsample's nearest rounding, a scale for every axis."""
    run = node_runner(lambda x, roi, scales, sizes: fallback(x, scales), None, "stretch",
                      "linear" if mode == "bilinear" else mode, "asymmetric", "simple", 0, 0, constant)

    def upsample(x: Any, scales: Any) -> Any:
        if type(x) is np.ndarray and np.size(scales) != x.ndim:
            return fallback(x, scales)  # the numpy kernel's error
        return run(x, None, scales)

    return upsample


@native_kernel("Resize", 10, until=10, factory=True, supports=_supports)
def Resize_10(*, mode: str = "nearest", _provider: Any = None, _node: Node | None = None,
              _graph: Graph | None = None) -> Callable[..., Any]:
    """The kernel of one Resize-10 node (Upsample-9)."""
    return _upsample_runner(functools.partial(reference.Resize_10, mode=mode, _provider=_provider), mode,
                            constant_inputs(_node, _graph, 1))


@native_kernel("Upsample", 9, factory=True, supports=_supports)
def Upsample(*, mode: str = "nearest", _provider: Any = None, _node: Node | None = None,
             _graph: Graph | None = None) -> Callable[..., Any]:
    """The kernel of one Upsample-9 node."""
    return _upsample_runner(functools.partial(reference.Upsample, mode=mode, _provider=_provider), mode,
                            constant_inputs(_node, _graph, 1))


@native_kernel("Upsample", 7, until=8, factory=True, supports=_supports)
def Upsample_7(*, mode: str = "nearest", scales: list[float] | None = None) -> Callable[..., Any]:
    """The kernel of one Upsample-7 or 8 node (scales as an attribute)."""
    fallback = functools.partial(reference.Upsample_7, mode=mode, scales=scales)
    if scales is None:
        return fallback  # the numpy kernel's error
    run = _upsample_runner(lambda x, _scales: fallback(x), mode, True)
    given = np.asarray(scales, dtype=np.float64)
    return lambda x: run(x, given)
