"""Subcommands of the serving stage: serve, predict."""

from __future__ import annotations

import argparse

from simplepose.cli import CLIError


def _pending(args: argparse.Namespace) -> int:
    raise CLIError(
        f"'{args.command}' is being built (serving issue); it is not in this version yet"
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name, text in (
        ("serve", "run the HTTP keypoint service (POST /keypoints)"),
        ("predict", "run the keypoint pipeline on image files offline"),
    ):
        sub.add_parser(name, help=text, description=text).set_defaults(func=_pending)
