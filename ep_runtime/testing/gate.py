"""Kernel gates: one kernel held to the reference CPU provider on the kit's cases.

A gate runs the kit's cases of one op (onnx's node cases and the kit's edge cases: odd sizes with
n mod 8 != 0 tails, broadcasting, empty, scalar, NaN/Inf, large magnitudes, non-contiguous inputs)
on a provider with the kernel under test in place and CPU fallback off, compares every output with
the reference CPU provider (compare.py), and fails with the first mismatching index and values.
The kernel under test is one of:

- a Python kernel, `module:function` (or the function itself): registered for the op on a kernel
  provider (the cpu provider unless another is named), as a plugin's `ep_runtime_kernels` would;
- a kernel source file (`my_relu.c`): given to the provider as its `kernels` option `{OP: FILE}`,
  the convention of providers that build kernels from source (embedded_c);
- nothing: the kernel the provider runs for the op as installed, plugin overrides included.

    ep-runtime check-kernel Relu=my_relu.c
    ep-runtime check-kernel Softmax=my_vendor.kernels:softmax [-p cpu]
    ep-runtime check-kernel Softmax -p cpu

From Python: `check_kernel("Softmax", "my_vendor.kernels:softmax").passed`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..cli_providers import add_provider_arguments
from ..errors import InvalidArgument, ProviderError
from ..plugins import get_plugin_manager, hookimpl
from ..provider import ExecutionProvider, KernelProvider, KernelRegistry
from ..registry import find_provider_class, provider_classes, unavailable_reason
from .cases import Case, edge_cases, onnx_cases
from .command import _names
from .report import CaseResult, SelftestReport
from .runner import Selftest

#: the provider option that maps an op to a kernel source file
SOURCE_OPTION = "kernels"
#: failed cases a gate's report lists
SHOWN = 20
#: the name the kernel under test is registered under with the plugin manager while a gate runs
GATE_PLUGIN = "ep-runtime-kernel-gate"


@dataclass
class GateReport:
    """A kernel gate's verdict: the kit's results for the op (`selftest`), passed when at least one
    case ran the kernel and none failed."""

    op: str
    kernel: str
    selftest: SelftestReport

    @property
    def claimed(self) -> int:
        """Cases the provider ran (passed or failed)."""
        return sum(r.status in ("passed", "failed") for r in self.selftest.cases)

    @property
    def failures(self) -> list[CaseResult]:
        """The failed cases, in run order."""
        return self.selftest.failures

    @property
    def passed(self) -> bool:
        """No case failed, and at least one case ran the kernel."""
        return self.claimed > 0 and not self.failures

    def report(self) -> str:
        """The coverage table, then the verdict with the first failing case (index and values)."""
        lines = [f"kernel gate: {self.op} = {self.kernel} on {self.selftest.provider}, against the reference "
                 "CPU provider", self.selftest.table(), ""]
        if self.failures:
            lines.append("failed cases:")
            lines += [f"  {r.case} ({r.op} v{r.version} {r.dtype}): {r.detail}" for r in self.failures[:SHOWN]]
            if len(self.failures) > SHOWN:
                lines.append(f"  ... and {len(self.failures) - SHOWN} more")
            first = self.failures[0]
            lines.append(f"FAIL: {len(self.failures)} of {self.claimed} cases fail; first: {first.case} "
                         f"({first.op} v{first.version} {first.dtype}): {first.detail}")
        elif not self.selftest.cases:
            lines.append(f"FAIL: the kit has no cases for {self.op} (onnx's node cases and the kit's edge cases), so "
                         "the kernel was not tested")
        elif not self.claimed:
            lines.append(f"FAIL: {self.selftest.provider} ran none of the {len(self.selftest.cases)} cases of "
                         f"{self.op}, so the kernel was not tested")
        else:
            lines.append(f"PASS: {self.claimed} cases pass")
        return "\n".join(lines)


def load_python_kernel(spec: str) -> Callable[..., Any]:
    """The function named by `module:function` (`package.module:Class.attr` works too)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidArgument(f"a Python kernel is named module:function, got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgument(f"cannot import the kernel's module {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidArgument(f"module {module_name!r} has no {attr!r} (kernel {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InvalidArgument(f"kernel {spec!r} is a {type(obj).__name__}, not a function")
    return obj


def is_python_kernel(kernel: str) -> bool:
    """Whether a kernel given as text names a Python function (`module:function`) rather than a file."""
    module, sep, attr = kernel.partition(":")
    return bool(sep) and not os.path.exists(kernel) and module.replace(".", "").replace("_", "").isalnum() \
        and bool(attr)


def source_provider() -> type[ExecutionProvider]:
    """The one available provider that takes kernel source files (a `kernels` option)."""
    takers = [c for c in provider_classes() if c.known_options is not None and SOURCE_OPTION in c.known_options]
    usable = [c for c in takers if unavailable_reason(c) is None]
    if len(usable) == 1:
        return usable[0]
    if not usable:
        why = "; ".join(f"{c.name}: {unavailable_reason(c)}" for c in takers)
        raise ProviderError("no available provider takes kernel source files (a 'kernels' option)"
                            + (f": {why}" if why else ""))
    raise InvalidArgument(f"several providers take kernel source files ({', '.join(c.name for c in usable)}): "
                          "name one with -p")


def _override(op: str, fn: Callable[..., Any], cls: type[KernelProvider], domain: str,
              since: int | None) -> tuple[KernelRegistry, int]:
    """A registry holding `fn` for `op` from `since` (default: the provider's newest kernel's version
    start), so that it replaces that kernel; and the version start used. A node the function cannot
    take (an attribute its signature lacks) is refused, never run by the kernel it replaces."""
    have = cls.registry.versions(op, domain)
    start = since if since is not None else (max(k.since for k in have) if have else 1)
    kernels = KernelRegistry()
    kernels.kernel(op, since=start, domain=domain)(fn)  # "default": no falling back to the kernel it replaces
    return kernels, start


def check_kernel(
    op: str,
    kernel: str | os.PathLike | Callable[..., Any] | None = None,
    *,
    provider: str | None = None,
    options: dict[str, Any] | None = None,
    ops: Sequence[str] | None = None,
    since: int | None = None,
    dtypes: Sequence[str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    with_onnx_cases: bool = True,
) -> GateReport:
    """Gate `kernel` for `op` (see the module doc) on `provider` with `options`.

    `ops` are the op types whose cases run (default: `op`; give every op sharing the kernel);
    `since` is the first op version a Python kernel serves (default: the provider's newest kernel's),
    and only cases of that version or later run; `dtypes` limits the cases to those input dtypes;
    `rtol`/`atol` override the kit's per-dtype tolerances.
    """
    domain, _, op_type = op.rpartition("::")
    options = dict(options or {})
    label = "the installed kernel"
    fn: Callable[..., Any] | None = None
    if callable(kernel):
        fn, label = kernel, f"{getattr(kernel, '__module__', '?')}:{getattr(kernel, '__qualname__', kernel)}"
    elif kernel is not None and is_python_kernel(os.fspath(kernel)):
        fn, label = load_python_kernel(os.fspath(kernel)), os.fspath(kernel)
    elif kernel is not None:
        path = os.fspath(kernel)
        if not os.path.isfile(path):
            raise InvalidArgument(f"kernel source {path!r} for {op} does not exist")
        label = path
        provider = provider or source_provider().name
        sources = dict(options.get(SOURCE_OPTION) or {})
        sources[op_type] = path
        options[SOURCE_OPTION] = sources
    cls = find_provider_class(provider or "cpu")
    if SOURCE_OPTION in options and (cls.known_options is None or SOURCE_OPTION not in cls.known_options):
        raise InvalidArgument(f"{cls.name} does not take kernel source files (it declares no {SOURCE_OPTION!r} "
                              "option), so it cannot gate one")
    start: int | None = None
    pm = get_plugin_manager()
    plugin = None
    if fn is not None:
        if not issubclass(cls, KernelProvider):
            raise InvalidArgument(f"{cls.name} is not a kernel provider: a Python kernel cannot be swapped into it")
        registry, start = _override(op_type, fn, cls, domain, since)
        plugin = _GatePlugin(cls.name, registry)
        if pm.get_plugin(GATE_PLUGIN) is not None:
            raise InvalidArgument("another kernel gate is running in this process")
        pm.register(plugin, name=GATE_PLUGIN)
    try:
        test = Selftest(cls.name, options, rtol=rtol, atol=atol)
        wanted = list(ops) if ops else [op]
        cases = (onnx_cases(wanted) if with_onnx_cases else []) + edge_cases(wanted)
        chosen = [c for c in cases if _keep(c, start, dtypes)]
        results = [test.run_case(c) for c in chosen]
    finally:
        if plugin is not None:
            pm.unregister(name=GATE_PLUGIN)
    return GateReport(op, label, SelftestReport(test.cls.name, dict(test.options), results, []))


def _keep(case: Case, since: int | None, dtypes: Sequence[str] | None) -> bool:
    return (since is None or case.version >= since) and (not dtypes or case.dtype in dtypes)


class _GatePlugin:
    """The kernel under test, served through `ep_runtime_kernels` as a plugin's would be."""
    def __init__(self, provider_name: str, kernels: KernelRegistry) -> None:
        self.provider_name, self.kernels = provider_name, kernels

    @hookimpl
    def ep_runtime_kernels(self, provider_name: str) -> KernelRegistry | None:
        return self.kernels if provider_name == self.provider_name else None


def cmd_check_kernel(args: argparse.Namespace) -> int:
    """`ep-runtime check-kernel OP[=KERNEL]`: exit code 0 when the gate passes, 1 otherwise."""
    op, sep, kernel = args.kernel.partition("=")
    if not op or (sep and not kernel):
        raise InvalidArgument(f"check-kernel expects OP=KERNEL or OP, got {args.kernel!r}")
    if len(args.provider) > 1:
        raise InvalidArgument(f"check-kernel checks one provider: give at most one -p (got {len(args.provider)})")
    name, options = args.provider[0] if args.provider else (None, {})
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # module:function from the current folder, as `python -m` finds it
    report = check_kernel(op, kernel or None, provider=name, options=options, ops=_names(args.ops) or None,
                          since=args.since, dtypes=_names(args.dtypes) or None, rtol=args.rtol, atol=args.atol,
                          with_onnx_cases=not args.no_onnx_cases)
    print(report.report())
    return 0 if report.passed else 1


def add_check_kernel_command(subparsers: Any) -> None:
    """Add the `check-kernel` subcommand to the `ep-runtime` parser."""
    p = subparsers.add_parser(
        "check-kernel", help="gate one kernel (OP=FILE.c, OP=module:function, or OP for the installed one) on "
                             "the kit's cases against the reference CPU provider")
    p.add_argument("kernel", metavar="OP[=KERNEL]",
                   help="the op and its kernel: a source file (given to the provider's 'kernels' option), a Python "
                        "function module:function (swapped into a kernel provider), or nothing (the installed one)")
    add_provider_arguments(p, repeat=False)
    p.add_argument("--ops", action="append", default=[], metavar="OP[,OP...]",
                   help="run the cases of these ops (default: OP); name every op that shares the kernel")
    p.add_argument("--since", type=int, help="first op version a Python kernel serves (default: the provider's "
                                             "newest kernel's); older cases are left out")
    p.add_argument("--dtypes", action="append", default=[], metavar="DTYPE[,DTYPE...]",
                   help="only cases whose first input has these dtypes (e.g. float32)")
    p.add_argument("--rtol", type=float, help="relative tolerance for floats (default: per dtype)")
    p.add_argument("--atol", type=float, help="absolute tolerance for floats (default: per dtype)")
    p.add_argument("--no-onnx-cases", action="store_true", help="only the kit's edge cases")
    p.set_defaults(fn=cmd_check_kernel)
