"""One data-parallel training worker, started by ``msrun`` (which needs a script path).

``simplepose train --devices N ...`` launches ``msrun ... worker.py <train arguments>``; each
worker runs the ``train`` subcommand with those arguments and joins the job in
``init_distributed``. Only the training stage's subcommands are registered here: a stage does not
import the composition root.
"""

import sys

from simplepose.commandline.runner import build_parser, run
from simplepose.training.cli import add_parsers

if __name__ == "__main__":
    parser = build_parser((add_parsers,), "one msrun training worker", prog="simplepose")
    sys.exit(run(parser, ["train", *sys.argv[1:]]))
