"""The provider developer kit as a pytest plugin (entry point `pytest11`, so installed with ep-runtime).

It does nothing unless asked: `pytest --ep-provider NAME` adds one test per (op, version, dtype)
of the kit's cases and one per light model, next to whatever else pytest collects.

    pytest --ep-provider opencl --ep-option platform_id=0 --ep-ops Relu,Softmax --ep-models none
    pytest --ep-provider example --ep-report selftest.md

A test passes when every case the provider claims matches the reference CPU provider; it fails
with the first mismatching index and values; it is skipped, with the provider's reason, when the
provider refuses every case of its op, version and dtype.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..cli_providers import parse_option_value

_STATE = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The kit's options; without --ep-provider the plugin adds no test."""
    group = parser.getgroup("ep-runtime", "ep-runtime provider developer kit (active only with --ep-provider)")
    group.addoption("--ep-provider", metavar="NAME", help="check this execution provider with the kit")
    group.addoption("--ep-option", action="append", default=[], metavar="KEY=VALUE",
                    help="a provider option (repeatable); VALUE is read as JSON when it parses, else as text")
    group.addoption("--ep-ops", action="append", default=[], metavar="OP[,OP...]", help="only these op types")
    group.addoption("--ep-models", action="append", default=None, metavar="NAME[,NAME...]",
                    help="light models to run: names, 'all' (default) or 'none'")
    group.addoption("--ep-report", metavar="FILE", help="write the kit's Markdown report to FILE")


def _names(values: list[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _options(items: list[str]) -> dict[str, Any]:

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise pytest.UsageError(f"--ep-option expects KEY=VALUE, got {item!r}")
        options[key] = parse_option_value(value)
    return options


class SelftestFailure(Exception):
    """A kit test failed; the message lists the failing cases."""


class KitCasesItem(pytest.Item):
    """The kit's cases of one op, version and dtype on the provider under test."""

    def __init__(self, *, cases: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cases = cases

    def runtest(self) -> None:
        state = self.config.stash[_STATE]
        results = [state["test"].run_case(c) for c in self.cases]
        state["results"].extend(results)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise SelftestFailure("\n".join(f"{r.case}: {r.detail}" for r in failed))
        if all(r.status in ("refused", "skipped") for r in results):
            pytest.skip(next((f"refused: {r.detail}" for r in results if r.status == "refused"),
                             results[0].detail if results else "no case"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SelftestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"ep-runtime selftest {self.name}"


class KitModelItem(pytest.Item):
    """One light model with the provider first: results and device copies."""

    def __init__(self, *, model: str, model_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model, self.model_path = model, model_path

    def runtest(self) -> None:
        state = self.config.stash[_STATE]
        result = state["test"].run_model(self.model, self.model_path)
        state["models"].append(result)
        if result.status != "passed":
            raise SelftestFailure(f"{result.model}: {result.detail}")

    repr_failure = KitCasesItem.repr_failure

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"ep-runtime selftest {self.name}"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --ep-provider: one test per (op, version, dtype) of the kit's cases, one per light model."""
    provider = config.getoption("ep_provider")
    if not provider:
        return
    from ..errors import EPRuntimeError
    from .cases import edge_cases, onnx_cases
    from .runner import Selftest, light_models

    try:
        test = Selftest(provider, _options(config.getoption("ep_option")))
    except EPRuntimeError as exc:
        raise pytest.UsageError(f"--ep-provider {provider}: {exc}") from exc
    config.stash[_STATE] = {"test": test, "results": [], "models": []}
    ops = _names(config.getoption("ep_ops")) or None
    groups: dict[tuple[str, int, str], list[Any]] = {}
    for case in onnx_cases(ops) + edge_cases(ops):
        groups.setdefault((case.op_label, case.version, case.dtype), []).append(case)
    for (op, version, dtype), cases in sorted(groups.items()):
        items.append(KitCasesItem.from_parent(session, name=f"ep_selftest[{op}-v{version}-{dtype}]", cases=cases))
    wanted = config.getoption("ep_models")
    available = light_models()
    names = list(available) if wanted is None or _names(wanted) == ["all"] else \
        [] if _names(wanted) == ["none"] else _names(wanted)
    for name in names:
        if name in available:
            items.append(KitModelItem.from_parent(session, name=f"ep_selftest_model[{name}]", model=name,
                                                  model_path=available[name]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the Markdown report asked for with --ep-report."""
    state = session.config.stash.get(_STATE, None)
    path = session.config.getoption("ep_report", None)
    if state is None or not path:
        return
    from .report import SelftestReport

    test = state["test"]
    report = SelftestReport(test.cls.name, dict(test.options), state["results"], state["models"])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(report.markdown())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The kit's one-line summary after pytest's own."""
    state = config.stash.get(_STATE, None)
    if state is None or not state["results"]:
        return
    from .report import SelftestReport

    test = state["test"]
    report = SelftestReport(test.cls.name, dict(test.options), state["results"], state["models"])
    terminalreporter.write_sep("=", "ep-runtime selftest")
    terminalreporter.write_line(report.summary())
