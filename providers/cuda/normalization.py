"""Normalizations and softmax: BatchNormalization (inference), LRN, LayerNormalization,
InstanceNormalization, Softmax, LogSoftmax: the CPU provider's array-module kernels
(providers/cpu/normalization.py, softmax.py) registered over CuPy.

On the GPU, Softmax/LogSoftmax (softmax.cu) and LayerNormalization (layernorm.cu) are fused
row kernels: one block per row, reductions in shared memory, one read and one write of the row
instead of CuPy's several passes; the shared kernels ask for them as device primitives (raw.PRIMITIVES).
Their xp forms serve the numpy stand-in (and raw_kernels=False). float16 rows are computed in float32
on the raw path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.array_module import get_array_module
from providers.cpu import normalization as cpu
from providers.cpu import softmax as cpu_softmax

from . import raw
from .registry import FLOATS, share

# ---------------------------------------------------------------- BatchNormalization, InstanceNormalization, LRN


def _inference_only(node: Any, graph: Any) -> str | None:
    if node.attrs.get("training_mode", 0) or len([o for o in node.outputs if o]) > 1:
        return "BatchNormalization in training mode not supported on CUDA (inference only)"
    return None


share("BatchNormalization", cpu.BatchNormalization_1, since=7, dtypes=FLOATS, supports=_inference_only)
share("BatchNormalization", cpu.BatchNormalization, dtypes=FLOATS, supports=_inference_only)
share("InstanceNormalization", cpu.InstanceNormalization, dtypes=FLOATS)
share("LRN", cpu.LRN, dtypes=FLOATS)


# --------------------------------------------------------------------------- Softmax, LogSoftmax


def _softmax_rows(log: bool) -> Any:
    """The device primitive of Softmax (log: LogSoftmax) along `axis`: softmax.cu's row kernel on float32 /
    float16 (through float32) values, None for others (the shared kernel then runs its xp form)."""

    def run(x: Any, axis: int) -> Any:
        if x.dtype not in (np.float32, np.float16) or not x.size:
            return None
        xp = get_array_module(x)
        moved = xp.moveaxis(x, axis, -1)
        xf = xp.ascontiguousarray(moved.reshape(-1, x.shape[axis]), dtype=np.float32)
        y = xp.empty_like(xf)
        raw.launch_rows("softmax.cu", "softmax_rows", xf.shape[0], xf, y, raw.i64(xf.shape[0]),
                        raw.i64(xf.shape[1]), np.int32(log))
        y = xp.ascontiguousarray(xp.moveaxis(y.reshape(moved.shape), -1, axis))
        return y.astype(x.dtype) if x.dtype != np.float32 else y

    return run


raw.PRIMITIVES["Softmax"] = _softmax_rows(False)
raw.PRIMITIVES["LogSoftmax"] = _softmax_rows(True)
for _fn in (cpu_softmax.Softmax_1, cpu_softmax.Softmax):
    share("Softmax", _fn, dtypes=FLOATS)
for _fn in (cpu_softmax.LogSoftmax_1, cpu_softmax.LogSoftmax):
    share("LogSoftmax", _fn, dtypes=FLOATS)

# --------------------------------------------------------------------------- LayerNormalization


def layer_norm_rows(rows: Any, scale: Any, b: Any, epsilon: float) -> tuple[Any, Any, Any] | None:
    """The device primitive of LayerNormalization: layernorm.cu's row kernel over (rows, n) float32 / float16
    values with a scale (and B) of n values; (y, mean, inv_std_dev) in float32, or None for other cases."""
    r, n = rows.shape
    if rows.dtype not in (np.float32, np.float16) or not rows.size or scale.size != n or (b is not None
                                                                                         and b.size != n):
        return None
    xp = get_array_module(rows)
    xf = xp.ascontiguousarray(rows, dtype=np.float32)
    sf = xp.ascontiguousarray(scale.reshape(-1), dtype=np.float32)
    bf = sf if b is None else xp.ascontiguousarray(b.reshape(-1), dtype=np.float32)
    y = xp.empty_like(xf)
    mean = xp.empty((r,), dtype=np.float32)
    inv = xp.empty((r,), dtype=np.float32)
    raw.launch_rows("layernorm.cu", "layer_norm_rows", r, xf, sf, bf, y, mean, inv, raw.i64(r), raw.i64(n),
                    raw.f32(epsilon), np.int32(b is not None))
    return y.astype(rows.dtype) if rows.dtype != np.float32 else y, mean, inv


raw.PRIMITIVES["LayerNormalization"] = layer_norm_rows
share("LayerNormalization", cpu.LayerNormalization, dtypes=FLOATS)
