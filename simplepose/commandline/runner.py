"""Assembling and running an argparse command line from subcommand registrars.

The core knows no stage: the composition root (``cli/``, installed as ``simplepose.cli``) hands
in the stages' ``add_parsers`` functions. The same runner serves ``simplepose`` and the msrun
training worker, so both report user errors the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import simplepose
from simplepose.commandline.errors import CLIError
from simplepose.runtime.mindspore_env import MINDSPORE_LOG_ENV, MINDSPORE_LOG_WARNING

# ``add_parsers(subparsers)``: registers a stage's subcommands, each with ``func`` as its handler.
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser(
    registrars: Sequence[Registrar], description: str, prog: str = "simplepose"
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"Run '{prog} COMMAND --help' for the options of one command.",
    )
    parser.add_argument(
        "--version", action="version", version=f"simplepose {simplepose.__version__}"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log debug messages, and MindSpore's own warnings (GLOG_v=2 unless set)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in registrars:
        register(sub)
    return parser


def _terminate(signum: int, _frame: object) -> None:
    """SIGINT/SIGTERM end a command at once with exit 130 and one line, not a traceback or a
    silent 143. Raising KeyboardInterrupt here instead is not safe: arriving during an import of
    a C extension (NumPy, OpenCV, MindSpore take seconds to load) it becomes an ImportError.
    Commands with a graceful stop of their own (``train`` checkpoints, ``serve`` drains) install
    their own handlers while they run."""
    sys.stdout.flush()
    print(f"interrupted ({signal.Signals(signum).name})", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen handler. Exit codes: 0 done, 2 a user error (one
    line on stderr), 130 interrupted by SIGINT or SIGTERM."""
    args = parser.parse_args(argv)
    if args.verbose:  # MindSpore is not loaded yet; a level the user set wins
        os.environ.setdefault(MINDSPORE_LOG_ENV, MINDSPORE_LOG_WARNING)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, FileNotFoundError, ValueError) as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:  # run() may be called in-process (tests, notebooks): leave the handlers as found
        for sig, handler in previous.items():
            signal.signal(sig, handler)
