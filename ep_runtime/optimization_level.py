"""onnxruntime's graph optimization levels, as SessionOptions.graph_optimization_level takes them."""

from __future__ import annotations

import enum


class GraphOptimizationLevel(enum.IntEnum):
    """onnxruntime's optimization levels: BASIC and above fold constants (inside bodies too), BatchNorm
    into Conv, constant Ifs and redundant nodes; EXTENDED and above also fuse (ep_runtime.rewrites)."""

    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1
    ORT_ENABLE_EXTENDED = 2
    ORT_ENABLE_LAYOUT = 3  # onnxruntime's layout transformations; ep-runtime's passes are those of EXTENDED
    ORT_ENABLE_ALL = 99
