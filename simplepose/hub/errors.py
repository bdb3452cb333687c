"""The errors of the model hub, one message format: ``<kind> '<name>': <problem>[; <fix>]``.

Every entry point (``serve``, ``predict``, ``evaluate``, ``detect``, ``PoseEstimator``, the
containers) resolves models and detectors through ``simplepose.hub.resolve`` and so reports the
same text for the same mistake. They subclass the built-in errors callers already catch
(``FileNotFoundError``, ``ValueError``), and the command line prints them as one line.
"""

from __future__ import annotations


class HubError(Exception):
    """A model or detector that cannot be resolved. ``kind``: ``model`` or ``detector``."""

    def __init__(self, kind: str, name: str, problem: str, fix: str = ""):
        self.kind, self.name, self.problem, self.fix = kind, name, problem, fix
        super().__init__(f"{kind} {name!r}: {problem}" + (f"; {fix}" if fix else ""))


class ModelNotFound(HubError, FileNotFoundError):
    """Neither an existing path nor a name the registry knows."""


class NotAModel(HubError, ValueError):
    """The name exists but is not a pose model (a backbone or detector entry, a stray file)."""


class ModelUnavailable(HubError, ValueError):
    """A known model that cannot be had here: not cached and offline, download refused, or
    building it needs what this installation lacks (MindSpore)."""
