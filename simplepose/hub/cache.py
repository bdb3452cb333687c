"""Where simplepose keeps downloaded weights and built models (one definition for all stages)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "SIMPLEPOSE_CACHE_DIR"  # the service's Settings.cache_dir reads the same name
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "simplepose"


def cache_dir(path: str | Path | None = None) -> Path:
    """``path``, else ``$SIMPLEPOSE_CACHE_DIR``, else ``~/.cache/simplepose``."""
    return Path(path or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR).expanduser()
