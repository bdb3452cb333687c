"""Subcommands of the export stage: export, convert, weights."""

from __future__ import annotations

import argparse

from simplepose.cli import CLIError


def _pending(args: argparse.Namespace) -> int:
    raise CLIError(f"'{args.command}' is being built (export issue); it is not in this version yet")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name, text in (
        ("export", "write model.mindir (flip test fused) + model.json for the service"),
        ("convert", "convert a public PyTorch checkpoint to a MindSpore checkpoint"),
        ("weights", "list or fetch known public SimpleBaselines weights"),
    ):
        sub.add_parser(name, help=text, description=text).set_defaults(func=_pending)
