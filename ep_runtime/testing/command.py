"""`ep-runtime selftest`: the provider developer kit from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..cli_providers import add_provider_arguments
from ..errors import InvalidArgument
from .runner import run_selftest


def _names(values: list[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def cmd_selftest(args: argparse.Namespace) -> int:
    """Run the kit on the one provider given with -p; exit code 1 when a case or a model failed."""
    if len(args.provider) != 1:
        raise InvalidArgument(f"selftest checks one provider: give exactly one -p (got {len(args.provider)})")
    name, options = args.provider[0]
    models: list[str] | None
    if args.models is None or args.models == ["all"]:
        models = None
    elif args.models == ["none"]:
        models = []
    else:
        models = _names(args.models)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"selftest: {message}", file=sys.stderr, flush=True)

    report = run_selftest(name, options, ops=_names(args.ops) or None, models=models,
                          onnx_cases=not args.no_onnx_cases, edge_cases=not args.no_edge_cases,
                          rtol=args.rtol, atol=args.atol, progress=progress)
    print(report.table())
    if args.report:
        with open(args.report, "w", encoding="utf-8") as fh:
            fh.write(report.markdown())
        print(f"report written to {args.report}")
    return 0 if report.ok else 1


def add_selftest_command(subparsers: Any) -> None:
    """Add the `selftest` subcommand to the `ep-runtime` parser."""
    st = subparsers.add_parser(
        "selftest", help="check a provider: onnx's node cases and edge cases against the reference CPU provider, "
                         "CPU fallback off; the light models with the provider first")
    add_provider_arguments(st, repeat=False)
    st.add_argument("--ops", action="append", default=[], metavar="OP[,OP...]",
                    help="only these op types (repeatable; domain::Op outside the default domain)")
    st.add_argument("--models", action="append", metavar="NAME[,NAME...]",
                    help="light models to run: names, 'all' (default: every one installed) or 'none'")
    st.add_argument("--no-onnx-cases", action="store_true", help="leave out onnx's backend node cases")
    st.add_argument("--no-edge-cases", action="store_true", help="leave out the kit's own edge cases")
    st.add_argument("--rtol", type=float, help="relative tolerance for floats (default: per dtype)")
    st.add_argument("--atol", type=float, help="absolute tolerance for floats (default: per dtype)")
    st.add_argument("--report", metavar="FILE", help="also write the full report as Markdown to FILE")
    st.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    st.set_defaults(fn=cmd_selftest)
