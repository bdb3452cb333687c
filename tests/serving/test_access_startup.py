"""Whether the service may start with its access settings, CORS, and a real keyed process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from localhost import free_port
from serving_helpers import make_test_settings, wait_ready

from simplepose.cli import main
from simplepose.serving.access import AccessConfigError, access_policy
from simplepose.serving.keyfile import create_key, revoke_key

ORIGIN = "https://pose.example.org"
STARTUP_TIMEOUT_S = 180  # model load + warm-up; slow when the machine is shared


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "api_keys"
    create_key(path, "alice")
    return path


@pytest.mark.parametrize(
    "host, auth, with_file, required",
    [
        ("127.0.0.1", None, False, False),  # `make serve`: local development stays easy
        ("localhost", None, False, False),
        ("::1", None, False, False),
        ("127.0.0.1", None, True, True),  # a key file given means keys are wanted
        ("127.0.0.1", "required", True, True),
        ("0.0.0.0", None, True, True),
        ("0.0.0.0", "off", False, False),  # explicit opt-out
        ("192.168.1.10", "off", True, False),
    ],
)
def test_policy_by_bind_address(
    keys_file: Path, host: str, auth: str | None, with_file: bool, required: bool
) -> None:
    settings = make_test_settings(
        host=host, auth=auth, api_keys_file=keys_file if with_file else None
    )
    assert access_policy(settings).required is required


@pytest.mark.parametrize(
    "host, auth",
    [("0.0.0.0", None), ("::", None), ("pose.internal", None), ("127.0.0.1", "required")],
)
def test_refuses_to_start_reachable_without_keys(host: str, auth: str | None) -> None:
    with pytest.raises(AccessConfigError, match="simplepose keys create NAME"):
        access_policy(make_test_settings(host=host, auth=auth))


def test_refuses_a_missing_broken_or_empty_key_file(tmp_path: Path, keys_file: Path) -> None:
    def policy(path: Path):
        return access_policy(make_test_settings(host="0.0.0.0", api_keys_file=path))

    with pytest.raises(AccessConfigError, match="not found"):
        policy(tmp_path / "nope")
    (tmp_path / "broken").write_text("alice secret\n")
    with pytest.raises(AccessConfigError, match="broken:1"):
        policy(tmp_path / "broken")
    revoke_key(keys_file, "alice")
    with pytest.raises(AccessConfigError, match="holds no key"):
        policy(keys_file)


def test_serve_on_0000_without_keys_exits_before_loading_a_model(capsys, monkeypatch) -> None:
    for name in list(os.environ):
        if name.startswith("SIMPLEPOSE_"):
            monkeypatch.delenv(name)
    start = time.perf_counter()
    code = main(["serve", "--host", "0.0.0.0", "--model", "/nonexistent/model", "--offline"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bound to 0.0.0.0" in err and "simplepose keys create NAME --file" in err
    assert "SIMPLEPOSE_AUTH=off" in err
    assert time.perf_counter() - start < 10  # refused up front, nothing loaded


def test_create_app_with_keys_on_0000_builds(keys_file: Path) -> None:
    from simplepose.serving.main import create_app

    app = create_app(make_test_settings(host="0.0.0.0", api_keys_file=keys_file))
    assert app.state.access.policy.required
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/healthz"]["get"]["security"] == []  # open routes say so
    assert "security" not in schema["paths"]["/v1/model"]["get"]  # inherits the global key
    assert {"401", "429"} <= set(schema["paths"]["/v1/model"]["get"]["responses"])
    assert {"401", "429"}.isdisjoint(schema["paths"]["/healthz"]["get"]["responses"])


def cors_client(keys_file: Path, origins: list[str]) -> TestClient:
    from simplepose.serving.main import create_app

    settings = make_test_settings(host="0.0.0.0", api_keys_file=keys_file, cors_origins=origins)
    return TestClient(create_app(settings))


def preflight(client: TestClient, origin: str) -> httpx.Response:
    return client.options(
        "/keypoints",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_cors_preflight_allowed_for_a_listed_origin_only(keys_file: Path) -> None:
    client = cors_client(keys_file, [ORIGIN])
    ok = preflight(client, ORIGIN)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    refused = preflight(client, "https://evil.example")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    # the page on an allowed origin can read the 401 (status, body and challenge)
    r = client.get("/v1/model", headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
    assert "www-authenticate" in r.headers["access-control-expose-headers"].lower()
    r = client.get("/v1/model", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_no_cross_origin_access_by_default(keys_file: Path) -> None:
    r = preflight(cors_client(keys_file, []), ORIGIN)
    assert r.status_code == 401 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("value", ["https://a.example/", "a.example", "https://a.example/path"])
def test_cors_origins_must_be_bare_origins(value: str) -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        make_test_settings(cors_origins=[value])


def test_cors_origins_from_the_environment(monkeypatch) -> None:
    from simplepose.serving.settings import Settings

    monkeypatch.setenv("SIMPLEPOSE_CORS_ORIGINS", f"{ORIGIN}, http://localhost:3000")
    assert Settings().cors_origins == [ORIGIN, "http://localhost:3000"]


@pytest.mark.slow
def test_real_process_requires_the_key(tiny_checkpoint: Path, tmp_path: Path) -> None:
    keys = tmp_path / "api_keys"
    key = create_key(keys, "ci")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    env.update({"SIMPLEPOSE_AUTH": "required", "SIMPLEPOSE_API_KEYS_FILE": str(keys)})
    log = (tmp_path / "serve.log").open("w")
    cmd = [sys.executable, "-m", "simplepose.cli", "serve", "--model", str(tiny_checkpoint),
           "--port", str(port), "--max-batch", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, tmp_path / "serve.log", STARTUP_TIMEOUT_S)  # /readyz needs no key
        refused = httpx.get(f"{base}/v1/model")
        assert refused.status_code == 401 and refused.headers["www-authenticate"]
        allowed = httpx.get(f"{base}/v1/model", headers={"Authorization": f"Bearer {key}"})
        assert allowed.status_code == 200 and allowed.json()["format"] == "checkpoint"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert "API key required (SIMPLEPOSE_AUTH=required); keys: ci" in text
    assert key not in text
