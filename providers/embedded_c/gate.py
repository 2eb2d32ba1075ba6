"""The vendor kernel gate (TFLite Micro's rule): a swapped-in kernel must pass the reference kernel's
operator test cases bit-for-bit or within a stated tolerance.

`check_kernel("Relu", "my_relu.c")` runs every gate case of the operator (and of the ops sharing its
kernel) on a session whose library has the vendor source in place of the default one, and compares
each output with the cpu provider (the oracle the default kernels are held to, rtol 1e-4 / atol 1e-5)
and with the default C kernel (to say whether it is bit-exact). CLI:

    ep-runtime check-kernel Relu=my_relu.c [--rtol 1e-4] [--atol 1e-5]

exits 0 when every case passes, 1 otherwise, and prints each case with its largest error.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ep_runtime.errors import EPRuntimeError

from .lowering import OP_SOURCES

RTOL, ATOL = 1e-4, 1e-5


def _r(seed: int, *shape: int, scale: float = 4.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# case name -> (op, {input: shape}, {constant: array}, {attribute: value}, number of outputs).
# Inputs are N(0, 4^2): wide enough to cross any clamp a vendor might add (Relu6, saturating int paths);
# the activations' inputs also hold NaN, +-inf and -0.0 (SPECIAL_VALUE_CASES).
_C = {
    "relu": ("Relu", {"x": (4, 64)}, {}, {}, 1),
    "leaky_relu": ("LeakyRelu", {"x": (4, 64)}, {}, {"alpha": 0.2}, 1),
    "sigmoid": ("Sigmoid", {"x": (4, 64)}, {}, {}, 1),
    "tanh": ("Tanh", {"x": (4, 64)}, {}, {}, 1),
    "clip": ("Clip", {"x": (4, 64)}, {"lo": np.float32(-0.5), "hi": np.float32(0.7)}, {}, 1),
    "add_broadcast": ("Add", {"a": (2, 3, 4, 5), "b": (3, 1, 5)}, {}, {}, 1),
    "add_same": ("Add", {"a": (4, 33), "b": (4, 33)}, {}, {}, 1),
    "sub_scalar": ("Sub", {"a": (3, 4), "b": ()}, {}, {}, 1),
    "mul_same": ("Mul", {"a": (6, 7), "b": (6, 7)}, {}, {}, 1),
    "div_row": ("Div", {"a": (4, 5)}, {"b": np.abs(_r(7, 4, 1)) + 0.5}, {}, 1),
    "sum3": ("Sum", {"a": (2, 3, 4), "b": (3, 4), "c": (2, 3, 4)}, {}, {}, 1),
    "conv_pads_strides": ("Conv", {"x": (1, 3, 11, 9), "w": (4, 3, 3, 3), "b": (4,)}, {},
                          {"pads": [1, 2, 0, 1], "strides": [2, 1]}, 1),
    "conv_groups_dilations": ("Conv", {"x": (2, 4, 10, 10), "w": (6, 2, 3, 3)}, {},
                              {"group": 2, "dilations": [2, 1], "pads": [1, 1, 1, 1]}, 1),
    "conv_depthwise_same": ("Conv", {"x": (1, 4, 7, 7), "w": (4, 1, 3, 3)}, {},
                            {"group": 4, "auto_pad": "SAME_UPPER"}, 1),
    "conv_pointwise": ("Conv", {"x": (1, 8, 5, 5), "w": (3, 8, 1, 1)}, {}, {}, 1),
    "conv_1d": ("Conv", {"x": (1, 2, 12), "w": (3, 2, 3)}, {}, {"pads": [1, 1]}, 1),
    "gemm_transb_bias": ("Gemm", {"a": (3, 5), "b": (4, 5), "c": (4,)}, {},
                         {"transB": 1, "alpha": 0.5, "beta": 2.0}, 1),
    "gemm_transa": ("Gemm", {"a": (5, 3), "b": (5, 4), "c": (3, 1)}, {}, {"transA": 1}, 1),
    "gemm_large": ("Gemm", {"a": (7, 70), "b": (70, 37)}, {}, {}, 1),
    "matmul_batched": ("MatMul", {"a": (2, 1, 3, 4), "b": (3, 4, 5)}, {}, {}, 1),
    "matmul_vector": ("MatMul", {"a": (4,), "b": (2, 4, 3)}, {}, {}, 1),
    "matmul_large": ("MatMul", {"a": (9, 67), "b": (67, 35)}, {}, {}, 1),
    "maxpool": ("MaxPool", {"x": (1, 2, 9, 9)}, {},
                {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 1),
    "maxpool_ceil_dilated": ("MaxPool", {"x": (1, 2, 10, 10)}, {},
                             {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "dilations": [1, 2]}, 1),
    "averagepool_pads": ("AveragePool", {"x": (1, 2, 7, 7)}, {},
                         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 1),
    "averagepool_count_pad": ("AveragePool", {"x": (1, 2, 7, 7)}, {},
                              {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, 1),
    "globalaveragepool": ("GlobalAveragePool", {"x": (2, 3, 5, 6)}, {}, {}, 1),
    "batchnorm": ("BatchNormalization", {"x": (2, 3, 4, 4)},
                  {"s": _r(1, 3), "bb": _r(2, 3), "m": _r(3, 3), "v": np.abs(_r(4, 3)) + 0.5}, {"epsilon": 1e-3}, 1),
    "softmax_axis1": ("Softmax", {"x": (3, 4, 5)}, {}, {"axis": 1}, 1),
    "softmax_last": ("Softmax", {"x": (3, 40)}, {}, {}, 1),
    "concat": ("Concat", {"a": (2, 3, 4), "b": (2, 1, 4), "c": (2, 5, 4)}, {}, {"axis": 1}, 1),
    "transpose": ("Transpose", {"x": (2, 3, 4, 5)}, {}, {"perm": [0, 2, 3, 1]}, 1),
    "lrn": ("LRN", {"x": (1, 7, 4, 4)}, {}, {"size": 4, "alpha": 1e-3, "beta": 0.75, "bias": 2.0}, 1),
    "reshape": ("Reshape", {"x": (2, 3, 4)}, {"shape": np.array([4, -1], dtype=np.int64)}, {}, 1),
    "flatten": ("Flatten", {"x": (2, 3, 4)}, {}, {"axis": 2}, 1),
    "identity": ("Identity", {"x": (3, 4)}, {}, {}, 1),
    "lstm_bidirectional": ("LSTM", {"x": (5, 3, 4)},
                           {"W": _r(5, 2, 24, 4, scale=0.5), "R": _r(6, 2, 24, 6, scale=0.5),
                            "B": _r(8, 2, 48, scale=0.5)},
                           {"hidden_size": 6, "direction": "bidirectional"}, 3),
}
GATE_CASES: dict[str, tuple[str, dict[str, tuple], dict[str, np.ndarray], dict[str, Any], int]] = _C

#: cases whose input also holds NaN, +-inf and -0.0: an activation must keep NaN (as onnxruntime
#: and the cpu provider do) and saturate at the infinities
SPECIAL_VALUES = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype=np.float32)
SPECIAL_VALUE_CASES = frozenset({"relu", "leaky_relu", "sigmoid", "tanh", "clip", "identity"})


def gate_feed(case: str, inputs: dict[str, tuple]) -> dict[str, np.ndarray]:
    """The inputs of gate case `case`: N(0, 4^2), with SPECIAL_VALUES first where the case asks for them."""
    feed = {n: _r(100 + k, *s) for k, (n, s) in enumerate(inputs.items())}
    if case in SPECIAL_VALUE_CASES:
        for arr in feed.values():
            flat = arr.reshape(-1)
            flat[:SPECIAL_VALUES.size] = SPECIAL_VALUES[:flat.size]
    return feed


def gate_model(op: str, inputs: dict[str, tuple], consts: dict[str, np.ndarray], attrs: dict[str, Any],
               n_outputs: int = 1) -> onnx.ModelProto:
    outs = [f"y{k}" for k in range(n_outputs)]
    node = helper.make_node(op, list(inputs) + list(consts), outs, **attrs)
    g = helper.make_graph([node], "gate", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                           for n, s in inputs.items()],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                          [numpy_helper.from_array(np.asarray(v), n) for n, v in consts.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@dataclass
class CaseResult:
    case: str
    op: str
    passed: bool
    max_abs: float
    max_rel: float
    bit_exact: bool
    error: str = ""


@dataclass
class GateReport:
    op: str
    source: str
    rtol: float
    atol: float
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def max_abs(self) -> float:
        return max((c.max_abs for c in self.cases), default=0.0)

    def report(self) -> str:
        lines = [f"gate for {self.op} kernel {self.source} "
                 f"(rtol {self.rtol:g}, atol {self.atol:g} vs the cpu provider)"]
        for c in self.cases:
            status = "PASS" if c.passed else "FAIL"
            exact = ", bit-exact with the default kernel" if c.bit_exact else ""
            extra = f": {c.error}" if c.error else ""
            lines.append(f"  {status} {c.case:<24} {c.op:<20} max abs err {c.max_abs:.3g}, max rel err "
                         f"{c.max_rel:.3g}{exact}{extra}")
        worst = max(self.cases, key=lambda c: c.max_abs, default=None)
        verdict = "PASS" if self.passed else "FAIL"
        where = f" (in {worst.case})" if worst is not None else ""
        lines.append(f"{verdict}: {sum(c.passed for c in self.cases)} of {len(self.cases)} cases pass; "
                     f"largest abs error {self.max_abs:.3g}{where}")
        return "\n".join(lines)


def cases_for(op: str) -> dict[str, tuple]:
    """The gate cases of every op that runs the same C kernel as `op`."""
    stem = OP_SOURCES.get(op)
    if stem is None:
        raise EPRuntimeError(f"check-kernel: {op!r} has no C kernel; known ops: {', '.join(sorted(OP_SOURCES))}")
    return {k: v for k, v in GATE_CASES.items() if OP_SOURCES[v[0]] == stem}


def _errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    if got.shape != want.shape:
        return float("inf"), float("inf")
    if not got.size:
        return 0.0, 0.0
    g, w = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(all="ignore"):  # NaN and infinities: equal ones are no error, others the largest
        diff = np.abs(g - w)
        diff[(np.isnan(g) & np.isnan(w)) | (g == w)] = 0.0
        diff[np.isnan(diff)] = np.inf
        rel = np.where(diff == 0.0, 0.0, diff / np.maximum(np.abs(w), 1e-30))
    rel[np.isnan(rel)] = np.inf
    return float(diff.max()), float(rel.max())


def check_kernel(op: str, source: str | os.PathLike, rtol: float = RTOL, atol: float = ATOL,
                 fused: bool = False) -> GateReport:
    """Run the reference kernel's gate cases for `op` against the vendor `source`; see the module doc."""
    from ep_runtime import InferenceSession, SessionOptions

    cases = cases_for(op)
    report = GateReport(op, os.fspath(source), rtol, atol)
    so = SessionOptions()
    so.disable_cpu_ep_fallback = True
    for name, (case_op, inputs, consts, attrs, n_out) in sorted(cases.items()):
        model = gate_model(case_op, inputs, consts, attrs, n_out)
        feed = gate_feed(name, inputs)
        want = InferenceSession(model, providers=["cpu"]).run(None, feed)
        default = InferenceSession(model, so, providers=[("embedded_c", {"fused": fused})]).run(None, feed)
        try:
            sess = InferenceSession(model, so, providers=[("embedded_c", {"fused": fused,
                                                                          "kernels": {case_op: os.fspath(source)}})])
            got = sess.run(None, feed)
        except Exception as exc:  # a build or run failure fails the case, with its message
            report.cases.append(CaseResult(name, case_op, False, float("inf"), float("inf"), False,
                                           f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"))
            continue
        errs = [_errors(np.asarray(g), np.asarray(w)) for g, w in zip(got, want)]
        max_abs = max(e[0] for e in errs)
        max_rel = max(e[1] for e in errs)
        ok = all(g.shape == w.shape and np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
                 for g, w in zip(got, want))
        exact = all(np.array_equal(g, d, equal_nan=True) for g, d in zip(got, default))
        report.cases.append(CaseResult(name, case_op, ok, max_abs, max_rel, exact))
    return report


def cmd_check_kernel(args: argparse.Namespace) -> int:
    op, sep, path = args.kernel.partition("=")
    if not sep or not op or not path:
        raise SystemExit(f"check-kernel expects OP=FILE.c, got {args.kernel!r}")
    report = check_kernel(op, path, args.rtol, args.atol, fused=args.fused)
    print(report.report())
    return 0 if report.passed else 1


def add_command(subparsers: Any) -> None:
    p = subparsers.add_parser("check-kernel",
                              help="hold a vendor C kernel to the default kernel's operator tests (OP=FILE.c)")
    p.add_argument("kernel", metavar="OP=FILE.c", help="the operator and the vendor source replacing its kernel")
    p.add_argument("--rtol", type=float, default=RTOL)
    p.add_argument("--atol", type=float, default=ATOL)
    p.add_argument("--fused", action="store_true", help="run the cases through the fused mode")
    p.set_defaults(fn=cmd_check_kernel)
