"""Grid sampling: GridSample (nearest / linear / cubic, zeros / border / reflection padding) and AffineGrid.

GridSample gathers, for every output point, the input pixels around its denormalized source
coordinate. Each spatial axis contributes a few taps (1, 2 or 4) with weights; the kernel loops
over the combinations of taps (at most 4^3) and gathers all points of all batches at once.
"""

from __future__ import annotations

import itertools

import numpy as np

from .registry import kernel


def denormalize(n: np.ndarray, length: int, align_corners: bool) -> np.ndarray:
    """Grid coordinates in [-1, 1] to pixel coordinates of an axis of `length` pixels."""
    if align_corners:
        return (n + 1) / 2 * (length - 1)
    return ((n + 1) * length - 1) / 2


def reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """`x` reflected off the borders lo and hi (repeatedly) until it lies within [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, lo)
    below = x < lo
    dx = np.where(below, lo - x, x - hi)
    flips = np.floor(dx / span)
    r = dx - flips * span
    even = flips % 2 == 0
    from_below = np.where(even, lo + r, hi - r)
    from_above = np.where(even, hi - r, lo + r)
    return np.where(below, from_below, np.where(x > hi, from_above, x))


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> list[np.ndarray]:
    """Weights of the taps at floor-1 .. floor+2 for fractional offset t in [0, 1)."""
    def near(s):
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s):
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _axis_taps(x: np.ndarray, length: int, mode: str, padding_mode: str, align_corners: bool
               ) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """For one spatial axis: a list of (index, weight, valid) per tap; index is clipped to the
    axis, `valid` (zeros padding) says whether the unclipped index was inside."""
    lo, hi = (0.0, length - 1.0) if align_corners else (-0.5, length - 0.5)
    if mode == "nearest":
        x = np.rint(x)
    outside = (x < lo) | (x > hi)
    if padding_mode == "border":
        x = np.where(outside, np.clip(x, 0, length - 1), x)
    elif padding_mode == "reflection":
        x = np.where(outside, reflect(x, lo, hi), x)
    if mode == "nearest":
        starts, weights = [np.trunc(x)], [None]
    else:
        base = np.floor(x)
        t = x - base
        if mode == "linear":
            starts, weights = [base, base + 1], [1 - t, t]
        else:
            starts, weights = [base - 1, base, base + 1, base + 2], _cubic_weights(t)
    taps = []
    for idx, w in zip(starts, weights):
        valid = None
        if padding_mode == "zeros":
            valid = (idx >= 0) & (idx < length)
        elif padding_mode == "reflection":
            idx = np.trunc(reflect(idx, lo, hi))
        taps.append((np.clip(idx, 0, length - 1).astype(np.intp), w, valid))
    return taps


def grid_sample(x: np.ndarray, grid: np.ndarray, mode: str, padding_mode: str, align_corners: int,
                op: str = "GridSample") -> np.ndarray:
    nd = x.ndim - 2
    if nd < 1 or grid.ndim != x.ndim or grid.shape[-1] != nd or grid.shape[0] != x.shape[0]:
        raise ValueError(f"{op}: grid of shape {grid.shape} does not fit input X of shape {x.shape}; "
                         f"expected (N, out spatial..., {nd}) with N = {x.shape[0]}")
    if mode not in ("nearest", "linear", "cubic"):
        raise ValueError(f"{op}: unknown mode {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"{op}: unknown padding_mode {padding_mode!r}; expected zeros, border or reflection")
    n, c = x.shape[:2]
    out_spatial = grid.shape[1:-1]
    if n * c * int(np.prod(out_spatial)) == 0:
        return np.zeros((n, c) + out_spatial, dtype=x.dtype)
    g = grid if grid.dtype.kind == "f" else grid.astype(np.float64)
    work = np.result_type(x.dtype, np.float32) if x.dtype.kind == "f" else np.float64
    # the grid's last axis lists coordinates innermost-first (x = width, then y, then z)
    axis_taps = [_axis_taps(denormalize(g[..., nd - 1 - i], x.shape[2 + i], bool(align_corners)),
                            x.shape[2 + i], mode, padding_mode, bool(align_corners)) for i in range(nd)]
    xt = np.moveaxis(x, 1, -1).astype(work, copy=False)  # (N, spatial..., C)
    batch = np.arange(n).reshape((n,) + (1,) * len(out_spatial))
    y = np.zeros((n,) + out_spatial + (c,), dtype=work)
    for combo in itertools.product(*axis_taps):
        vals = xt[(batch,) + tuple(idx for idx, _, _ in combo)]  # (N, out spatial..., C)
        w = None
        for _, wi, valid in combo:
            if wi is not None:
                w = wi if w is None else w * wi
            if valid is not None:
                w = valid if w is None else w * valid
        if w is None:
            y += vals
        else:
            y += vals * np.asarray(w, dtype=work)[..., None]
    return np.ascontiguousarray(np.moveaxis(y, -1, 1)).astype(x.dtype, copy=False)


_MODES_16 = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic"}


@kernel("GridSample", since=16, until=19)
def GridSample_16(x: np.ndarray, grid: np.ndarray, *, align_corners: int = 0, mode: str = "bilinear",
                  padding_mode: str = "zeros") -> np.ndarray:
    """GridSample-16: 4-D input only, modes bilinear / nearest / bicubic."""
    if mode not in _MODES_16:
        raise ValueError(f"GridSample: unknown mode {mode!r}; expected bilinear, nearest or bicubic")
    if x.ndim != 4:
        raise ValueError(f"GridSample-16: input must be 4-D (N, C, H, W), got shape {x.shape}")
    return grid_sample(x, grid, _MODES_16[mode], padding_mode, align_corners)


@kernel("GridSample", since=20)
def GridSample(x: np.ndarray, grid: np.ndarray, *, align_corners: int = 0, mode: str = "linear",
               padding_mode: str = "zeros") -> np.ndarray:
    """GridSample-20+: N-D, modes linear / nearest / cubic."""
    return grid_sample(x, grid, mode, padding_mode, align_corners)


# --------------------------------------------------------------------------- AffineGrid


def base_coordinates(length: int, align_corners: bool) -> np.ndarray:
    """Normalized coordinates of the pixel centers (or, with align_corners, of the corner pixels)."""
    if align_corners:
        return np.linspace(-1.0, 1.0, length) if length > 1 else np.full(length, -1.0)
    return (2 * np.arange(length, dtype=np.float64) + 1) / length - 1


@kernel("AffineGrid", since=20)
def AffineGrid(theta: np.ndarray, size: np.ndarray, *, align_corners: int = 0) -> np.ndarray:
    """Sampling grid (N, [D,] H, W, 2|3) of theta applied to the homogeneous pixel coordinates."""
    dims = [int(v) for v in np.asarray(size).reshape(-1)]
    if len(dims) not in (4, 5):
        raise ValueError(f"AffineGrid: size must be (N, C, H, W) or (N, C, D, H, W), got {dims}")
    spatial = dims[2:]
    nd = len(spatial)
    if theta.shape != (dims[0], nd, nd + 1):
        raise ValueError(f"AffineGrid: theta must have shape {(dims[0], nd, nd + 1)} for size {dims}, "
                         f"got {theta.shape}")
    axes = [base_coordinates(s, bool(align_corners)) for s in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")  # each (spatial...), outermost axis first
    homo = np.stack([m.reshape(-1) for m in reversed(mesh)] + [np.ones(mesh[0].size)], axis=0)  # (nd+1, P)
    grid = np.matmul(theta.astype(np.float64), homo)  # (N, nd, P)
    return np.ascontiguousarray(grid.transpose(0, 2, 1).reshape([dims[0]] + spatial + [nd])).astype(theta.dtype)
