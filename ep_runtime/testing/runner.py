"""Running the kit: each case on the provider under test (CPU fallback off) and on the reference CPU
provider, and the light models with the provider first, checking results and device copies."""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx

from ..errors import NotImplementedByAnyProvider
from ..executor import build_plan
from ..graph import Graph
from ..model import load_model, prepare_model
from ..optimize import GraphOptimizationLevel
from ..partition import HOST, assign, partition
from ..provider import ExecutionProvider, KernelProvider
from ..registry import create_provider, find_provider_class, reference_provider
from ..session import InferenceSession, SessionOptions
from . import cases as case_sources
from .cases import Case, op_matches
from .compare import compare_arrays, compare_outputs
from .report import CaseResult, ModelResult, SelftestReport

#: where onnx keeps the light models (the ONNX model zoo's models with constant weights)
LIGHT_MODELS_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
#: model results compare within these (whole networks accumulate rounding differences)
MODEL_RTOL, MODEL_ATOL = 1e-3, 1e-4


def light_models() -> dict[str, str]:
    """Name -> path of the light models installed with onnx (none when onnx ships without them)."""
    paths = sorted(glob.glob(os.path.join(LIGHT_MODELS_DIR, "light_*.onnx")))
    return {os.path.basename(p)[len("light_"):-len(".onnx")]: p for p in paths}


def graph_of(model: onnx.ModelProto) -> Graph:
    """The graph a session builds from `model` (loaded, checked, shapes inferred), unoptimized."""
    prepared = prepare_model(load_model(model))
    opsets = {("" if o.domain in ("", "ai.onnx") else o.domain): int(o.version) for o in prepared.opset_import}
    functions = {(f.domain, f.name): f for f in prepared.functions}
    return Graph(prepared.graph, opsets, functions=functions)


class Reference:
    """Runs models on the reference: the built-in CPU provider's default (numpy) kernels, without plugin
    kernels (registry.reference_provider) or the provider's own named implementations (native ones)."""

    def __init__(self) -> None:
        self.provider = reference_provider()
        if isinstance(self.provider, KernelProvider):
            self.provider.kernels = self.provider.kernels.defaults()

    def run(self, model: onnx.ModelProto, inputs: Sequence[Any]) -> list[Any]:
        """The outputs of `model` on `inputs` (in graph input order)."""
        graph = graph_of(model)
        plan = build_plan(graph, partition(graph, [self.provider]), [self.provider], None,
                          int(GraphOptimizationLevel.ORT_DISABLE_ALL))
        with np.errstate(all="ignore"):
            outs = plan(*inputs)
        return [np.asarray(o) if isinstance(o, np.generic) else o for o in outs]


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Selftest:
    """One provider (with its options) under test; `run_case` and `run_model` give one result each."""

    def __init__(self, provider: str, options: dict[str, Any] | None = None, *, rtol: float | None = None,
                 atol: float | None = None) -> None:
        self.cls = find_provider_class(provider)
        self.options = dict(options or {})
        if "poison_outputs" in (self.cls.known_options or ()):
            # outputs a kernel leaves unwritten then hold a poison pattern, never stale memory that
            # may happen to equal the reference
            self.options.setdefault("poison_outputs", True)
        self.instance: ExecutionProvider = create_provider(self.cls, dict(self.options))
        self.reference = Reference()
        self.rtol, self.atol = rtol, atol

    def _session(self, model: onnx.ModelProto, strict: bool) -> InferenceSession:
        opts = SessionOptions()
        providers: list[Any] = [(self.cls.name, dict(self.options))]
        if strict:
            opts.disable_cpu_ep_fallback = True
            opts.graph_optimization_level = GraphOptimizationLevel.ORT_DISABLE_ALL
        else:
            providers.append("CPUExecutionProvider")
        return InferenceSession(model, opts, providers=providers)

    def run_case(self, case: Case) -> CaseResult:
        """Claimed? Then run with CPU fallback off and compare with the reference."""
        def result(status: str, detail: str = "") -> CaseResult:
            return CaseResult(case.name, case.source, case.op_label, case.version, case.dtype, status, detail)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                graph = graph_of(case.model)
            except Exception as exc:
                return result("skipped", f"the case does not load: {_one_line(exc)}")
            decision = assign(graph, [self.instance])[0]
            if decision.provider is None:
                refusal = decision.refusals.get(self.cls.name)
                return result("refused", str(refusal) if refusal is not None else "not claimed")
            try:
                sess = self._session(case.model, strict=True)
                names = [o.name for o in sess.get_outputs()]
                got = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], case.inputs)))
            except NotImplementedByAnyProvider as exc:
                return result("refused", str(exc).splitlines()[-1].strip())
            except Exception as exc:
                return result("failed", f"raised {_one_line(exc)}")
            if case.random:
                want_like = case.expected or []
                for name, g, w in zip(names, got, want_like):
                    if np.shape(g) != np.shape(w) or np.asarray(g).dtype != np.asarray(w).dtype:
                        return result("failed", f"output {name!r}: shape {np.shape(g)} {np.asarray(g).dtype}, "
                                                f"want {np.shape(w)} {np.asarray(w).dtype} (random op: values "
                                                "not compared)")
                return result("passed", "random op: dtype and shape compared")
            try:
                want = self.reference.run(case.model, case.inputs)
            except Exception as exc:
                if case.expected is None:
                    return result("skipped", f"the reference CPU provider raised {_one_line(exc)}")
                want = None
            if want is not None:
                mismatch = compare_outputs(names, got, want, self.rtol, self.atol)
                if mismatch is None:
                    return result("passed")
            if case.expected is not None and self._matches_onnx(names, got, case.expected):
                return result("passed", "matches onnx's expected outputs (the reference CPU provider "
                                        + ("raised)" if want is None else "differs)"))
            return result("failed", str(mismatch if want is not None else "differs from onnx's expected outputs"))

    def _matches_onnx(self, names: list[str], got: list[Any], expected: list[Any]) -> bool:
        if len(got) != len(expected):
            return False
        return all(compare_arrays(n, g, np.asarray(w) if isinstance(w, np.ndarray) else w, self.rtol, self.atol)
                   is None for n, g, w in zip(names, got, expected))

    def run_model(self, name: str, path: str, seed: int = 0) -> ModelResult:
        """The model with the provider first (CPU fallback on) against the reference, and its copies:
        when the provider runs every node, only graph inputs may be copied in and outputs out."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = onnx.load(path)
                sess = self._session(model, strict=False)
            except Exception as exc:
                return ModelResult(name, "failed", 0, 0, 0, f"session creation raised {_one_line(exc)}")
            part = sess.get_partition()
            total = len(part.decisions)
            mine = len(part.nodes_on(self.cls.name))
            rng = np.random.default_rng(seed)
            inputs = [rng.random([d if isinstance(d, int) else 1 for d in (i.shape or [])], dtype=np.float32)
                      for i in sess.get_inputs()]
            feed = dict(zip([i.name for i in sess.get_inputs()], inputs))
            try:
                got = sess.run(None, feed)
            except Exception as exc:
                return ModelResult(name, "failed", mine, total, len(part.copies), f"run raised {_one_line(exc)}")
            want = self.reference.run(model, inputs)
        copies = part.copies
        names = [o.name for o in sess.get_outputs()]
        mismatch = compare_outputs(names, got, want, MODEL_RTOL, MODEL_ATOL)
        if mismatch is not None:
            return ModelResult(name, "failed", mine, total, len(copies), str(mismatch))
        if mine == total:
            device = part.devices[self.cls.name]
            graph_inputs = {i.name for i in sess.get_inputs()}
            extra = [c for c in copies if not ((c.src == HOST and c.dst == device and c.value in graph_inputs)
                                                 or (c.dst == HOST and c.value in names))]
            if extra:
                shown = ", ".join(f"{c.value!r} {c.src}->{c.dst}" for c in extra[:5])
                return ModelResult(name, "failed", mine, total, len(copies),
                                   f"{len(extra)} copies besides graph inputs in and outputs out, although the "
                                   f"provider runs every node: {shown}")
        return ModelResult(name, "passed", mine, total, len(copies), "")

    def kernel_ops(self) -> list[str]:
        """The ops a KernelProvider has kernels for (`domain::Op` outside the default domain)."""
        if not isinstance(self.instance, KernelProvider):
            return []
        return [f"{d}::{op}" if d else op for d, op in self.instance.kernels.ops()]


def run_selftest(
    provider: str,
    options: dict[str, Any] | None = None,
    *,
    ops: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    onnx_cases: bool = True,
    edge_cases: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> SelftestReport:
    """Run the provider developer kit on `provider` created with `options`.

    `ops` limits the op types (None: all); `models` names the light models to run (None: every one
    installed; an empty list: none). The report says, per op, version and dtype, how many cases the
    provider claimed, passed, failed (with the first mismatching index and values) or refused (why).
    """
    test = Selftest(provider, options, rtol=rtol, atol=atol)
    todo: list[Case] = []
    if onnx_cases:
        todo += case_sources.onnx_cases(ops)
    if edge_cases:
        todo += case_sources.edge_cases(ops)
    results = []
    for k, case in enumerate(todo):
        if progress is not None and k % 100 == 0:
            progress(f"case {k + 1} of {len(todo)}")
        results.append(test.run_case(case))
    available = light_models()
    chosen = list(available) if models is None else [m for m in models if m in available]
    missing = [] if models is None else [m for m in models if m not in available]
    model_results = []
    for name in chosen:
        if progress is not None:
            progress(f"model {name}")
        model_results.append(test.run_model(name, available[name]))
    tested = {r.op for r in results}
    untested = [op for op in test.kernel_ops() if op not in tested and op_matches(*_split(op), ops)]
    return SelftestReport(test.cls.name, dict(test.options), results, model_results, untested, missing)


def _split(label: str) -> tuple[str, str]:
    domain, sep, op = label.rpartition("::")
    return (op, domain) if sep else (label, "")
