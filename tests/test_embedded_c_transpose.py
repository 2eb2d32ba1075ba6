"""Transpose on the embedded C provider for every element type the library knows (elements moved as bits),
through each path of transpose.c: run copies, tiles between two axes, the gather of a dropped last axis."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from providers.embedded_c import EmbeddedCExecutionProvider
from tests.embedded_c_helpers import strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

DTYPES = {np.float32: TensorProto.FLOAT, np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8,
          np.int32: TensorProto.INT32, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}

#: case -> (x shape, perm)
CASES = {
    "2d_tiles_ragged": ((37, 70), (1, 0)),
    "last_two_axes_batched": ((3, 33, 65), (0, 2, 1)),
    "run_copies_last_axis_kept": ((4, 5, 6), (1, 0, 2)),
    "yolo_head_channels_last": ((1, 3, 7, 5, 9), (0, 1, 3, 4, 2)),
    "dropped_last_axis_gather": ((5, 7, 1), (2, 1, 0)),
    "rank4_nchw_to_nhwc": ((2, 3, 4, 5), (0, 2, 3, 1)),
}


def _transpose_model(shape: tuple, perm: tuple, elem: int):
    node = helper.make_node("Transpose", ["x"], ["y"], perm=list(perm))
    out = tuple(shape[p] for p in perm)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", elem, shape)],
                          [helper.make_tensor_value_info("y", elem, out)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _values(shape: tuple, dtype, rng: np.random.Generator) -> np.ndarray:
    if dtype is np.float32:
        x = rng.standard_normal(shape).astype(np.float32)
        x.flat[::7] = np.nan  # moved as bits: NaN stays NaN
        return x
    if dtype is np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -(2 ** 40)), min(info.max, 2 ** 40), shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("dtype", list(DTYPES), ids=[np.dtype(d).name for d in DTYPES])
@pytest.mark.parametrize("case", sorted(CASES))
def test_transpose_of_every_element_type_matches_numpy(case, dtype, fused):
    shape, perm = CASES[case]
    x = _values(shape, dtype, np.random.default_rng(7))
    sess = strict_session(_transpose_model(shape, perm, DTYPES[dtype]), fused=fused, poison_outputs=True)
    got = sess.run(None, {"x": x})[0]
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, np.transpose(x, perm))
