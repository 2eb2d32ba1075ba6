"""The process-wide seed of random operators without a `seed` attribute (onnxruntime's `set_seed`)."""

from __future__ import annotations

import operator
import threading

import numpy as np

_lock = threading.Lock()
_seeded: np.random.RandomState | None = None


def set_seed(seed: int) -> None:
    """From now on, random ops without a `seed` attribute draw from one stream seeded by `seed`, so a
    process that sets the same seed and runs the same models gets the same values."""
    global _seeded
    value = operator.index(seed)
    with _lock:
        _seeded = np.random.RandomState(value % 2**32)


def unseeded_generator() -> np.random.RandomState:
    """The generator for a random op without a seed: one seeded by the next draw of the set_seed stream, or
    (before any set_seed) one seeded from the operating system's entropy."""
    with _lock:
        if _seeded is None:
            return np.random.RandomState()
        return np.random.RandomState(_seeded.randint(0, 2**32, dtype=np.uint64))


__all__ = ["set_seed", "unseeded_generator"]
