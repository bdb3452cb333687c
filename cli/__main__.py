"""``python -m simplepose.cli``: the same as the ``simplepose`` command."""

import sys

from simplepose.cli import main

sys.exit(main())
