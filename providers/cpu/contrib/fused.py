"""Operator fusions of onnxruntime's graph optimizer and transformer tools in the com.microsoft
domain: FusedMatMul (transposes and a scale folded into MatMul), FusedConv (Conv + optional
residual Z + activation), FusedGemm (Gemm + activation) and NhwcConv (channels-last Conv). An
activation this module does not know is refused at partition time, with its name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ep_runtime.graph import Graph, Node

from ..activation import sigmoid
from ..conv import conv
from ..matmul import Gemm
from ..registry import kernel
from ._common import MS


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


#: activation name -> (function of (x, alpha, beta, gamma), default alpha, default beta, default gamma)
_ACTIVATIONS: dict[str, tuple[Callable[..., np.ndarray], float, float, float]] = {
    "Relu": (lambda x, a, b, g: np.maximum(x, 0), 0.0, 0.0, 0.0),
    "Tanh": (lambda x, a, b, g: np.tanh(x), 0.0, 0.0, 0.0),
    "Sigmoid": (lambda x, a, b, g: sigmoid(x), 0.0, 0.0, 0.0),
    "LeakyRelu": (lambda x, a, b, g: np.where(x >= 0, x, x * a), 0.01, 0.0, 0.0),
    "HardSigmoid": (lambda x, a, b, g: np.clip(x * a + b, 0, 1), 0.2, 0.5, 0.0),
    "Clip": (lambda x, a, b, g: np.clip(x, a, b), float(np.finfo(np.float32).min), float(np.finfo(np.float32).max),
             0.0),
    "Elu": (lambda x, a, b, g: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))), 1.0, 0.0, 0.0),
    "Selu": (lambda x, a, b, g: g * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))), 1.67326319217681884765625,
             0.0, 1.05070102214813232421875),
    "Softplus": (lambda x, a, b, g: _softplus(x), 0.0, 0.0, 0.0),
    "Softsign": (lambda x, a, b, g: x / (1 + np.abs(x)), 0.0, 0.0, 0.0),
    "ThresholdedRelu": (lambda x, a, b, g: np.where(x > a, x, 0), 1.0, 0.0, 0.0),
}

#: FusedConv takes these activations, with `activation_params` (alpha[, beta]) as listed
_CONV_ACTIVATIONS = {"Relu": 0, "Tanh": 0, "Sigmoid": 0, "LeakyRelu": 1, "HardSigmoid": 2, "Clip": 2}


def _activation(name: str | None, alpha: float | None, beta: float | None, gamma: float | None,
                op: str) -> Callable[[np.ndarray], np.ndarray]:
    if not name:
        return lambda x: x
    if name not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation {name!r} is not supported (known: {sorted(_ACTIVATIONS)})")
    fn, da, db, dg = _ACTIVATIONS[name]
    a, b, g = (np.float32(v if v is not None else d) for v, d in ((alpha, da), (beta, db), (gamma, dg)))
    return lambda x: np.asarray(fn(x, a, b, g), x.dtype)


def _known_activation(known: dict[str, int] | dict[str, tuple]) -> Callable[[Node, Graph], str | None]:
    def check(node: Node, graph: Graph) -> str | None:
        name = node.attrs.get("activation")
        if name and name not in known:
            return f"activation {name!r} not supported (supported: {', '.join(sorted(known))})"
        return None

    return check


@kernel("FusedConv", 1, domain=MS, supports=_known_activation(_CONV_ACTIVATIONS))
def FusedConv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, z: np.ndarray | None = None, *,
              activation: str | None = None, activation_params: list[float] | None = None,
              auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
              kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None) -> np.ndarray:
    """activation(Conv(X, W, B) + Z); `activation_params` are LeakyRelu's alpha, HardSigmoid's
    alpha and beta, Clip's min and max."""
    op = "FusedConv"
    params = list(activation_params or [])
    if activation and len(params) != _CONV_ACTIVATIONS.get(activation, len(params)):
        raise ValueError(f"{op}: activation {activation!r} takes {_CONV_ACTIVATIONS[activation]} "
                         f"activation_params, got {params}")
    y = conv(x, w, b, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape, pads=pads,
             strides=strides)
    if z is not None:
        if z.shape != y.shape:
            raise ValueError(f"{op}: Z of shape {z.shape} does not match the convolution's output {y.shape}")
        y += z
    return _activation(activation, *(params + [None, None, None])[:3], op)(y)


@kernel("FusedGemm", 1, domain=MS, supports=_known_activation(_ACTIVATIONS))
def FusedGemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, *, activation: str | None = None,
              activation_alpha: float | None = None, activation_beta: float | None = None,
              activation_gamma: float | None = None, alpha: float = 1.0, beta: float = 1.0, transA: int = 0,
              transB: int = 0) -> np.ndarray:
    """activation(Gemm(A, B, C)), the activation's parameters in activation_alpha/beta/gamma."""
    y = Gemm(a, b, c, alpha=alpha, beta=beta, transA=transA, transB=transB)
    return _activation(activation, activation_alpha, activation_beta, activation_gamma, "FusedGemm")(y)


def _batch_transposed(x: np.ndarray) -> np.ndarray:
    """[d0, d1, ..., dn-2, dn-1] -> [d1, ..., dn-2, d0, dn-1]: the first axis moves next to the last."""
    return np.moveaxis(x, 0, -2) if x.ndim > 2 else x


@kernel("FusedMatMul", 1, domain=MS)
def FusedMatMul(a: np.ndarray, b: np.ndarray, *, alpha: float = 1.0, transA: int = 0, transB: int = 0,
                transBatchA: int = 0, transBatchB: int = 0) -> np.ndarray:
    """alpha * op(A) @ op(B), op moving the first axis behind the batch axes (transBatch) and
    then swapping the last two (trans)."""
    op = "FusedMatMul"
    if a.dtype.kind != "f" or b.dtype != a.dtype:
        raise ValueError(f"{op}: A and B must be float tensors of one type, got {a.dtype} and {b.dtype}")
    if a.ndim < 2 or b.ndim < 2:
        if transA or transB or transBatchA or transBatchB:
            raise ValueError(f"{op}: transposes need inputs of rank >= 2, got shapes {a.shape} and {b.shape}")
    if transBatchA:
        a = _batch_transposed(a)
    if transBatchB:
        b = _batch_transposed(b)
    if transA:
        a = np.swapaxes(a, -1, -2)
    if transB:
        b = np.swapaxes(b, -1, -2)
    try:
        y = np.matmul(a, b)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} (after transposes) cannot be multiplied") from None
    if alpha != 1.0:
        y = y * np.asarray(alpha, y.dtype)
    return np.asarray(y)


@kernel("NhwcConv", 1, domain=MS)
def NhwcConv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, auto_pad: str = "NOTSET",
             dilations: list[int] | None = None, group: int = 1, kernel_shape: list[int] | None = None,
             pads: list[int] | None = None, strides: list[int] | None = None) -> np.ndarray:
    """Conv in channels-last layout: X (N, spatial..., C), W (M, kernel..., C / group) as
    onnxruntime's NHWC conversion writes it, Y (N, spatial..., M)."""
    if x.ndim < 3 or w.ndim != x.ndim:
        raise ValueError(f"NhwcConv: X and W must have the same rank >= 3, got shapes {x.shape} and {w.shape}")
    y = conv(np.moveaxis(x, -1, 1), np.moveaxis(w, -1, 1), b, auto_pad=auto_pad, dilations=dilations, group=group,
             kernel_shape=kernel_shape, pads=pads, strides=strides)
    return np.ascontiguousarray(np.moveaxis(y, 1, -1))
