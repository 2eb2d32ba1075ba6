"""Comparing a provider's outputs with the reference's: the first mismatching index and its values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: (rtol, atol) per float dtype name; other dtypes compare exactly
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-3),
    "bfloat16": (2e-2, 1e-2),
    "float32": (1e-3, 1e-5),
    "float64": (1e-6, 1e-9),
}


@dataclass(frozen=True)
class Mismatch:
    """Where a provider's output first differs from the reference: output, index, both values."""

    output: str
    problem: str

    def __str__(self) -> str:
        return f"output {self.output!r}: {self.problem}"


def tolerance(dtype: np.dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """The (rtol, atol) used for `dtype`: the given values, else the default for its kind (0, 0: exact)."""
    default = DEFAULT_TOLERANCES.get(np.dtype(dtype).name, (0.0, 0.0))
    return (default[0] if rtol is None else rtol, default[1] if atol is None else atol)


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"


def compare_arrays(name: str, got: Any, want: Any, rtol: float | None = None,
                   atol: float | None = None) -> Mismatch | None:
    """None when `got` matches `want`, else the first difference. Floats match within
    `atol + rtol * |want|`; NaN matches NaN, and infinities match only themselves; everything else
    (integers, bools, strings) must be equal. Shapes and dtypes must be equal."""
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            return Mismatch(name, f"got {_kind(got)}, want a sequence of {len(want)} values")
        for k, (g, w) in enumerate(zip(got, want)):
            found = compare_arrays(f"{name}[{k}]", g, w, rtol, atol)
            if found is not None:
                return found
        return None
    if want is None or got is None:
        return None if got is None and want is None else Mismatch(name, f"got {_kind(got)}, want {_kind(want)}")
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype:
        return Mismatch(name, f"dtype {got.dtype}, want {want.dtype}")
    if got.shape != want.shape:
        return Mismatch(name, f"shape {list(got.shape)}, want {list(want.shape)}")
    if got.size == 0:
        return None
    if _is_float(want.dtype):
        g, w = got.astype(np.float64), want.astype(np.float64)
        rt, at = tolerance(want.dtype, rtol, atol)
        with np.errstate(invalid="ignore", over="ignore"):
            close = np.abs(g - w) <= at + rt * np.abs(w)
        same_special = (np.isnan(g) & np.isnan(w)) | ((g == w) & np.isinf(w))
        ok = np.where(np.isfinite(w) & np.isfinite(g), close, same_special)
    elif want.dtype.kind == "O":
        ok = np.vectorize(lambda a, b: a == b, otypes=[bool])(got, want)
    else:
        ok = got == want
    if ok.all():
        return None
    bad = np.argwhere(~ok)
    first = tuple(int(i) for i in bad[0])
    where = first if got.ndim else "()"
    return Mismatch(name, f"first mismatch at index {where}: got {got[first]}, want {want[first]} "
                          f"({len(bad)} of {got.size} elements differ)")


def compare_outputs(names: Sequence[str], got: Sequence[Any], want: Sequence[Any], rtol: float | None = None,
                    atol: float | None = None) -> Mismatch | None:
    """The first difference between two lists of outputs (see compare_arrays), or None."""
    if len(got) != len(want):
        return Mismatch("*", f"{len(got)} outputs, want {len(want)}")
    for name, g, w in zip(names, got, want):
        found = compare_arrays(name, g, w, rtol, atol)
        if found is not None:
            return found
    return None


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__
