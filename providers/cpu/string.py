"""String kernels: StringNormalizer, StringConcat, StringSplit, RegexFullMatch (strings are numpy
object arrays of str)."""

from __future__ import annotations

import re

import numpy as np

from .registry import kernel


@kernel("StringNormalizer", since=10)
def StringNormalizer(x: np.ndarray, *, case_change_action: str = "NONE", is_case_sensitive: int = 0,
                     locale: str | None = None, stopwords: list[str] | None = None) -> np.ndarray:
    """Drop stopwords, then change case. Input [C] or [1, C]; if everything is dropped the
    output is a single empty string ([1] or [1, 1])."""
    if case_change_action not in ("NONE", "LOWER", "UPPER"):
        raise ValueError(f"StringNormalizer: case_change_action must be NONE, LOWER or UPPER, "
                         f"not {case_change_action!r}")
    if x.ndim == 2 and x.shape[0] != 1 or x.ndim not in (1, 2):
        raise ValueError(f"StringNormalizer: input must have shape [C] or [1, C], got {x.shape}")
    words = [w.decode() if isinstance(w, bytes) else str(w) for w in x.reshape(-1)]
    if stopwords:
        if is_case_sensitive:
            stop = set(stopwords)
            words = [w for w in words if w not in stop]
        else:
            stop = {s.casefold() for s in stopwords}
            words = [w for w in words if w.casefold() not in stop]
    if case_change_action == "LOWER":
        words = [w.lower() for w in words]
    elif case_change_action == "UPPER":
        words = [w.upper() for w in words]
    if not words:
        words = [""]
    out = np.array(words, dtype=object)
    return out.reshape(1, -1) if x.ndim == 2 else out


def _texts(x: np.ndarray, op: str) -> np.ndarray:
    """A string tensor as an object array of str (bytes decoded as UTF-8)."""
    x = np.asarray(x)
    if x.dtype.kind not in "OUS":
        raise ValueError(f"{op}: input must be a string tensor, got dtype {x.dtype}")
    if x.dtype.kind == "O":
        if all(type(v) is str for v in x.flat):
            return x
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in x.flat],
                        dtype=object).reshape(x.shape)
    return x.astype(str).astype(object)


@kernel("StringConcat", since=20)
def StringConcat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """StringConcat-20: element-wise x + y with numpy broadcasting."""
    a, b = _texts(x, "StringConcat"), _texts(y, "StringConcat")
    try:
        out = np.add(a, b, dtype=object)
    except ValueError:
        raise ValueError(f"StringConcat: shapes {a.shape} and {b.shape} do not broadcast") from None
    return np.asarray(out, dtype=object)


@kernel("StringSplit", since=20, multi_output=True)
def StringSplit(x: np.ndarray, *, delimiter: str | None = None, maxsplit: int | None = None) -> tuple:
    """StringSplit-20: split each string at `delimiter` (absent or empty: runs of whitespace, with
    leading/trailing whitespace dropped) at most `maxsplit` times. Outputs Y [*x.shape, longest]
    padded with "" and Z [*x.shape], the number of pieces of each string."""
    texts = _texts(x, "StringSplit")
    sep = delimiter or None
    limit = -1 if maxsplit is None else int(maxsplit)
    if limit < -1:
        raise ValueError(f"StringSplit: maxsplit must be non-negative, got {maxsplit}")
    pieces = [t.split(sep, limit) for t in texts.flat]
    counts = np.array([len(p) for p in pieces], dtype=np.int64).reshape(texts.shape)
    width = max((len(p) for p in pieces), default=0)
    y = np.full((len(pieces), width), "", dtype=object)
    for i, p in enumerate(pieces):
        y[i, :len(p)] = p
    return y.reshape(*texts.shape, width), counts


@kernel("RegexFullMatch", since=20)
def RegexFullMatch(x: np.ndarray, *, pattern: str | None = None) -> np.ndarray:
    """RegexFullMatch-20: whether each whole string matches `pattern` (re2 syntax; Python's re
    accepts the common subset)."""
    if pattern is None:
        raise ValueError("RegexFullMatch: the pattern attribute is required")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"RegexFullMatch: invalid pattern {pattern!r}: {exc}") from None
    texts = _texts(x, "RegexFullMatch")
    return np.array([regex.fullmatch(t) is not None for t in texts.flat], dtype=bool).reshape(texts.shape)
