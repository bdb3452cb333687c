"""API keys on every route: the app's routes are walked, so a new route cannot be forgotten."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI, WebSocket
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from serving_helpers import make_test_settings, synthetic_bgr
from starlette.routing import Mount, WebSocketRoute
from starlette.testclient import WebSocketDenialResponse

from simplepose.serving.access import (
    WS_KEY_PROTOCOL_PREFIX,
    WS_SUBPROTOCOL,
    accepted_subprotocol,
)
from simplepose.serving.keyfile import create_key, revoke_key
from simplepose.serving.ratelimit import FRAMES, PERSONS, REQUESTS, BucketSpec
from simplepose.video.frames import VideoWriter

# Every route reachable without a key, on purpose: probes, the web page, the API docs
# (SIMPLEPOSE_DOCS_PUBLIC, default on). /metrics needs a key unless SIMPLEPOSE_METRICS_PUBLIC.
OPEN_ROUTES = {
    "/healthz", "/readyz", "/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
}  # fmt: skip
OPEN_PREFIXES = ("/web/",)  # the web page's files
TEST_WS_PATH = "/test-only/ws"


@dataclass
class Keyed:
    client: TestClient
    app: FastAPI
    keys: dict[str, str]  # name -> key
    keys_file: Path


@pytest.fixture(scope="module")
def keyed(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    """The service bound to 0.0.0.0 with a key file: it must start, and need keys."""
    from simplepose.serving.main import create_app

    keys_file = tmp_path_factory.mktemp("keys") / "api_keys"
    keys = {name: create_key(keys_file, name) for name in ("alice", "bob", "carol", "dave")}
    revoke_key(keys_file, "bob")
    settings = make_test_settings(
        host="0.0.0.0", api_keys_file=keys_file, keys_reload_s=0.0, max_boxes=4
    )
    app = create_app(settings, model=tiny_model, device="CPU")

    @app.websocket(TEST_WS_PATH)  # stands for the video stream: added after create_app
    async def echo_caller(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol=accepted_subprotocol(websocket.scope))
        await websocket.send_text(websocket.scope["simplepose.caller"].name)
        await websocket.close()

    @app.get("/test-only/added-later")
    def added_later() -> dict:
        return {"ok": True}

    with TestClient(app) as client:
        yield Keyed(client, app, keys, keys_file)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def walk(app: FastAPI) -> list[tuple[str, str]]:
    """(method or 'WS', a concrete path) for every route of the app, included routers too."""
    found = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, Mount):
            found.append(("GET", concrete(route.path).rstrip("/") + "/anything"))
        elif isinstance(route, WebSocketRoute | APIWebSocketRoute):
            found.append(("WS", concrete(path)))
        elif path is None:  # e.g. a frontend route group: its own routes carry the paths
            subroutes = getattr(route, "routes", None)
            assert subroutes, f"the walk does not know {type(route).__name__}: teach it"
            found += [("GET", concrete(r.path)) for r in subroutes]
        else:
            found += [(m, concrete(path)) for m in sorted(context.methods or ["GET"])]
    return found


def is_open(path: str) -> bool:
    return path in OPEN_ROUTES or path.startswith(OPEN_PREFIXES)


def protected(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in walk(app) if not is_open(p)]


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    """Status and headers; a WebSocket refused during the handshake counts as its HTTP status."""
    if method != "WS":
        r = client.request(method, path, headers=headers)
        return r.status_code, {**r.headers, "_body": r.text}
    try:
        with client.websocket_connect(path, headers=headers) as ws:
            ws.receive_text()
        return 101, {}
    except WebSocketDenialResponse as exc:
        return exc.status_code, {**exc.headers, "_body": exc.text}


def test_the_walk_sees_the_api_and_the_routes_added_later(keyed: Keyed) -> None:
    seen = set(protected(keyed.app))
    expected = {("POST", "/keypoints"), ("POST", "/keypoints/render"), ("GET", "/v1/model"),
                ("GET", "/metrics"), ("WS", TEST_WS_PATH), ("GET", "/test-only/added-later"),
                ("POST", "/keypoints/video"), ("WS", "/keypoints/stream")}  # fmt: skip
    assert expected <= seen
    assert {p for _, p in walk(keyed.app)} & OPEN_ROUTES >= {"/healthz", "/readyz", "/docs"}


@pytest.mark.parametrize(
    "headers, code, challenge",
    [
        ({}, "missing_api_key", 'Bearer realm="simplepose"'),
        ({"Authorization": "Bearer sp_wrong"}, "invalid_api_key", 'error="invalid_token"'),
        ({"X-API-Key": "sp_wrong"}, "invalid_api_key", 'error="invalid_token"'),
        ({"Authorization": "Basic YWxpY2U6eA=="}, "missing_api_key", "Bearer"),
    ],
)
def test_every_protected_route_refuses_without_a_right_key(
    keyed: Keyed, headers: dict[str, str], code: str, challenge: str
) -> None:
    for method, path in protected(keyed.app):
        status, got = call(keyed.client, method, path, headers)
        assert status == 401, (method, path, status)
        assert challenge in got["www-authenticate"], (method, path)
        assert json.loads(got["_body"])["error"]["code"] == code, (method, path)


def test_a_revoked_key_is_refused_everywhere_and_a_valid_one_is_not(keyed: Keyed) -> None:
    for method, path in protected(keyed.app):
        status, _ = call(keyed.client, method, path, bearer(keyed.keys["bob"]))
        assert status == 401, (method, path)
        status, _ = call(keyed.client, method, path, bearer(keyed.keys["alice"]))
        assert status not in (401, 403, 429), (method, path, status)  # bad bodies give 422


def test_open_routes_need_no_key(keyed: Keyed) -> None:
    for method, path in walk(keyed.app):
        if is_open(path) and method == "GET":
            expected = (200,) if path in OPEN_ROUTES else (200, 404)  # /web/x: no such file
            assert keyed.client.get(path).status_code in expected, path


def test_right_key_gets_200_on_the_api(keyed: Keyed, png_bytes: bytes) -> None:
    image = {"image": ("a.png", png_bytes, "image/png")}
    for key_header in (bearer(keyed.keys["alice"]), {"X-API-Key": keyed.keys["alice"]}):
        for path in ("/keypoints", "/keypoints/render"):
            r = keyed.client.post(path, files=image, data={"boxes": "[[10, 5, 60, 100]]"},
                                  headers=key_header)  # fmt: skip
            assert r.status_code == 200, r.text
        for path in ("/v1/model", "/metrics", "/test-only/added-later"):
            assert keyed.client.get(path, headers=key_header).status_code == 200


def test_websocket_key_as_subprotocol_or_header(keyed: Keyed) -> None:
    protocols = [WS_SUBPROTOCOL, WS_KEY_PROTOCOL_PREFIX + keyed.keys["alice"]]
    with keyed.client.websocket_connect(TEST_WS_PATH, subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == WS_SUBPROTOCOL
        assert ws.receive_text() == "alice"
    with keyed.client.websocket_connect(TEST_WS_PATH, headers=bearer(keyed.keys["carol"])) as ws:
        assert ws.receive_text() == "carol"
    revoked = [WS_SUBPROTOCOL, WS_KEY_PROTOCOL_PREFIX + keyed.keys["bob"]]
    with pytest.raises(WebSocketDenialResponse) as denied:
        keyed.client.websocket_connect(TEST_WS_PATH, subprotocols=revoked).__enter__()
    assert denied.value.status_code == 401
    assert denied.value.json()["error"]["code"] == "invalid_api_key"


def test_hostile_credentials_get_401_not_500(keyed: Keyed) -> None:
    alice = keyed.keys["alice"]
    for value in ("Bearer", "Bearer ", "Bearer " + "A" * 10_000, "Bearer " + alice[:-1],
                  "Bearer " + alice + "x", "bearer\t" + alice.upper(), "Bearer \x00"):  # fmt: skip
        r = keyed.client.get("/v1/model", headers={"Authorization": value})
        assert r.status_code == 401, value[:20]
        assert r.json()["error"]["code"] == "invalid_api_key"
    r = keyed.client.get("/v1/model", headers=[("X-API-Key", "\xe9\xff".encode("latin-1"))])
    assert r.status_code == 401
    # the scheme is case-insensitive and surrounding blanks are not part of the key
    assert keyed.client.get("/v1/model", headers={"Authorization": f"bearer  {alice} "}).is_success


def test_a_key_created_while_running_works_within_the_reload(keyed: Keyed) -> None:
    key = create_key(keyed.keys_file, "erin")
    assert keyed.client.get("/v1/model", headers=bearer(key)).status_code == 200
    revoke_key(keyed.keys_file, "erin")
    assert keyed.client.get("/v1/model", headers=bearer(key)).status_code == 401


class FakeClock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limit(keyed: Keyed, monkeypatch: pytest.MonkeyPatch):
    """``limit(kind, rate, burst)`` sets one bucket of the app for this test; returns the
    limiter's clock, which only moves when the test moves it."""
    limiter = keyed.app.state.access.limiter
    clock = FakeClock()
    monkeypatch.setattr(limiter, "clock", clock)

    def set_limit(kind: str, rate: float, burst: int) -> FakeClock:
        monkeypatch.setitem(limiter.specs, kind, BucketSpec(rate=rate, burst=burst))
        return clock

    return set_limit


def test_requests_bucket_empties_then_refills(keyed: Keyed, limit) -> None:
    clock = limit(REQUESTS, rate=2.0, burst=3)
    carol = bearer(keyed.keys["carol"])
    assert [keyed.client.get("/v1/model", headers=carol).status_code for _ in range(3)] == [200] * 3
    r = keyed.client.get("/v1/model", headers=carol)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited" and r.headers["Retry-After"] == "1"
    assert keyed.client.get("/v1/model", headers=bearer(keyed.keys["dave"])).status_code == 200
    clock.now += 0.5  # one token back (2/s)
    assert keyed.client.get("/v1/model", headers=carol).status_code == 200
    assert keyed.client.get("/v1/model", headers=carol).status_code == 429
    clock.now += 10  # refilled to the burst, not beyond
    assert [keyed.client.get("/v1/model", headers=carol).status_code for _ in range(4)] == [
        200, 200, 200, 429,
    ]  # fmt: skip
    assert keyed.client.get("/healthz").status_code == 200  # probes are never limited


def test_persons_bucket_limits_crops_per_second(keyed: Keyed, limit, png_bytes: bytes) -> None:
    clock = limit(PERSONS, rate=2.0, burst=4)
    dave = bearer(keyed.keys["dave"])
    form = {"boxes": json.dumps([[10, 5, 60, 100]] * 3)}
    image = {"image": ("a.png", png_bytes, "image/png")}
    assert keyed.client.post("/keypoints", files=image, data=form, headers=dave).status_code == 200
    r = keyed.client.post("/keypoints", files=image, data=form, headers=dave)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "1"  # 1 token left, 3 needed at 2/s
    clock.now += 1.0
    assert keyed.client.post("/keypoints", files=image, data=form, headers=dave).status_code == 200


def tiny_video(frames: int) -> bytes:
    buf = io.BytesIO()
    with VideoWriter(buf, 10, "mpeg4", "mp4", "yuv420p") as writer:
        for i in range(frames):
            writer.write(np.roll(synthetic_bgr(), 3 * i, axis=1))
    return buf.getvalue()


def test_frames_bucket_limits_video_and_stream(keyed: Keyed, limit, png_bytes: bytes) -> None:
    clock = limit(FRAMES, rate=1.0, burst=3)
    carol = bearer(keyed.keys["carol"])

    def post(frames: int):
        files = {"video": ("clip.mp4", tiny_video(frames), "video/mp4")}
        return keyed.client.post("/keypoints/video", files=files, headers=carol)

    r = post(4)  # the 4th frame finds the bucket empty
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited", r.text
    assert r.headers["Retry-After"] == "1"
    clock.now += 10
    assert post(3).status_code == 200
    clock.now += 10
    protocols = [WS_SUBPROTOCOL, WS_KEY_PROTOCOL_PREFIX + keyed.keys["carol"]]
    with keyed.client.websocket_connect("/keypoints/stream", subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == WS_SUBPROTOCOL
        assert ws.receive_json()["type"] == "hello"
        answers = []
        for _ in range(4):
            ws.send_bytes(png_bytes)
            answers.append(ws.receive_json())
            clock.now += 0.01
            time.sleep(0.1)  # the stream's own per-connection frame rate (15/s)
        assert [a["type"] for a in answers] == ["frame"] * 3 + ["error"]
        assert answers[3]["code"] == "rate_limited" and "frames/s" in answers[3]["message"]
        clock.now += 1.0
        ws.send_bytes(png_bytes)
        assert ws.receive_json()["type"] == "frame"


def test_metrics_count_by_key_name_never_by_key(keyed: Keyed) -> None:
    text = keyed.client.get("/metrics", headers=bearer(keyed.keys["alice"])).text
    assert re.search(r'simplepose_key_requests_total\{key="alice"\} [1-9]', text)
    assert re.search(r'simplepose_auth_failures_total\{reason="missing"\} [1-9]', text)
    assert re.search(r'simplepose_auth_failures_total\{reason="invalid"\} [1-9]', text)
    for key in keyed.keys.values():
        assert key not in text and key[3:19] not in text
    if 'simplepose_rate_limited_total{key="carol"' in text:  # after the bucket tests
        assert 'limit="requests"' in text


def test_auth_off_limits_per_client_address(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """On loopback without keys every caller is 'anonymous', metered by its address."""
    limiter = client.app.state.access.limiter
    assert not client.app.state.access.policy.required
    monkeypatch.setattr(limiter, "clock", FakeClock())
    monkeypatch.setitem(limiter.specs, REQUESTS, BucketSpec(rate=1.0, burst=2))
    assert [client.get("/v1/model").status_code for _ in range(3)] == [200, 200, 429]
    limiter.clock.now += 1.0
    text = client.get("/metrics").text
    assert 'simplepose_rate_limited_total{key="anonymous",limit="requests"} 1.0' in text
    assert 'simplepose_key_requests_total{key="anonymous"}' in text
