"""Reading user-supplied JSON files with errors that say which file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: str | Path, what: str, expected: type = object) -> Any:
    """Parse the JSON file ``path`` (a ``what``, for messages), checking its top-level type.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for bad JSON or a top
    level that is not ``expected``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, expected):
        names: dict[type, str] = {dict: "object", list: "list"}
        kind = names.get(expected, expected.__name__)
        raise ValueError(f"{path}: expected a JSON {kind} ({what})")
    return data
