"""The embedded C provider's host buffers start on a cache-line boundary (providers/embedded_c/aligned.py)."""

from __future__ import annotations

import numpy as np
import pytest

from providers.embedded_c.aligned import aligned_copy, aligned_empty
from providers.embedded_c.codegen import ALIGN


@pytest.mark.parametrize("shape,dtype", [((), np.float32), (0, np.float32), ((3, 5), np.float32),
                                         ((7,), np.uint8), ((2, 3, 4), np.int64), (1000003, np.float32)])
def test_aligned_empty_starts_on_a_cache_line(shape, dtype):
    a = aligned_empty(shape, dtype)
    assert a.size == 0 or a.ctypes.data % ALIGN == 0  # an empty array's address is numpy's own
    assert a.shape == ((shape,) if isinstance(shape, int) else shape) and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable


def test_aligned_copy_keeps_values_and_casts():
    base = np.arange(40, dtype=np.float64).reshape(5, 8)
    for src in (base, base.T, base[:, ::2]):
        got = aligned_copy(src, np.float32)
        assert got.ctypes.data % ALIGN == 0 and got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, src.astype(np.float32))


def test_aligned_copy_moves_a_misaligned_array():
    raw = np.zeros(40 * 8 + 2 * ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN + 8  # 8 bytes past a cache line
    odd = raw[start:start + 40 * 8].view(np.float64).reshape(5, 8)
    odd[...] = np.arange(40).reshape(5, 8)
    got = aligned_copy(odd)
    assert odd.ctypes.data % ALIGN == 8 and got.ctypes.data % ALIGN == 0
    np.testing.assert_array_equal(got, odd)


def test_aligned_copy_returns_an_aligned_array_itself():
    a = aligned_empty((4, 4), np.float32)
    assert aligned_copy(a) is a
