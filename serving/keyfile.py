"""The API key file: one HMAC-SHA256 digest per named key, never a key itself.

Format (text, one record a line, ``#`` comments)::

    simplepose-keys v1 hmac-sha256 salt=<base64url, 32 random bytes>
    <name> <created, ISO 8601 UTC> <hex HMAC-SHA256(salt, key)>

Why HMAC with a per-file salt and not a slow password hash: every key is 256 random bits made by
``simplepose keys create`` (users never choose them), so guessing one from a leaked file is
already out of reach; key stretching only helps low-entropy secrets. A fast digest lets the
service check every request in microseconds without a cache of verified keys (a cache would keep
key-equivalent secrets in memory, and wrong keys would always miss it, so they could be used to
burn CPU). The salt stops precomputed tables and makes digests differ between deployments.
docs/access.md has the threat model.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

HEADER_TAG = "simplepose-keys"
FORMAT_VERSION = "v1"
SCHEME = "hmac-sha256"
SALT_BYTES = 32
KEY_BYTES = 32  # 256 random bits per key
KEY_PREFIX = "sp_"  # lets secret scanners and humans recognise a simplepose key
MAX_KEY_CHARS = 256  # longer credentials are rejected before hashing
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
DIGEST_HEX_CHARS = 64
FILE_MODE = 0o600
MAX_FILE_BYTES = 1 << 20  # about 10,000 keys; a larger "key file" is not one
COMMENT = (
    "# simplepose API keys: HMAC-SHA256 digests with this file's salt, never the keys.\n"
    "# Manage with: simplepose keys create|list|revoke NAME --file THIS_FILE\n"
)


class KeyFileError(ValueError):
    """The key file is missing, malformed, or a key name is invalid/unknown/taken."""


@dataclass(frozen=True)
class KeyRecord:
    name: str
    created: str
    digest: bytes


@dataclass(frozen=True)
class KeyRing:
    """The parsed key file: a salt and the named digests."""

    salt: bytes
    records: tuple[KeyRecord, ...] = field(default=())
    _keyed: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Keyed once: each check then only copies the state (about twice as fast as hmac.new).
        object.__setattr__(self, "_keyed", hmac.new(self.salt, digestmod=hashlib.sha256))

    def digest(self, key: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(key)
        return mac.digest()

    def match(self, key: bytes) -> str | None:
        """The name of the key, or ``None``. Every record is compared, in constant time each,
        so the time taken does not depend on which record (if any) matches, nor on how much
        of a wrong key agrees with a right one (the digest of a near miss is unrelated)."""
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        digest = self.digest(key)
        found = None
        for record in self.records:
            if hmac.compare_digest(digest, record.digest):
                found = record.name
        return found

    def names(self) -> list[str]:
        return [r.name for r in self.records]


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise KeyFileError(
            f"invalid key name {name!r}: 1-64 characters, letters, digits and _ . @ -, "
            "starting with a letter or digit"
        )
    return name


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_keyfile(text: str, where: str = "key file") -> KeyRing:
    salt: bytes | None = None
    records: list[KeyRecord] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if salt is None:
            if len(parts) != 4 or parts[:3] != [HEADER_TAG, FORMAT_VERSION, SCHEME]:
                raise KeyFileError(
                    f"{where}:{number}: expected '{HEADER_TAG} {FORMAT_VERSION} {SCHEME} salt=...'"
                )
            try:
                salt = _unb64(parts[3].removeprefix("salt="))
            except ValueError as exc:
                raise KeyFileError(f"{where}:{number}: salt is not base64url") from exc
            if not parts[3].startswith("salt=") or len(salt) != SALT_BYTES:
                raise KeyFileError(f"{where}:{number}: expected salt= with {SALT_BYTES} bytes")
            continue
        if len(parts) != 3 or not re.fullmatch(f"[0-9a-f]{{{DIGEST_HEX_CHARS}}}", parts[2]):
            raise KeyFileError(f"{where}:{number}: expected 'NAME CREATED HEX_DIGEST'")
        name = parts[0]
        if not NAME_PATTERN.fullmatch(name) or name in (r.name for r in records):
            raise KeyFileError(f"{where}:{number}: invalid or repeated key name {name!r}")
        records.append(KeyRecord(name, parts[1], bytes.fromhex(parts[2])))
    if salt is None:
        raise KeyFileError(f"{where}: no '{HEADER_TAG}' header line")
    return KeyRing(salt, tuple(records))


def format_keyfile(ring: KeyRing) -> str:
    lines = [COMMENT + f"{HEADER_TAG} {FORMAT_VERSION} {SCHEME} salt={_b64(ring.salt)}"]
    lines += [f"{r.name} {r.created} {r.digest.hex()}" for r in ring.records]
    return "\n".join(lines) + "\n"


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file: a FIFO (which would block the service's
    start-up or its reload), a device such as /dev/zero (endless) or a directory is refused,
    checked before opening and again on the opened descriptor (opened non-blocking, so a FIFO
    swapped in between cannot block either)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise KeyFileError(f"API key file {path} is not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KeyFileError(f"API key file {path} is not a regular file")
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise KeyFileError(f"API key file {path} is over {MAX_FILE_BYTES} bytes")
    return data


def read_keyfile(path: Path) -> KeyRing:
    try:
        text = _read_regular(path).decode()
    except FileNotFoundError as exc:
        raise KeyFileError(f"API key file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read API key file {path}: {exc}") from exc
    return parse_keyfile(text, str(path))


def write_keyfile(path: Path, ring: KeyRing) -> None:
    """Atomically replace ``path`` (owner read/write only)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:  # e.g. a read-only secret mount
        raise KeyFileError(f"cannot write API key file {path}: {exc}") from exc
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(format_keyfile(ring))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise KeyFileError(f"cannot write API key file {path}: {exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_key(path: Path, name: str) -> str:
    """Add a new random key called ``name``; returns the key (the file keeps only its digest)."""
    check_name(name)
    ring = read_keyfile(path) if path.exists() else KeyRing(new_salt())
    if name in ring.names():
        raise KeyFileError(f"a key named {name!r} exists in {path}; revoke it first")
    key = new_key()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = KeyRecord(name, created, ring.digest(key.encode()))
    write_keyfile(path, KeyRing(ring.salt, (*ring.records, record)))
    return key


def revoke_key(path: Path, name: str) -> None:
    ring = read_keyfile(path)
    if name not in ring.names():
        raise KeyFileError(f"no key named {name!r} in {path} (keys: {', '.join(ring.names())})")
    write_keyfile(path, KeyRing(ring.salt, tuple(r for r in ring.records if r.name != name)))


class KeyStore:
    """The key file as the service sees it: re-read when it changes (checked at most every
    ``reload_s``), so ``simplepose keys revoke`` takes effect without a restart. A file that
    disappears or stops parsing leaves no valid key (fail closed) until it is fixed."""

    def __init__(
        self, path: Path, reload_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ):
        self.path = path
        self.reload_s = reload_s
        self.clock = clock
        self.ring = read_keyfile(path)  # at start-up a broken file is an error, not a warning
        self._signature = self._stat()
        self._checked = clock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> KeyRing:
        now = self.clock()
        if now - self._checked < self.reload_s:
            return self.ring
        self._checked = now
        signature = self._stat()
        if signature == self._signature:
            return self.ring
        try:
            self.ring = read_keyfile(self.path)
            self._signature = signature
            log.info("API keys reloaded from %s: %d keys", self.path, len(self.ring.records))
        except KeyFileError as exc:
            self.ring = KeyRing(self.ring.salt)
            self._signature = None  # retry at the next check
            log.error("API key file unusable, every key refused until fixed: %s", exc)
        return self.ring
