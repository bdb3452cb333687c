"""Subcommands of the training stage: train, evaluate."""

from __future__ import annotations

import argparse

from simplepose.cli import CLIError


def _pending(args: argparse.Namespace) -> int:
    raise CLIError(
        f"'{args.command}' is being built (training issue); it is not in this version yet"
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name, text in (
        ("train", "train SimpleBaselines on COCO keypoints and write checkpoints"),
        ("evaluate", "compute COCO keypoint AP of a checkpoint or exported model"),
    ):
        sub.add_parser(name, help=text, description=text).set_defaults(func=_pending)
