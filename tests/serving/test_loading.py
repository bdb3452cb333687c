"""Liveness before readiness: the model loads in the background; failures reach /readyz."""

from __future__ import annotations

import threading

import pytest
from serving_helpers import encode, make_test_settings, synthetic_bgr, wait_until_ready

GATE_TIMEOUT_S = 30


@pytest.fixture
def gated_loading(monkeypatch, tiny_model, tiny_checkpoint):
    """``load_on_device`` blocks until the returned event is set, then yields the tiny model."""
    from simplepose.runtime import on_device

    gate = threading.Event()

    def slow_load(path, device, device_id, **options):
        if not gate.wait(GATE_TIMEOUT_S):
            raise TimeoutError("gate never opened")
        return tiny_model, "CPU"

    monkeypatch.setattr(on_device, "load_on_device", slow_load)
    yield gate
    gate.set()


def test_healthz_answers_while_the_model_loads(gated_loading, tiny_checkpoint) -> None:
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    app = create_app(make_test_settings(model=tiny_checkpoint, detector="none"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        image = {"image": ("a.png", encode(synthetic_bgr(), ".png"), "image/png")}
        assert client.post("/keypoints", files=image).status_code == 503
        gated_loading.set()
        wait_until_ready(client, GATE_TIMEOUT_S)
        assert client.post("/keypoints", files=image).status_code == 200
    assert app.state.drained is True


def test_a_failed_load_is_reported_and_stops_the_server(monkeypatch, tiny_checkpoint) -> None:
    from fastapi.testclient import TestClient

    from simplepose.runtime import on_device
    from simplepose.serving.main import create_app

    def broken(path, device, device_id, **options):
        raise RuntimeError("graph file is corrupt")

    monkeypatch.setattr(on_device, "load_on_device", broken)
    failed = threading.Event()
    app = create_app(
        make_test_settings(model=tiny_checkpoint, detector="none"),
        on_load_error=lambda exc: failed.set(),
    )
    with TestClient(app) as client:
        assert failed.wait(GATE_TIMEOUT_S)  # `simplepose serve` stops uvicorn here: exit 1
        ready = client.get("/readyz")
        assert ready.status_code == 503
        error = ready.json()["error"]
        assert error["code"] == "load_failed" and "graph file is corrupt" in error["message"]
        assert client.get("/healthz").status_code == 200
