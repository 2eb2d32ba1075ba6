"""Optimizer kernels of the ai.onnx.preview.training domain: Adagrad, Adam, Momentum.

Each takes the learning rate R and the update count T (scalars), then the per-tensor groups
(all X, then all G, then the optimizer states) and returns the updated X, then the updated
states, in the same order. Arithmetic is done in float64 and cast back to each tensor's dtype.
"""

from __future__ import annotations

import numpy as np

from .registry import kernel

DOMAIN = "ai.onnx.preview.training"


def _groups(op: str, tensors: tuple[np.ndarray, ...], per: int) -> list[list[np.ndarray]]:
    """Split the variadic inputs into `per` equal lists (X..., G..., state...)."""
    if not tensors or len(tensors) % per:
        raise ValueError(f"{op}: expected {per} inputs per optimized tensor after R and T, got {len(tensors)}")
    n = len(tensors) // per
    return [list(tensors[i * n:(i + 1) * n]) for i in range(per)]


def _scalars(r: np.ndarray, t: np.ndarray) -> tuple[float, int]:
    return float(np.asarray(r).reshape(-1)[0]), int(np.asarray(t).reshape(-1)[0])


def _f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


@kernel("Adagrad", since=1, domain=DOMAIN, multi_output=True)
def Adagrad(r: np.ndarray, t: np.ndarray, *tensors: np.ndarray, decay_factor: float = 0.0, epsilon: float = 1e-6,
            norm_coefficient: float = 0.0) -> list[np.ndarray]:
    """h += g'^2; x -= r / (1 + t * decay_factor) * g' / (sqrt(h) + epsilon), with g' = g + norm_coefficient * x."""
    rate, step = _scalars(r, t)
    xs, gs, hs = _groups("Adagrad", tensors, 3)
    lr = rate / (1 + step * decay_factor)
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        grad = norm_coefficient * _f64(x) + g
        acc = h + grad * grad
        new_x.append((x - lr * grad / (np.sqrt(acc) + epsilon)).astype(x.dtype))
        new_h.append(acc.astype(h.dtype))
    return new_x + new_h


@kernel("Adam", since=1, domain=DOMAIN, multi_output=True)
def Adam(r: np.ndarray, t: np.ndarray, *tensors: np.ndarray, alpha: float = 0.9, beta: float = 0.999,
         epsilon: float = 1e-6, norm_coefficient: float = 0.0, norm_coefficient_post: float = 0.0) -> list[np.ndarray]:
    """Adam with bias correction from the first update on (t > 0) and optional post-update decay."""
    rate, step = _scalars(r, t)
    xs, gs, vs, hs = _groups("Adam", tensors, 4)
    lr = rate * np.sqrt(1 - beta**step) / (1 - alpha**step) if step > 0 else rate
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        grad = norm_coefficient * _f64(x) + g
        mom = alpha * _f64(v) + (1 - alpha) * grad
        sq = beta * _f64(h) + (1 - beta) * grad * grad
        upd = x - lr * mom / (np.sqrt(sq) + epsilon)
        new_x.append(((1 - norm_coefficient_post) * upd).astype(x.dtype))
        new_v.append(mom.astype(v.dtype))
        new_h.append(sq.astype(h.dtype))
    return new_x + new_v + new_h


@kernel("Momentum", since=1, domain=DOMAIN, multi_output=True)
def Momentum(r: np.ndarray, t: np.ndarray, *tensors: np.ndarray, alpha: float | None = None,
             beta: float | None = None, mode: str | None = None, norm_coefficient: float | None = None) -> list:
    """SGD with momentum (mode "standard") or Nesterov momentum (mode "nesterov"); the gradient's
    coefficient is 1 at the first update (t == 0), beta afterwards."""
    if alpha is None or beta is None or mode is None or norm_coefficient is None:
        raise ValueError("Momentum: the alpha, beta, mode and norm_coefficient attributes are required")
    if mode not in ("standard", "nesterov"):
        raise ValueError(f"Momentum: mode must be 'standard' or 'nesterov', not {mode!r}")
    rate, step = _scalars(r, t)
    xs, gs, vs = _groups("Momentum", tensors, 3)
    coef = beta if step > 0 else 1.0
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs):
        grad = norm_coefficient * _f64(x) + g
        mom = alpha * _f64(v) + coef * grad
        step_dir = mom if mode == "standard" else grad + alpha * mom
        new_x.append((x - rate * step_dir).astype(x.dtype))
        new_v.append(mom.astype(v.dtype))
    return new_x + new_v
