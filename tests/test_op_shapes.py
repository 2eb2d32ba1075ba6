"""Shared shape arithmetic: sliding-window attributes are checked before any size is computed."""

import numpy as np
import pytest

from ep_runtime.op_shapes import check_broadcasts_to, spatial_pads
from providers.cpu import conv


@pytest.mark.parametrize("kernel, strides, dilations, pads, problem", [
    ([3, 3], [0, 1], [1, 1], None, "strides"),
    ([3, 3], [1, 1], [1, 0], None, "dilations"),
    ([0, 3], [1, 1], [1, 1], None, "kernel_shape"),
    ([3, 3], [1, 1], [1, 1], [-1, 0, 0, 0], "pads"),
    ([3, 3], [1], [1, 1], None, "strides"),
])
def test_bad_sliding_window_attributes_are_a_value_error_naming_op_and_attribute(kernel, strides, dilations, pads,
                                                                                   problem):
    with pytest.raises(ValueError, match=f"Conv: {problem}"):
        spatial_pads([5, 5], kernel, strides, dilations, pads, "NOTSET", "Conv")


def test_cpu_conv_with_zero_strides_is_a_clear_error_not_a_zero_division():
    x = np.ones((1, 1, 5, 5), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="strides"):
        conv.Conv(x, w, strides=[0, 0])


def test_an_operand_must_broadcast_to_the_result_shape_without_growing_it():
    check_broadcasts_to((3,), (2, 3), "Gemm")
    check_broadcasts_to((), (2, 3), "Gemm")
    with pytest.raises(ValueError, match=r"Gemm: C of shape \(2, 1, 3\) does not broadcast to the result shape"):
        check_broadcasts_to((2, 1, 3), (2, 3), "Gemm")
    with pytest.raises(ValueError, match="QGemm: C of shape"):
        check_broadcasts_to((4,), (2, 3), "QGemm")
