"""The provider options every ep-runtime subcommand takes: `-p NAME` (repeatable, in priority order) and
`-o KEY=VALUE` for the provider named by the -p before it; plugin subcommands use them too."""

from __future__ import annotations

import argparse
import json
from typing import Any


def parse_option_value(text: str) -> Any:
    """A provider option's value from the command line: JSON when it parses as JSON (numbers,
    true/false/null, lists, objects, quoted strings), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class ProviderAction(argparse.Action):
    """`-p NAME`: appends [NAME, {}] to the provider list, in priority order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        specs = list(getattr(namespace, self.dest, None) or [])
        specs.append((values, {}))
        setattr(namespace, self.dest, specs)


class ProviderOptionAction(argparse.Action):
    """`-o KEY=VALUE` / `--provider-option KEY=VALUE`: an option of the provider named by the `-p`
    before it (parse_option_value reads VALUE)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        specs = getattr(namespace, "provider", None) or []
        key, sep, value = str(values).partition("=")
        if not specs:
            parser.error(f"{option_string} {values}: a provider option must follow the -p it applies to")
        if not key or not sep:
            parser.error(f"{option_string} expects KEY=VALUE, got {values!r}")
        specs[-1][1][key] = parse_option_value(value)


def add_provider_arguments(sp: argparse.ArgumentParser, *, short_option: bool = True, repeat: bool = True) -> None:
    """`-p NAME` (repeatable unless `repeat` is False) and `--provider-option KEY=VALUE` (also `-o` when
    `short_option`), which applies to the -p before it; the result is `args.provider`, a list of
    (name, options dict) pairs."""
    sp.add_argument("-p", "--provider", action=ProviderAction, default=[], metavar="NAME",
                    help="execution provider" + (" in priority order (repeatable), e.g. -p opencl -p cpu"
                                                 if repeat else ""))
    flags = ["-o", "--provider-option"] if short_option else ["-O", "--provider-option"]
    sp.add_argument(*flags, action=ProviderOptionAction, metavar="KEY=VALUE",
                    help="an option of the provider named by the -p before it (repeatable); VALUE is read as "
                         "JSON when it parses (1, true, [1,2], {\"Relu\": \"relu.c\"}), else as text")


def provider_list(args: argparse.Namespace) -> list[str | tuple[str, dict[str, Any]]] | None:
    """The providers of `-p`/`-o` as InferenceSession takes them (None when no -p was given)."""
    specs = getattr(args, "provider", None) or []
    return [(name, dict(opts)) if opts else name for name, opts in specs] or None
