"""Elementwise kernels on CUDA: the CPU provider's array-module kernels (providers/cpu/elementwise.py,
cast.py, tensor.py) registered over CuPy, whose ufuncs do the broadcasting and the work.

Unary, binary (opset >= 7 numpy broadcasting), comparisons and logic, activations, Clip, Where,
variadic Sum/Mean/Max/Min, Cast, Identity and Dropout (inference). The only device-specific kernel
is Erf, which takes CuPy's own erf on the GPU; no raw CUDA C here: CuPy's elementwise kernels are
what a hand-written one would be.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.array_module import ArrayModuleProvider, as_array, get_array_module
from ep_runtime.graph import onnx_dtype_to_numpy
from providers.cpu import cast as cpu_cast
from providers.cpu import elementwise as cpu
from providers.cpu import tensor as cpu_tensor
from providers.cpu._base import xp_ufunc

from .registry import FLOATS, kernel, share


def arr(xp: Any, r: Any, dtype: Any = None) -> Any:
    """`r` as an array (numpy ufuncs on 0-d arrays return scalars), in `dtype`: `as_array` for the
    CUDA modules that still pass the array module."""
    return as_array(r, dtype)


for _op, (_name, _since) in {**cpu.BINARY_UFUNCS, **cpu.UNARY_UFUNCS}.items():
    kernel(_op, _since)(xp_ufunc(_name))

for _op, _fn in {"Div": cpu.Div, "Pow": cpu.Pow, "Mod": cpu.Mod, "Where": cpu.Where, "Relu": cpu.Relu,
                 "Sigmoid": cpu.Sigmoid, "LeakyRelu": cpu.LeakyRelu, "Elu": cpu.Elu, "Selu": cpu.Selu,
                 "HardSigmoid": cpu.HardSigmoid, "HardSwish": cpu.HardSwish, "Softplus": cpu.Softplus,
                 "Softsign": cpu.Softsign, "PRelu": cpu.PRelu, "Clip": cpu.Clip}.items():
    share(_op, _fn)
share("Clip", cpu.Clip_6)
share("Gelu", cpu.Gelu, dtypes=FLOATS)
for _op, _fn in {"Sum": cpu.Sum, "Max": cpu.Max, "Min": cpu.Min, "Mean": cpu.Mean}.items():
    share(_op, _fn, since=8)


@kernel("Erf", 9)
def Erf(x: Any) -> Any:
    """erf: CuPy's special function on the GPU (float16 through float32); elsewhere the shared polynomial."""
    xp = get_array_module(x)
    if xp is np:
        return cpu.erf(x)
    from cupyx.scipy.special import erf as cupy_erf

    return as_array(cupy_erf(x.astype(np.float32) if x.dtype == np.float16 else x), x.dtype)


# --------------------------------------------------------------------------- Cast, Identity, Dropout


def _cast_supported(node: Any, graph: Any) -> str | None:
    to = node.attrs.get("to")
    try:
        dtype = onnx_dtype_to_numpy(to) if isinstance(to, int) else None
    except (KeyError, TypeError, ValueError):  # an element type numpy has no dtype for: the CPU reports it
        dtype = None
    if dtype is None or dtype not in ArrayModuleProvider.storable_dtypes:
        return f"Cast to element type {to} not supported on CUDA"
    return None


for _fn in (cpu_cast.Cast_1, cpu_cast.Cast_19, cpu_cast.Cast):
    share("Cast", _fn, since=6, supports=_cast_supported)
share("Identity", cpu_tensor.Identity)


def _dropout_inference(node: Any, graph: Any) -> str | None:
    if len(node.inputs) > 2 and node.inputs[2]:
        if node.inputs[2] not in graph.initializers or bool(np.asarray(graph.initializers[node.inputs[2]])):
            return "Dropout in training mode (training_mode not a constant false) not supported"
    return None


share("Dropout", cpu_tensor.Dropout_7)
share("Dropout", cpu_tensor.Dropout_10)
share("Dropout", cpu_tensor.Dropout, supports=_dropout_inference)
