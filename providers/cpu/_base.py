"""Shared helpers of the CPU kernels: op factories (numpy fast paths, and `xp_ufunc` for the array-module
kernels the CUDA provider shares), legacy broadcasting, spatial windows. `as_array` is the core's
(ep_runtime.array_module), re-exported for the kernel modules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ep_runtime.array_module import as_array, get_array_module

from .registry import kernel


def _ufunc_keeps_0d() -> bool:
    try:
        return type(np.add(np.zeros(()), np.zeros(()), out=...)) is np.ndarray
    except TypeError:
        return False


#: numpy >= 2.3 accepts `out=...` so that a ufunc on 0-d arrays returns an array, not a scalar.
UFUNC_OUT_ELLIPSIS = _ufunc_keeps_0d()


def xp_ufunc(name: str) -> Callable[..., Any]:
    """A kernel that is ufunc `name` of its inputs' array module (numpy broadcasting), returning an
    array: the shared form of the ops `binary_ufunc` / `unary_ufunc` run directly on numpy."""

    def run(*xs: Any) -> Any:
        return as_array(getattr(get_array_module(*xs), name)(*xs))

    run.__name__ = run.__qualname__ = name
    return run


def binary_ufunc(uf: np.ufunc) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A two-input kernel that is the bare ufunc (numpy broadcasting), returning arrays."""
    if UFUNC_OUT_ELLIPSIS:

        def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return uf(a, b, out=...)
    else:

        def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            r = uf(a, b)
            return r if type(r) is np.ndarray else np.asarray(r)

    run.__name__ = run.__qualname__ = uf.__name__
    return run


def unary_ufunc(uf: np.ufunc) -> Callable[[np.ndarray], np.ndarray]:
    """A one-input kernel that is the bare ufunc, returning arrays."""
    if UFUNC_OUT_ELLIPSIS:

        def run(x: np.ndarray) -> np.ndarray:
            return uf(x, out=...)
    else:

        def run(x: np.ndarray) -> np.ndarray:
            r = uf(x)
            return r if type(r) is np.ndarray else np.asarray(r)

    run.__name__ = run.__qualname__ = uf.__name__
    return run


def kernel_ranges(op_type: str, starts: Sequence[int], *, until: int | None = None,
                  **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering one kernel function for consecutive version ranges of `op_type`: each of
    `starts` (schema since_versions) begins a range, the last one running to `until`. For versions whose
    attributes differ only by those the registry ignores (opset 1's `consumed_inputs`): one function,
    and the version starts that overrides (native kernels, plugins) are keyed on."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        ends = [s - 1 for s in starts[1:]] + [until]
        for since, end in zip(starts, ends):
            kernel(op_type, since, until=end, **options)(fn)
        return fn

    return register


def legacy_broadcast(a: np.ndarray, b: np.ndarray, broadcast: int, axis: int | None, op: str) -> np.ndarray:
    """Opset < 7 broadcasting: B's shape matches a contiguous run of A's dims, starting at `axis`
    (by default the trailing dims). Returns B reshaped so numpy broadcasting does the rest."""
    if not broadcast:
        if a.shape != b.shape:
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} differ and broadcast=0")
        return b
    if axis is None or b.ndim == 0:
        return b
    if axis < 0:
        axis += a.ndim
    tail = a.ndim - axis - b.ndim
    if axis < 0 or tail < 0:
        raise ValueError(f"{op}: cannot broadcast shape {b.shape} into {a.shape} at axis {axis}")
    return b.reshape(b.shape + (1,) * tail)


def register_binary(op_type: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    modern_since: int = 7, legacy_starts: Sequence[int] = (1, 6)) -> None:
    """Register a broadcasting two-input op: the legacy versions (starting at `legacy_starts`, up to
    modern_since-1) with the `broadcast`/`axis` attributes, then the numpy-broadcasting versions from
    `modern_since` on as the bare function."""
    if legacy_starts:

        def legacy(a: np.ndarray, b: np.ndarray, *, broadcast: int = 0, axis: int | None = None) -> np.ndarray:
            return fn(a, legacy_broadcast(a, b, broadcast, axis, op_type))

        kernel_ranges(op_type, legacy_starts, until=modern_since - 1)(legacy)
    kernel(op_type, modern_since)(fn)


class FlatWindows(NamedTuple):
    """A 2-D input laid out so that every kernel tap of a sliding window is one contiguous run.

    The zero- (or `fill`-) padded input is split into its stride phases (one plane for stride
    1), each plane a (rows, wq) grid flattened to one axis. Output position (oy, ox) of tap t
    reads `planes[:, taps[t][0], :, taps[t][1] + oy * wq + ox]`: so for a block of output rows
    the tap's values are the contiguous slice `[off + r0 * wq, off + r1 * wq)`, giving a "wide"
    result of wq columns per row, of which the first `out[1]` are the output (the rest are
    discarded). Copies and ufuncs then run over long contiguous rows instead of short strided ones.
    """

    planes: np.ndarray  # (N, phases, C, rows * wq)
    wq: int
    taps: list[tuple[int, int]]  # per kernel offset, row-major: (phase plane, flat offset)


def flat_windows(x: np.ndarray, kernel_shape: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                 begin: Sequence[int], out: Sequence[int], fill: Any = 0) -> FlatWindows:
    """The FlatWindows of a 4-D input (N, C, H, W) for a 2-D window op (see FlatWindows)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw), (pt, pl), (ho, wo) = kernel_shape, strides, dilations, begin, out
    ry = [(i * dh % sh, i * dh // sh) for i in range(kh)]
    rx = [(j * dw % sw, j * dw // sw) for j in range(kw)]
    qx = max(q for _, q in rx)
    wq = wo + qx
    hq = ho + max(q for _, q in ry) + (1 if qx else 0)  # one more row: the last tap's run wraps into it
    phases = {(a, b): i for i, (a, b) in enumerate((a, b) for a in sorted({a for a, _ in ry})
                                                   for b in sorted({b for b, _ in rx}))}
    planes = (np.zeros if fill == 0 else np.empty)((n, len(phases), c, hq, wq), dtype=x.dtype)
    if fill != 0:
        planes.fill(fill)
    for (a, b), p in phases.items():
        # plane row r is padded row a + r * sh, i.e. input row a + r * sh - pt (likewise columns)
        r0, r1 = max(0, -((a - pt) // sh)), min(hq, -((a - pt - h) // sh))
        q0, q1 = max(0, -((b - pl) // sw)), min(wq, -((b - pl - w) // sw))
        if r1 > r0 and q1 > q0:
            y0, x0 = a + r0 * sh - pt, b + q0 * sw - pl
            rows = slice(y0, y0 + (r1 - r0 - 1) * sh + 1, sh)
            planes[:, p, :, r0:r1, q0:q1] = x[:, :, rows, x0:x0 + (q1 - q0 - 1) * sw + 1:sw]
    taps = [(phases[(a, b)], qy * wq + qxx) for a, qy in ry for b, qxx in rx]
    return FlatWindows(planes.reshape(n, len(phases), c, hq * wq), wq, taps)
