"""Reading user-supplied JSON files with errors that say which file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: str | Path, what: str, expected: type = object) -> Any:
    """Parse the JSON file ``path`` (a ``what``, for messages), checking its top-level type.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for bad JSON (including
    nesting too deep for the parser and integers too long to read) or a top level that is not
    ``expected``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = json.loads(path.read_text())
    except RecursionError as exc:
        raise ValueError(f"{path} is not usable JSON: nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # also integers of over 4300 digits
        raise ValueError(f"{path} is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(data, expected):
        names: dict[type, str] = {dict: "object", list: "list"}
        kind = names.get(expected, expected.__name__)
        raise ValueError(f"{path}: expected a JSON {kind} ({what})")
    return data
