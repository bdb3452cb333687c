"""Digests a deployment pins for downloads that have no published full sha256.

The file is ``sha256sum`` output, one ``<sha256>  <file name>`` a line (``#`` comments), so an
operator can pin what one trusted download saw and every later download (every pod of a
cluster) must then match it; see docs/kubernetes.md. ``SIMPLEPOSE_PINNED_DIGESTS`` names the
file (the service's ``Settings.pinned_digests`` reads the same name). When it is set, the file
must exist and parse: a broken pin file refuses downloads rather than trusting them.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

PINNED_DIGESTS_ENV = "SIMPLEPOSE_PINNED_DIGESTS"
MAX_PINS_BYTES = 1 << 20
PIN_LINE = re.compile(r"([0-9a-f]{64}) [ *](\S+)")  # sha256sum's text and binary modes


class PinnedDigestsError(ValueError):
    """The pinned-digests file is missing, not a regular file, or malformed."""


def read_pins(path: str | Path) -> dict[str, str]:
    """File name -> pinned sha256 from a ``sha256sum``-style file."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise PinnedDigestsError(f"pinned digests {path} is not a regular file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_PINS_BYTES + 1)
    except OSError as exc:
        raise PinnedDigestsError(f"cannot read pinned digests {path}: {exc}") from exc
    if len(data) > MAX_PINS_BYTES:
        raise PinnedDigestsError(f"pinned digests {path} is over {MAX_PINS_BYTES} bytes")
    pins: dict[str, str] = {}
    for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN_LINE.fullmatch(line)
        if match is None:
            raise PinnedDigestsError(
                f"{path}:{number}: expected '<64 lowercase hex digits>  <file name>' "
                "(sha256sum output)"
            )
        digest, name = match.group(1), Path(match.group(2)).name
        if pins.setdefault(name, digest) != digest:
            raise PinnedDigestsError(f"{path}:{number}: {name} is pinned to two digests")
    return pins


def pinned_digest(filename: str, path: str | Path | None = None) -> str:
    """The digest pinned for ``filename`` in ``path`` (default: ``$SIMPLEPOSE_PINNED_DIGESTS``),
    or "" when no pin file is set or it does not name the file."""
    where = path or os.environ.get(PINNED_DIGESTS_ENV)
    return read_pins(where).get(filename, "") if where else ""
