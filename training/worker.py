"""One data-parallel training worker, started by ``msrun`` (which needs a script path).

``simplepose train --devices N ...`` launches ``msrun ... worker.py <train arguments>``; each
worker runs ``simplepose train <train arguments>`` and joins the job in ``init_distributed``.
"""

import sys

import simplepose  # noqa: F401  (sets the oneDNN CPU cap before MindSpore loads)
from simplepose.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
