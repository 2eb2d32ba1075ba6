"""String kernels: StringNormalizer (strings are numpy object arrays of str)."""

from __future__ import annotations

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
