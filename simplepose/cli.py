"""The ``simplepose`` command: one entry point, one subcommand per stage.

Each stage module registers its subcommands with ``add_parser(subparsers)`` and handles them in
the function it sets as ``func``. Stage modules import MindSpore/FastAPI lazily inside their
handlers, so ``simplepose --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

import simplepose

# Modules that contribute subcommands, in the order they appear in --help.
STAGE_MODULES = ("simplepose.training.cli", "simplepose.export.cli", "simplepose.serving.cli")


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simplepose",
        description=(
            "SimpleBaselines human pose estimation on MindSpore: train, evaluate, export (flip "
            "test fused), convert public PyTorch checkpoints, and serve keypoints over HTTP."
        ),
        epilog="Run 'simplepose COMMAND --help' for the options of one command.",
    )
    parser.add_argument(
        "--version", action="version", version=f"simplepose {simplepose.__version__}"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in STAGE_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CLIError, FileNotFoundError, ValueError) as exc:
        print(f"simplepose {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
