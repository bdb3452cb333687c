"""Verified downloads of registry weights (pure Python, no MindSpore).

A download goes to ``<file>.partial`` and replaces the cached file only when its sha256 checks
out (see ``simplepose.hub.registry`` for what "verified" and "unverified" mean); every transport
failure is a ``WeightsUnavailable``, every digest mismatch a ``WeightsError``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from simplepose.hub.pins import PinnedDigestsError, pinned_digest
from simplepose.hub.registry import (
    SHA256_HEX,
    KnownWeights,
    WeightsError,
    WeightsUnavailable,
    download_path,
)

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation, not for the whole file
MAX_DOWNLOAD_BYTES = 2 << 30  # no public pose/detector checkpoint is near this
HASH_CHUNK = 1 << 20
URL_SCHEMES = ("http", "https")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _full_digest(expected: str, what: str) -> str:
    expected = expected.strip().lower()
    if expected and not SHA256_HEX.fullmatch(expected):
        raise WeightsError(
            f"{what}: expected sha256 {expected[:80]!r} is not a full 64-hex-digit digest; "
            "a shorter one cannot verify a file"
        )
    return expected


def _recorded(dest: Path) -> str:
    record = dest.with_name(dest.name + ".sha256")
    if not record.is_file():
        return ""
    return _full_digest(record.read_text(errors="replace")[:200], str(record))


def check_digest(path: Path, digest: str, expected: str = "", name_prefix: str = "") -> None:
    """Raise ``WeightsError`` unless ``digest`` equals the full ``expected`` digest (when one is
    given) and starts with ``name_prefix``."""
    expected = _full_digest(expected, path.name)
    if expected and digest != expected:
        raise WeightsError(f"{path.name}: sha256 {digest} does not match the expected {expected}")
    if not digest.startswith(name_prefix):
        raise WeightsError(
            f"{path.name}: sha256 {digest} does not start with {name_prefix}, the prefix "
            "published in the file name (a proxy error page or another file?)"
        )


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s), and never from https down to plain http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        old = urllib.parse.urlparse(req.full_url).scheme
        new = urllib.parse.urlparse(urllib.parse.urljoin(req.full_url, newurl)).scheme
        if new not in URL_SCHEMES or (old == "https" and new != "https"):
            raise WeightsUnavailable(f"refusing redirect from {req.full_url} to {newurl:.200}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None  # absent or garbage: the body is read to its end, under the size cap
    return int(value.strip()[:20])


def download(
    url: str,
    dest: Path,
    expected_sha256: str = "",
    progress: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    name_prefix: str = "",
) -> str:
    """Download ``url`` to ``dest`` (via ``dest.partial``, removed on any failure) and return
    its sha256. With ``expected_sha256`` (64 hex digits) the file is verified; without it the
    digest recorded by an earlier download (``dest.sha256``) is enforced, or recorded now.

    Raises ``WeightsUnavailable`` for every transport failure (unreachable, HTTP error, cut
    connection, garbage response, redirect leaving https, too large) and ``WeightsError`` when
    the bytes do not match.
    """
    from tqdm import tqdm

    if urllib.parse.urlparse(url).scheme not in URL_SCHEMES:
        raise ValueError(f"weights URL must be one of {URL_SCHEMES}, got {url!r}")
    expected = _full_digest(expected_sha256, url) or _recorded(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    opener = urllib.request.build_opener(_HttpsOnlyRedirects)
    try:
        with opener.open(url, timeout=timeout) as response:
            total = _content_length(response.headers.get("Content-Length"))
            if total is not None and total > MAX_DOWNLOAD_BYTES:
                raise WeightsUnavailable(f"{url} is {total} bytes, over {MAX_DOWNLOAD_BYTES}")
            size = 0
            with (
                open(partial, "wb") as out,
                tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                     disable=not progress) as bar,
            ):  # fmt: skip
                for chunk in iter(lambda: response.read(HASH_CHUNK), b""):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise WeightsUnavailable(f"{url} is over {MAX_DOWNLOAD_BYTES} bytes")
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if total is not None and size != total:
                raise WeightsUnavailable(f"download of {url} stopped after {size} of {total} bytes")
        check_digest(dest, digest.hexdigest(), expected, name_prefix)
        partial.replace(dest)
    except (WeightsUnavailable, WeightsError):
        raise
    except urllib.error.HTTPError as exc:
        raise WeightsUnavailable(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        raise WeightsUnavailable(f"cannot download {url}: {reason}") from exc
    finally:
        partial.unlink(missing_ok=True)
    hexdigest = digest.hexdigest()
    if not expected:
        dest.with_name(dest.name + ".sha256").write_text(hexdigest + "\n")
        log.warning(
            "%s is UNVERIFIED: no published full sha256 is known; recorded %s (later uses must "
            "match it)", dest.name, hexdigest,
        )  # fmt: skip
    return hexdigest


def expected_digest(entry: KnownWeights) -> str:
    """The full digest a download of ``entry`` must have: the registry's, else the one the
    deployment pinned (``simplepose.hub.pins``), else "" (then the first download is recorded)."""
    try:
        pinned = pinned_digest(entry.filename)
    except PinnedDigestsError as exc:
        raise WeightsError(str(exc)) from exc
    if entry.sha256 and pinned and pinned != entry.sha256:
        raise WeightsError(
            f"{entry.filename}: pinned sha256 {pinned} differs from the registry's {entry.sha256}"
        )
    return entry.sha256 or pinned


def verify_cached(entry: KnownWeights, path: Path) -> str:
    """Check a cached download against the registry, the pinned digests or its recorded digest;
    a file that fails is deleted. Returns its sha256."""
    digest = sha256_file(path)
    try:
        check_digest(path, digest, expected_digest(entry) or _recorded(path), entry.name_prefix)
    except WeightsError as exc:
        path.unlink(missing_ok=True)
        raise WeightsError(f"{exc}; the cached file was deleted") from exc
    return digest


def obtain(
    entry: KnownWeights,
    cache: str | Path | None = None,
    offline: bool = False,
    progress: bool = True,
) -> Path:
    """The verified download of ``entry`` in the cache, downloading it unless ``offline``."""
    path = download_path(entry, cache)
    if path.is_file():
        verify_cached(entry, path)
        return path
    if offline:
        raise WeightsUnavailable(
            f"{entry.name} is not in the cache ({path}) and downloads are disabled (offline)"
        )
    log.info("downloading %s from %s", entry.name, entry.url)
    download(
        entry.url, path, expected_digest(entry), progress=progress, name_prefix=entry.name_prefix
    )
    return path
