"""Softmax on the embedded C provider (ep_rows.c): long rows, strided axes, and rows holding NaN, -inf or
values far apart, against the cpu provider, per node and fused."""

from __future__ import annotations

import numpy as np
import pytest

from providers.embedded_c import EmbeddedCExecutionProvider
from tests.embedded_c_helpers import ATOL, RTOL, cpu_run, single_node_model, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")


def _hard_rows(x: np.ndarray) -> np.ndarray:
    """Row 0 holds a NaN, row 1 a -inf, row 2 is all -inf, row 3 spans 1e4 (most terms underflow)."""
    rows = x.reshape(-1, x.shape[-1])
    rows[0, 3] = np.nan
    rows[1, 5] = -np.inf
    rows[2, :] = -np.inf
    rows[3, :] *= 1e4
    return x


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("shape,axis", [((1, 40, 6625), 2), ((5, 37), -1), ((2, 130, 7), 1), ((3, 6, 300), 1)],
                         ids=["long_rows_recognizer_head", "odd_rows", "strided_axis_columns", "strided_wide_inner"])
def test_softmax_matches_cpu_with_nan_and_infinite_rows(shape, axis, fused):
    x = np.random.default_rng(8).standard_normal(shape).astype(np.float32) * 3
    if axis in (-1, len(shape) - 1):
        x = _hard_rows(x)
    else:
        x[0, 2, 0] = np.nan  # spoils its column
    model = single_node_model("Softmax", {"x": shape}, opset=13, axis=axis)
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, cpu_run(model, {"x": x})[0], rtol=RTOL, atol=ATOL)
