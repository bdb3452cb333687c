"""Set-up of ``serve`` from its command line: the service settings from the options given and
the detector they name (the options themselves: ``simplepose.commandline.options``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from simplepose.commandline.errors import CLIError
from simplepose.commandline.options import (
    DETECTOR_OPTIONS,
    add_detector_option,
    add_model_options,
)

__all__ = ["add_detector_option", "add_model_options", "load_settings_detector",
           "settings_error", "settings_from_args"]  # fmt: skip

if TYPE_CHECKING:
    from simplepose.detection import PersonDetector
    from simplepose.serving.settings import Settings


def settings_from_args(args: argparse.Namespace, names: tuple[str, ...]):
    """Settings from the environment, overridden by the options given on the command line."""
    from pydantic import ValidationError

    from simplepose.serving.settings import Settings

    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise CLIError(settings_error(exc)) from exc


# Settings the detector options of add_detector_option set (for settings_from_args).
DETECTOR_FIELDS = DETECTOR_OPTIONS


def settings_error(exc: Exception) -> str:
    """One line for a settings ``ValidationError``: each problem named by its environment
    variable (a check across fields, which pydantic reports without a field, by its message)."""
    from simplepose.serving.settings import ENV_PREFIX

    parts = []
    for error in exc.errors():  # type: ignore[attr-defined]
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(map(str, error["loc"]))
        parts.append(f"{field} ({ENV_PREFIX}{field.upper()}): {message}" if field else message)
    return "; ".join(parts)


def load_settings_detector(settings: Settings) -> PersonDetector:
    """The detector ``settings.detector`` names; naming errors are user errors."""
    from simplepose.detection import DetectorLoadError
    from simplepose.serving.main import build_detector

    try:
        return build_detector(settings)
    except DetectorLoadError as exc:
        raise CLIError(str(exc)) from exc
