"""The ``simplepose`` command: the one place that composes the stages.

This folder is the composition root, outside the core (installed as ``simplepose.cli``). It
imports each stage's command-line module statically; each registers its subcommands with
``add_parsers(subparsers)`` and imports MindSpore/FastAPI only inside its handlers, so
``simplepose --help`` stays fast.

Adding a subcommand: write ``add_parsers`` in the stage's command-line module (or a new module
of that stage) and, for a new module, add its ``add_parsers`` to ``SUBCOMMANDS`` below: one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

from simplepose.cli import detect as detect_cli
from simplepose.cli import predict as predict_cli
from simplepose.cli.models import BUILDERS
from simplepose.commandline import runner as command
from simplepose.export import cli as export_cli
from simplepose.export import weights_cli
from simplepose.serving import keys_cli, serve_cli
from simplepose.training import cli as training_cli
from simplepose.training import data_cli
from simplepose.training.dataset_file import load_dataset_file

# Stage modules contributing subcommands, in the order they appear in --help.
SUBCOMMANDS: tuple[command.Registrar, ...] = (
    training_cli.add_parsers,
    data_cli.add_parsers,
    partial(export_cli.add_parsers, read_dataset=load_dataset_file),
    weights_cli.add_parsers,
    serve_cli.add_parsers,
    predict_cli.add_parsers,
    detect_cli.add_parsers,
    keys_cli.add_parsers,
)
DESCRIPTION = (
    "SimpleBaselines human pose estimation on MindSpore: train, evaluate, export (flip "
    "test fused), convert public PyTorch checkpoints, and serve keypoints over HTTP."
)


def build_parser() -> argparse.ArgumentParser:
    parser = command.build_parser(SUBCOMMANDS, DESCRIPTION)
    # The one place the stages' model builders reach the hub: every handler gets args.builders.
    parser.set_defaults(builders=BUILDERS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return command.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
