"""CPU-only peephole fusions done when the CPU provider compiles a subgraph.

- `Conv [-> per-channel affine ...] [-> Add or Sum (residual)] [-> activation]` becomes one `FusedConv`
  (activation: Relu, Clip with constant bounds, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, or
  com.microsoft QuickGelu, which the SiLU graph rewrite writes; see EPILOGUES): the
  affine steps (BatchNormalization with constant statistics, Mul or Add by a constant that is
  a scalar or one value per channel) are folded into the convolution's weights and bias once,
  here; the residual is added and the activation applied in place on the convolution's fresh
  output, saving a full pass over the tensor and an allocation each.
- A chain of such affine steps not preceded by a Conv (pre-activation BatchNormalization ->
  Mul -> Add -> Relu, as in DenseNet) becomes one `FusedAffine`: `x * a + b` with per-channel
  `a` and `b` precomputed, then the activation, in place: three passes instead of five or more.

The fusion happens inside the CPU provider, so the graph other providers see is untouched; the
partition still lists the original nodes. Folded parameters are computed in float64 and stored
in the input's dtype (float32 or float64 only), with the arithmetic of `ep_runtime.optimize`'s
Conv+BatchNormalization folding (`batchnorm_as_affine`, `fold_affine_into_conv`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from onnx import helper

from ep_runtime.graph import Node, SubGraph
from ep_runtime.optimize import batchnorm_as_affine, fold_affine_into_conv

from . import elementwise
from .activation import swish
from .conv import conv
from .registry import kernel

DOMAIN = "ep_runtime.cpu"
_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
_FOLDABLE = (np.dtype(np.float32), np.dtype(np.float64))


#: the activations a FusedConv applies to its output: name -> f(y, alpha, beta), y a fresh float array
EPILOGUES: dict[str, Any] = {
    "Relu": lambda y, a, b: np.maximum(y, 0, out=y),
    "Clip": lambda y, a, b: np.clip(y, a, b, out=y),
    "LeakyRelu": lambda y, a, b: elementwise.LeakyRelu(y, alpha=a),
    "Sigmoid": lambda y, a, b: elementwise.Sigmoid(y),
    "Tanh": lambda y, a, b: np.tanh(y, out=y),
    "HardSigmoid": lambda y, a, b: elementwise.HardSigmoid(y, alpha=a, beta=b),
    "HardSwish": lambda y, a, b: elementwise.HardSwish(y),
    "Swish": lambda y, a, b: swish(y, a),
}


def clamp(x: np.ndarray, lo: np.ndarray | None, hi: np.ndarray | None) -> np.ndarray:
    """x clipped to [lo, hi] (per channel when the bounds are); a missing bound clips nothing on its side."""
    if lo is not None and hi is not None:
        return np.clip(x, lo, hi)
    if lo is not None:
        return np.maximum(x, lo)
    return np.minimum(x, hi) if hi is not None else x


@kernel("FusedConv", since=1, domain=DOMAIN)
def FusedConv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, z: np.ndarray | None = None,
              lo: np.ndarray | None = None, hi: np.ndarray | None = None, *, activation: str = "",
              activation_alpha: float = 0.0, activation_beta: float = 0.0,
              auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
              kernel_shape: list[int] | None = None, pads: list[int] | None = None,
              strides: list[int] | None = None) -> np.ndarray:
    """x clipped to [lo, hi] per channel when given (a folded pre-activation), Conv, then `+ z` (a
    residual) when given, then `activation` (one of EPILOGUES, with its alpha / beta, or none)."""
    x = clamp(x, lo, hi)
    y = conv(x, w, b, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
             pads=pads, strides=strides)
    if not y.flags.writeable or np.may_share_memory(y, x):
        y = y.copy()
    if z is not None:
        if z.shape == y.shape and z.dtype == y.dtype:
            y += z
        else:
            y = y + z
    if activation:
        if activation not in EPILOGUES:
            raise ValueError(f"FusedConv: unknown activation {activation!r} (known: {', '.join(sorted(EPILOGUES))})")
        y = EPILOGUES[activation](y, activation_alpha, activation_beta)
    return y


@kernel("FusedAffine", since=1, domain=DOMAIN)
def FusedAffine(x: np.ndarray, a: np.ndarray, b: np.ndarray, *, activation: str = "") -> np.ndarray:
    """`x * a + b` (a and b broadcast per channel), then `activation` ("Relu" or none), in place."""
    y = np.multiply(x, a)
    y += b
    if activation == "Relu":
        np.maximum(y, 0, out=y)
    return y


class _Fuser:
    """The state of one fusion pass over a subgraph: single-consumer links and new constants."""

    def __init__(self, sg: SubGraph) -> None:
        self.sg = sg
        self.constants = dict(sg.constants)
        uses: dict[str, int] = {}
        for n in sg.nodes:
            for i in n.present_inputs + n.implicit_inputs:
                uses[i] = uses.get(i, 0) + 1
        external = set(sg.outputs)
        #: indices of nodes already part of a fused chain: a later chain must not take them again
        self.claimed: set[int] = set()
        self.consumer: dict[str, Node] = {}
        for n in sg.nodes:
            for i in n.present_inputs:
                if uses.get(i) == 1 and i not in external:
                    self.consumer[i] = n
        #: value -> the nodes reading it, for values read exactly twice (a gated activation x * gate(x))
        self.pair_readers: dict[str, list[Node]] = {}
        for n in sg.nodes:
            for i in dict.fromkeys(n.present_inputs):
                if uses.get(i) == 2 and i not in external:
                    self.pair_readers.setdefault(i, []).append(n)

    def next(self, node: Node, *ops: str) -> Node | None:
        """The only consumer of the node's single output when it is one of `ops` (default domain)."""
        if len(node.outputs) != 1:
            return None
        nxt = self.consumer.get(node.outputs[0])
        if nxt is None or nxt.op_type not in ops or nxt.domain or len(nxt.outputs) != 1 or nxt.index in self.claimed:
            return None
        return nxt

    def const(self, name: str) -> np.ndarray | None:
        return self.constants.get(name) if name else None

    def fresh(self, base: str, array: np.ndarray) -> str:
        name, k = base, 0
        while name in self.constants or self.sg.graph.values.get(name) is not None:
            k += 1
            name = f"{base}_{k}"
        self.constants[name] = array
        return name

    def affine(self, node: Node, x: str, rank: int, channels: int | None,
               dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
        """(scale, shift) in float64, shaped (1, C or 1, 1, ...) of the given rank, when `node` maps
        its input `x` to `x * scale + shift` channel by channel without changing x's shape."""
        if node.op_type == "BatchNormalization":
            if node.opset < 9 or node.attrs.get("training_mode", 0) or node.inputs[0] != x:
                return None
            params = [self.const(n) for n in node.inputs[1:5]]
            if len(params) != 4 or any(p is None or p.ndim != 1 or p.dtype != dtype for p in params):
                return None
            c = params[0].shape[0]
            if any(p.shape[0] != c for p in params) or (channels is not None and c != channels):
                return None
            a, s = batchnorm_as_affine(*params, float(node.attrs.get("epsilon", 1e-5)))
            shape = (1, c) + (1,) * (rank - 2)
            return a.reshape(shape), s.reshape(shape)
        if node.op_type not in ("Mul", "Add") or node.opset < 7 or len(node.present_inputs) != 2:
            return None
        others = [i for i in node.present_inputs if i != x]
        p = self.const(others[0]) if len(others) == 1 else None
        if p is None or p.dtype != dtype or p.ndim > rank:
            return None
        full = (1,) * (rank - p.ndim) + p.shape
        if any(d != 1 for k, d in enumerate(full) if k != 1) or (full[1] != 1 and full[1] != channels):
            return None
        v = p.astype(np.float64).reshape(full)
        if node.op_type == "Mul":
            return v, np.zeros(full)
        return np.ones(full), v

    def affine_chain(self, start: Node, x: str, rank: int, channels: int | None, dtype: np.dtype,
                     first: Node | None = None) -> tuple[list[Node], np.ndarray, np.ndarray]:
        """The longest run of affine nodes after `start` (or beginning with `first`), and their
        composed (scale, shift)."""
        chain: list[Node] = []
        scale, shift = np.ones(()), np.zeros(())
        node, value = first, x
        if node is None:
            node = self.next(start, "BatchNormalization", "Mul", "Add")
        while node is not None:
            step = self.affine(node, value, rank, channels, dtype)
            if step is None:
                break
            a, b = step
            scale, shift = scale * a, shift * a + b
            chain.append(node)
            value = node.outputs[0]
            node = self.next(node, "BatchNormalization", "Mul", "Add")
        return chain, scale, shift

    def fuse_conv(self, node: Node, pre: tuple[list[Node], str, np.ndarray, np.ndarray, bool] | None = None
                  ) -> tuple[list[Node], Node] | None:
        """Conv [-> affine...] [-> Add(residual)] [-> Relu] as (chain, FusedConv), or None.

        `pre` = (nodes, x, scale, shift, relu): the Conv's input is `[relu](x * scale + shift)`
        (per input channel); the caller has checked that the Conv has no padding, so that the
        affine part folds into the weights and bias and the Relu becomes a clip of x.
        """
        inputs = list(node.inputs) + [""] * (3 - len(node.inputs))
        w, b = self.const(inputs[1]), self.const(inputs[2])
        chain = [node]
        bounds: list[str] = []
        folded = False
        tag = f"__fused{node.index}"
        if pre is not None:
            nodes, x, scale, shift, relu = pre
            w, b, lo, hi = _fold_input_affine(w, b, int(node.attrs.get("group", 1)), scale, shift, relu)
            inputs[0] = x
            folded = True
            if relu:
                bounds = [self.fresh(x + "_lo" + tag, lo) if lo is not None else "",
                          self.fresh(x + "_hi" + tag, hi) if hi is not None else ""]
            chain = nodes + chain
        if w is not None and w.dtype in _FOLDABLE and w.ndim >= 3 and (not inputs[2] or b is not None):
            links, scale, shift = self.affine_chain(node, node.outputs[0], w.ndim, w.shape[0], w.dtype)
            if links:
                w, b = fold_affine_into_conv(w, b, scale, shift)
                folded = True
                chain += links
        if folded:
            inputs[1] = self.fresh(inputs[1] + tag, w)
            inputs[2] = self.fresh((inputs[2] or node.outputs[0] + "_b") + tag, b)
        residual = None
        add = self.next(chain[-1], "Add", "Sum")
        if add is not None and (add.op_type == "Sum" or add.opset >= 7) and len(add.present_inputs) == 2:
            others = [i for i in add.present_inputs if i != chain[-1].outputs[0]]
            if len(others) == 1:
                residual = others[0]
                chain.append(add)
        act = self.epilogue(chain[-1])
        if act is not None:
            chain += act[0]
        if len(chain) == 1:
            return None
        inputs.append(residual or "")
        inputs += bounds
        while inputs and not inputs[-1]:
            inputs.pop()
        attrs: dict[str, Any] = {k: v for k, v in node.attrs.items() if k in _CONV_ATTRS}
        if act is not None:
            attrs.update(act[1])
        return chain, _fused_node("FusedConv", inputs, attrs, chain)

    def epilogue(self, node: Node) -> tuple[list[Node], dict[str, Any]] | None:
        """The activation FusedConv can apply to the node's output — its only consumer, or the pair
        `x * Sigmoid(x)` / `x * HardSigmoid(x; 1/6, 1/2)` (SiLU, HardSwish) — as (nodes, attributes:
        activation, activation_alpha, activation_beta)."""
        if len(node.outputs) != 1:
            return None
        gated = self.gated(node.outputs[0])
        if gated is not None:
            return gated
        single = self.single_epilogue(node)
        return None if single is None else ([single[0]], single[1])

    def gated(self, x: str) -> tuple[list[Node], dict[str, Any]] | None:
        """([gate, mul], attributes) when x is read only by `gate(x)` and `Mul(x, gate(x))`, the gate a
        Sigmoid (SiLU: Swish with alpha 1) or a HardSigmoid of alpha 1/6 and beta 1/2 (HardSwish)."""
        readers = self.pair_readers.get(x, [])
        gate = next((r for r in readers if r.op_type in ("Sigmoid", "HardSigmoid") and not r.domain), None)
        mul = next((r for r in readers if r.op_type == "Mul" and not r.domain), None)
        if gate is None or mul is None or gate.index in self.claimed or mul.index in self.claimed:
            return None
        if len(gate.outputs) != 1 or self.consumer.get(gate.outputs[0]) is not mul \
                or sorted(mul.inputs) != sorted([x, gate.outputs[0]]) or len(mul.outputs) != 1:
            return None
        if gate.op_type == "Sigmoid":
            return [gate, mul], {"activation": "Swish", "activation_alpha": 1.0}
        alpha, beta = float(gate.attrs.get("alpha", 0.2)), float(gate.attrs.get("beta", 0.5))
        if abs(alpha - 1 / 6) > 1e-6 or beta != 0.5:
            return None
        return [gate, mul], {"activation": "HardSwish"}

    def single_epilogue(self, node: Node) -> tuple[Node, dict[str, Any]] | None:
        """The only consumer of the node's output when it is an activation FusedConv applies, with the
        attributes that say which."""
        act = self.consumer.get(node.outputs[0])
        if act is None or len(act.outputs) != 1 or act.index in self.claimed or not act.inputs \
                or act.inputs[0] != node.outputs[0]:
            return None
        a = act.attrs
        if act.domain == "com.microsoft":
            return (act, {"activation": "Swish", "activation_alpha": float(a.get("alpha", 1.702))}) \
                if act.op_type == "QuickGelu" else None
        if act.domain:
            return None
        if act.op_type in ("Relu", "Sigmoid", "Tanh", "HardSwish"):
            return act, {"activation": act.op_type}
        if act.op_type == "LeakyRelu":
            return act, {"activation": "LeakyRelu", "activation_alpha": float(a.get("alpha", 0.01))}
        if act.op_type == "HardSigmoid":
            return act, {"activation": "HardSigmoid", "activation_alpha": float(a.get("alpha", 0.2)),
                         "activation_beta": float(a.get("beta", 0.5))}
        if act.op_type == "Clip":
            bounds = _clip_bounds(act, self)
            return None if bounds is None else (act, {"activation": "Clip", "activation_alpha": bounds[0],
                                                      "activation_beta": bounds[1]})
        return None

    def fuse_affine(self, node: Node) -> tuple[list[Node], Node] | None:
        """An affine chain starting at `node` [-> Relu] as (chain, FusedAffine), or None."""
        x = node.inputs[0] if node.op_type == "BatchNormalization" else None
        if x is None:
            candidates = [i for i in node.present_inputs if i not in self.constants]
            if len(candidates) != 1:
                return None
            x = candidates[0]
        info = self.sg.graph.value(x)
        if info.dtype not in _FOLDABLE or info.shape is None or len(info.shape) < 2:
            return None
        channels = info.shape[1] if isinstance(info.shape[1], int) else None
        chain, scale, shift = self.affine_chain(node, x, len(info.shape), channels, info.dtype, first=node)
        if not chain:
            return None
        relu = self.next(chain[-1], "Relu")
        if relu is not None:
            chain.append(relu)
        after = self.next(chain[-1], "Conv")
        if after is not None and after.inputs[0] == chain[-1].outputs[0] and _unpadded(after):
            w = self.const(after.inputs[1])
            b = self.const(after.inputs[2]) if len(after.inputs) > 2 and after.inputs[2] else None
            if (w is not None and w.dtype == info.dtype and w.ndim == len(info.shape)
                    and (len(after.inputs) < 3 or not after.inputs[2] or b is not None)):
                c = w.shape[1] * int(after.attrs.get("group", 1))
                if scale.size in (1, c) and shift.size in (1, c):
                    pre = (chain, x, np.broadcast_to(scale.reshape(-1), (c,)), np.broadcast_to(shift.reshape(-1), (c,)),
                           relu is not None)
                    return self.fuse_conv(after, pre)
        if len(chain) < 2:
            return None
        tag = f"__fused{node.index}"
        a = self.fresh(x + "_scale" + tag, scale.astype(info.dtype))
        b = self.fresh(x + "_shift" + tag, shift.astype(info.dtype))
        return chain, _fused_node("FusedAffine", [x, a, b], {}, chain)


def fuse_subgraph(sg: SubGraph) -> SubGraph:
    """The subgraph with Conv and affine chains replaced by fused nodes (or `sg` unchanged)."""
    fuser = _Fuser(sg)
    # The fused node takes the place of the chain's last node: by then the residual exists.
    replaced: dict[int, Node] = {}
    dropped: set[int] = set()
    for node in sg.nodes:
        if node.domain or len(node.outputs) != 1 or node.index in fuser.claimed:
            continue
        if node.op_type == "Conv":
            fused = fuser.fuse_conv(node)
        elif node.op_type in ("BatchNormalization", "Mul", "Add"):
            fused = fuser.fuse_affine(node)
        else:
            continue
        if fused is not None:
            chain, new = fused
            replaced[chain[-1].index] = new
            dropped.update(n.index for n in chain[:-1])
            fuser.claimed.update(n.index for n in chain)
    if not replaced:
        return sg
    nodes = [replaced.get(n.index, n) for n in sg.nodes if n.index not in dropped]
    return dataclasses.replace(sg, nodes=nodes, constants=fuser.constants)


def _clip_bounds(node: Node, fuser: _Fuser) -> tuple[float, float] | None:
    """A Clip's (min, max) as floats (infinite when absent), None unless both are known constants."""
    if node.opset < 11:
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
    else:
        values = [fuser.const(node.inputs[k]) if len(node.inputs) > k and node.inputs[k] else None for k in (1, 2)]
        given = [len(node.inputs) > k and bool(node.inputs[k]) for k in (1, 2)]
        if any(g and (v is None or v.size != 1 or v.dtype.kind != "f") for g, v in zip(given, values)):
            return None
        lo, hi = (float(v.reshape(())) if v is not None else None for v in values)
    lo = -np.inf if lo is None else float(lo)
    hi = np.inf if hi is None else float(hi)
    return None if np.isnan(lo) or np.isnan(hi) else (lo, hi)


def _unpadded(node: Node) -> bool:
    """Whether a Conv reads only real input positions (no zero padding), so that an affine map of
    its input can be folded into its weights."""
    if node.domain or node.op_type != "Conv":
        return False
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return True
    return auto_pad in ("NOTSET", "") and not any(node.attrs.get("pads") or [])


def _fold_input_affine(w: np.ndarray, b: np.ndarray | None, group: int, scale: np.ndarray, shift: np.ndarray,
                       relu: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Weights, bias and clip bounds of a Conv whose input is `[relu](x * scale + shift)`.

    Per input channel with scale a != 0, relu(a x + s) = a * max(x, -s/a) + s when a > 0 and
    a * min(x, -s/a) + s when a < 0; without the Relu it is a x + s. The factor a scales the
    weights' input channels, the constant s (relu(s) where a = 0) goes through the weights into
    the bias. Returns (new_w, new_b, lo, hi), lo/hi None where no bound is needed.
    """
    m, cg = w.shape[:2]
    mg = m // group
    a, s = scale.astype(np.float64), shift.astype(np.float64)
    const = np.where(a == 0, np.maximum(s, 0), s) if relu else s

    def per_output(v: np.ndarray) -> np.ndarray:  # (C,) -> (M, C/group, 1, ...) for each output channel
        return np.repeat(v.reshape(group, cg), mg, axis=0).reshape((m, cg) + (1,) * (w.ndim - 2))

    w64 = w.astype(np.float64)
    bias = (b.astype(np.float64) if b is not None else np.zeros(m)) + (w64 * per_output(const)).reshape(m, -1).sum(1)
    new_w = (w64 * per_output(a)).astype(w.dtype)
    lo = hi = None
    if relu:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(a != 0, -s / np.where(a != 0, a, 1), 0)
        shape = (1, t.shape[0]) + (1,) * (w.ndim - 2)
        if (a > 0).any() or (a == 0).any():
            lo = np.where(a > 0, t, np.where(a < 0, -np.inf, 0)).astype(w.dtype).reshape(shape)
        if (a < 0).any() or (a == 0).any():
            hi = np.where(a < 0, t, np.where(a > 0, np.inf, 0)).astype(w.dtype).reshape(shape)
    return new_w, bias.astype(w.dtype), lo, hi


def _fused_node(op: str, inputs: list[str], attrs: dict[str, Any], chain: list[Node]) -> Node:
    if chain[-1].op_type == "Relu":
        attrs["activation"] = "Relu"
    out = chain[-1].outputs[0]
    name = "+".join(n.name or f"#{n.index}" for n in chain)
    proto = helper.make_node(op, inputs, [out], name=name, domain=DOMAIN)
    return Node(chain[-1].index, name, op, DOMAIN, inputs, [out], attrs, 1, proto)
