"""The API key file, ``simplepose keys``, constant-time checks and the token buckets."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import stat
import time
from pathlib import Path
from statistics import median

import pytest

from simplepose.cli import main
from simplepose.serving.keyfile import (
    KEY_PREFIX,
    KeyFileError,
    KeyRing,
    KeyStore,
    create_key,
    parse_keyfile,
    read_keyfile,
)
from simplepose.serving.ratelimit import BucketSpec, RateLimiter


def run_keys(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["keys", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_cli_create_list_revoke(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "secrets" / "api_keys"
    code, out, err = run_keys(capsys, "create", "alice", "--file", str(path))
    assert code == 0 and "not shown again" in err
    alice = out.strip()
    assert re.fullmatch(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{43}", alice)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("SIMPLEPOSE_API_KEYS_FILE", str(path))  # the service's variable
    bob = run_keys(capsys, "create", "bob")[1].strip()
    assert bob != alice
    code, out, _ = run_keys(capsys, "list")
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["alice", "bob"]
    assert alice not in out and bob not in out
    assert run_keys(capsys, "revoke", "alice")[0] == 0
    assert read_keyfile(path).names() == ["bob"]
    ring = read_keyfile(path)
    assert ring.match(bob.encode()) == "bob" and ring.match(alice.encode()) is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["create", "alice"], "a key named 'alice' exists"),
        (["create", "has space"], "invalid key name"),
        (["create", "-"], "invalid key name"),
        (["create", "x" * 65], "invalid key name"),
        (["revoke", "nobody"], "no key named 'nobody'"),
    ],
)
def test_keys_cli_refuses_clearly(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    path = tmp_path / "api_keys"
    create_key(path, "alice")
    code, _, err = run_keys(capsys, *argv, "--file", str(path))
    assert code == 2 and message in err


def test_keys_cli_reports_an_unwritable_place(tmp_path: Path, capsys) -> None:
    (tmp_path / "a_file").write_text("")
    code, out, err = run_keys(capsys, "create", "alice", "--file", str(tmp_path / "a_file" / "k"))
    assert code == 2 and "cannot write API key file" in err and out == ""


def test_keys_cli_needs_a_file(capsys, monkeypatch) -> None:
    monkeypatch.delenv("SIMPLEPOSE_API_KEYS_FILE", raising=False)
    code, _, err = run_keys(capsys, "list")
    assert code == 2 and "--file PATH or SIMPLEPOSE_API_KEYS_FILE" in err


def test_the_key_file_never_holds_a_key_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "api_keys"
    keys = [create_key(path, f"k{i}") for i in range(5)]
    text = path.read_text()
    ring = read_keyfile(path)
    for key in keys:
        secret = key.removeprefix(KEY_PREFIX)
        # no piece of a key long enough to help guess it (8 base64 characters = 48 bits)
        assert not any(secret[i : i + 8] in text for i in range(len(secret) - 7)), key
        assert hmac.new(ring.salt, key.encode(), hashlib.sha256).hexdigest() in text
    other = tmp_path / "other_keys"
    create_key(other, "k0")
    assert read_keyfile(other).salt != ring.salt  # per-file salt: digests differ per deployment


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no 'simplepose-keys' header"),
        ("alice 2026-01-01T00:00:00Z " + "0" * 64 + "\n", "expected 'simplepose-keys v1"),
        ("simplepose-keys v1 hmac-sha256 salt=c2hvcnQ\n", "salt= with 32 bytes"),
        ("simplepose-keys v2 hmac-sha256 salt=x\n", "expected 'simplepose-keys v1"),
        ("simplepose-keys v1 hmac-sha256 salt=!!!!\n", "salt"),
    ],
)
def test_malformed_headers_are_refused(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=re.escape(message)):
        parse_keyfile(text)


def test_malformed_records_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "api_keys"
    create_key(path, "alice")
    good = path.read_text()
    for bad in ("alice 2026 " + "0" * 64, "bob 2026 zz", "bob 2026", "b\u00e9b 2026 " + "0" * 64):
        lines = good.count("\n") + 1
        with pytest.raises(KeyFileError, match=f":{lines}:"):
            parse_keyfile(good + bad + "\n", "keys")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyFileError, match="cannot read"):
        read_keyfile(path)


def test_store_reloads_changes_and_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "api_keys"
    alice = create_key(path, "alice")
    now = [0.0]
    store = KeyStore(path, reload_s=1.0, clock=lambda: now[0])
    bob = create_key(path, "bob")
    assert store.current().match(bob.encode()) is None  # not checked before reload_s
    now[0] = 1.0
    assert store.current().match(bob.encode()) == "bob"
    path.write_text("garbage\n")
    now[0] = 2.0
    assert store.current().match(alice.encode()) is None  # broken file: nobody gets in
    os.remove(path)
    create_key(path, "alice")
    now[0] = 3.0
    assert store.current().names() == ["alice"]


def _leaky_match(right: bytes):
    """The mistake the test must catch: compare characters until the first difference."""

    def match(key: bytes) -> bool:
        for a, b in zip(key, right, strict=False):
            if a != b:
                return False
        return len(key) == len(right)

    return match


def timing_gap(check, near: bytes, far: bytes, rounds: int = 300, calls: int = 20) -> float:
    """Relative gap between the median times of ``check(near)`` and ``check(far)``, measured
    interleaved so load from other processes hits both alike."""
    times: dict[bytes, list[int]] = {near: [], far: []}
    for i in range(rounds):
        for key in (near, far) if i % 2 else (far, near):
            start = time.perf_counter_ns()
            for _ in range(calls):
                check(key)
            times[key].append(time.perf_counter_ns() - start)
    a, b = median(times[near]), median(times[far])
    return abs(a - b) / min(a, b)


def test_wrong_key_timing_does_not_depend_on_matching_characters(tmp_path: Path) -> None:
    path = tmp_path / "api_keys"
    right = create_key(path, "alice").encode()
    for i in range(7):
        create_key(path, f"other{i}")
    ring = read_keyfile(path)
    near = right[:-1] + (b"A" if right[-1:] != b"A" else b"B")  # all but the last char match
    far = bytes(c ^ 1 for c in right)  # no char matches, same length
    assert ring.match(near) is None and ring.match(far) is None
    # The procedure can see a leak: an early-exit comparison is caught every time.
    assert timing_gap(_leaky_match(right), near, far) > 0.5
    # The real check shows no gap beyond noise (bounded retries for a busy machine).
    gaps = []
    for _ in range(3):
        gaps.append(timing_gap(ring.match, near, far))
        if gaps[-1] < 0.1:
            break
    assert min(gaps) < 0.1, gaps


def test_oversized_or_empty_keys_are_refused_without_hashing() -> None:
    ring = KeyRing(b"s" * 32)
    assert ring.match(b"") is None and ring.match(b"x" * 10_000) is None


def test_token_bucket_refill_burst_and_memory_bound() -> None:
    now = [100.0]
    limiter = RateLimiter({"r": BucketSpec(rate=2.0, burst=4)}, max_callers=3, clock=lambda: now[0])
    assert [limiter.take("a", "r") for _ in range(4)] == [0.0] * 4
    assert limiter.take("a", "r") == pytest.approx(0.5)
    assert limiter.take("a", "r", 3) == pytest.approx(1.5)  # refused: nothing taken
    now[0] += 1.0
    assert limiter.take("a", "r", 2) == 0.0 and limiter.take("a", "r") > 0
    now[0] += 3600
    assert [limiter.take("a", "r") for _ in range(5)].count(0.0) == 4  # capped at the burst
    assert math.isinf(limiter.take("a", "r", 5))  # can never fit
    assert limiter.take("b", "unknown-kind", 10**9) == 0.0
    for caller in "bcdefg":
        limiter.take(caller, "r")
    assert len(limiter._buckets) == 3  # oldest callers forgotten


def test_rate_zero_means_unlimited() -> None:
    limiter = RateLimiter({"r": BucketSpec(rate=0.0, burst=1)})
    assert all(limiter.take("a", "r", 1000) == 0.0 for _ in range(100))


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_key_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind) -> None:
    """A FIFO must not hang start-up (or a reload), /dev/zero must not be read for ever."""
    import threading

    from simplepose.serving.access import AccessConfigError, access_policy
    from simplepose.serving.settings import Settings

    path = {"fifo": tmp_path / "api_keys", "directory": tmp_path, "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    settings = Settings(host="0.0.0.0", api_keys_file=path, _env_file=None)
    outcome: list[BaseException] = []

    def start() -> None:
        try:
            access_policy(settings)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            outcome.append(exc)

    worker = threading.Thread(target=start, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "start-up hangs on the key file"
    assert len(outcome) == 1 and isinstance(outcome[0], AccessConfigError)
    assert "not a regular file" in str(outcome[0])


def test_a_fifo_swapped_in_while_running_fails_closed(tmp_path: Path) -> None:

    path = tmp_path / "api_keys"
    key = create_key(path, "alice")
    store = KeyStore(path, reload_s=0.0)
    assert store.current().match(key.encode()) == "alice"
    path.unlink()
    os.mkfifo(path)
    assert store.current().match(key.encode()) is None  # refused, and did not block
