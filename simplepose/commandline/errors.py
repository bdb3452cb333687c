"""Errors every stage may raise and the command line knows how to report."""

from __future__ import annotations


class CLIError(Exception):
    """A user error: ``simplepose`` prints it as one line and exits with status 2."""
