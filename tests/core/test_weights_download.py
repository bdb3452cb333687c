"""The weights registry (core) and its download against a hostile 127.0.0.1 server: every
transport failure is ``WeightsUnavailable``, no ``.partial`` file stays, digests must be full,
redirects may not leave https, and the service falls back as it does offline."""

from __future__ import annotations

import hashlib
import socket
import socketserver
import threading
import urllib.request
from pathlib import Path

import pytest

from simplepose.hub import download as downloads
from simplepose.hub import registry as weights
from simplepose.hub.download import download, obtain
from simplepose.hub.registry import KnownWeights, WeightsError, WeightsUnavailable, lookup

BODY = b"not really a checkpoint, but bytes with a known digest" * 50
SHA = hashlib.sha256(BODY).hexdigest()
HEADERS = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
RESPONSES: dict[str, bytes] = {
    "/ok": f"{HEADERS}Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY,
    "/cut": f"{HEADERS}Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY[:100],
    "/garbage": b"SPEAK FRIEND AND ENTER\r\n\r\n",
    "/badlen": f"{HEADERS}Content-Length: twelve\r\n\r\n".encode() + BODY,
    "/hugelen": f"{HEADERS}Content-Length: {'9' * 400}\r\n\r\n".encode() + BODY,
    "/toftp": b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/x\r\nContent-Length: 0\r\n\r\n",
    "/missing": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
}


class _Hostile(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        line = self.request.makefile("rb").readline().decode("latin-1")
        path = line.split(" ")[1] if line.count(" ") >= 2 else "/"
        self.request.sendall(RESPONSES.get(path, RESPONSES["/missing"]))
        self.request.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def server():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Hostile)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_registry_entries_are_full_digests_or_declared_unverified():
    for entry in weights.REGISTRY.values():
        assert entry.url.startswith("https://")
        assert len(entry.sha256) in (0, 64) and entry.verified == (len(entry.sha256) == 64)
        assert entry.filename and entry.licence
        # both pose zoos put the file's hash prefix in its name; the detector zips carry the
        # hash of the checkpoint they were exported from, so they get no prefix check
        assert len(entry.name_prefix) == (0 if entry.kind == "detector" else 8)
        if entry.verified:
            assert entry.sha256.startswith(entry.name_prefix)
    assert lookup("mmpose0-res50-256x192").verified
    assert lookup("torchvision-resnet18").verified and lookup("torchvision-resnet50").verified
    assert not lookup(weights.DEFAULT_MODEL).verified  # no public full digest: said so
    with pytest.raises(ValueError, match="64 lowercase hex"):
        KnownWeights("x", "https://example.org/x.pth", "04af38ce")
    with pytest.raises(ValueError, match="must be https"):
        KnownWeights("x", "http://example.org/x.pth")
    with pytest.raises(ValueError, match="kind must be one of"):
        KnownWeights("x", "https://example.org/x.pth", kind="virus")


def test_verified_download_and_short_digests_refused(tmp_path: Path, server: str):
    assert download(f"{server}/ok", tmp_path / "a.bin", SHA, progress=False) == SHA
    for short in (SHA[:1], SHA[:8], SHA[:63]):
        with pytest.raises(WeightsError, match="not a full 64-hex-digit digest"):
            download(f"{server}/ok", tmp_path / "b.bin", short, progress=False)
    with pytest.raises(WeightsError, match="does not match the expected"):
        download(f"{server}/ok", tmp_path / "b.bin", "f" * 64, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/cut", "stopped after 100 of"),
        ("/garbage", "BadStatusLine|RemoteDisconnected"),
        ("/missing", "HTTP 404"),
        ("/toftp", "refusing redirect"),
        ("/hugelen", "bytes, over"),
    ],
)
def test_transport_failures_are_weights_unavailable(tmp_path: Path, server, path, reason):
    with pytest.raises(WeightsUnavailable, match=reason):
        download(f"{server}{path}", tmp_path / "w.bin", SHA, progress=False)
    assert list(tmp_path.iterdir()) == []  # no .partial left behind


def test_garbage_content_length_is_ignored_and_the_body_verified(tmp_path: Path, server):
    assert download(f"{server}/badlen", tmp_path / "w.bin", SHA, progress=False) == SHA


def test_redirect_from_https_to_http_refused():
    handler = downloads._HttpsOnlyRedirects()
    req = urllib.request.Request("https://example.org/w.pth")
    with pytest.raises(WeightsUnavailable, match="refusing redirect"):
        handler.redirect_request(req, None, 302, "Found", {}, "http://example.org/w.pth")
    ok = handler.redirect_request(req, None, 302, "Found", {}, "https://cdn.example.org/w.pth")
    assert ok is not None and ok.full_url == "https://cdn.example.org/w.pth"


def test_unverified_entry_records_then_enforces(tmp_path: Path, server: str):
    entry = KnownWeights("t", f"{server}/ok", "", name_prefix=SHA[:8])
    path = obtain(entry, tmp_path, progress=False)
    assert (path.parent / "ok.sha256").read_text().strip() == SHA
    path.write_bytes(BODY[:-1] + b"!")
    with pytest.raises(WeightsError, match="cached file was deleted"):
        obtain(entry, tmp_path, offline=True)
    assert not path.exists()
    (path.parent / "ok.sha256").write_text("abc\n")  # a tampered record is not a digest
    with pytest.raises(WeightsError, match="not a full 64-hex-digit digest"):
        obtain(entry, tmp_path, progress=False)
    wrong_prefix = KnownWeights("t2", f"{server}/ok", "", name_prefix="0" * 8)
    with pytest.raises(WeightsError, match="does not start with 00000000"):
        obtain(wrong_prefix, tmp_path / "other", progress=False)


def test_service_falls_back_when_the_default_download_breaks(tmp_path, server, monkeypatch):
    from simplepose.cli.models import BUILDERS
    from simplepose.hub.resolve import Builders, HubOptions, ModelUnavailable, resolve_model

    for path in ("/cut", "/garbage", "/ok"):  # /ok: bytes that are not a checkpoint
        broken = KnownWeights(weights.DEFAULT_MODEL, f"{server}{path}", "", "mmpose1",
                              "res50_256x192")  # fmt: skip
        monkeypatch.setitem(weights.REGISTRY, weights.DEFAULT_MODEL, broken)
        cache = tmp_path / path.strip("/")
        with pytest.raises(ModelUnavailable, match=weights.DEFAULT_MODEL):
            resolve_model(None, HubOptions(cache=cache), Builders(registry=BUILDERS.registry))
        assert not list(cache.rglob("*.partial"))
