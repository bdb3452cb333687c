"""docker-compose.yml hands the service its API key file as a secret (docs/access.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_files import (
    COMPOSE_FILE,
    RUNTIME_OVERRIDE,
    dockerignore_excludes,
    dockerignore_patterns,
    environment,
    load_compose,
    merge,
)

from simplepose.serving.access import AccessConfigError, access_policy
from simplepose.serving.keyfile import create_key
from simplepose.serving.settings import Settings

SERVICE_VARIANTS = ("keypoints", "keypoints-cpu")
SECRETS_DIR = "/run/secrets/"  # where Compose mounts a service's secrets


def secret_names(service: dict[str, Any]) -> list[str]:
    return [s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])]


@pytest.mark.parametrize("name", SERVICE_VARIANTS)
def test_key_file_is_the_mounted_secret(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    keys_file = environment(svc)["SIMPLEPOSE_API_KEYS_FILE"]
    assert keys_file is not None and keys_file.startswith(SECRETS_DIR)
    secret = keys_file.removeprefix(SECRETS_DIR)
    assert secret in secret_names(svc)
    assert compose["secrets"][secret]["file"] == "./secrets/api_keys"
    assert environment(svc)["SIMPLEPOSE_HOST"] == "0.0.0.0"  # hence keys are required
    assert "SIMPLEPOSE_AUTH" in environment(svc) and environment(svc)["SIMPLEPOSE_AUTH"] is None


def test_key_file_location_follows_api_keys_file() -> None:
    compose = load_compose(COMPOSE_FILE, {"API_KEYS_FILE": "/etc/simplepose/keys"})
    assert compose["secrets"]["api_keys"]["file"] == "/etc/simplepose/keys"


def test_runtime_variant_keeps_the_secret(compose: dict[str, Any]) -> None:
    variant = merge(load_compose(COMPOSE_FILE), load_compose(RUNTIME_OVERRIDE))
    assert secret_names(variant["services"]["keypoints"]) == ["api_keys"]


@pytest.mark.parametrize("name", SERVICE_VARIANTS)
def test_service_starts_with_a_key_and_refuses_without(
    compose: dict[str, Any], name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in environment(compose["services"][name]).items() if v is not None}
    keys_file = tmp_path / "api_keys"  # stands for /run/secrets/api_keys
    for key, value in {**env, "SIMPLEPOSE_API_KEYS_FILE": str(keys_file)}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(AccessConfigError, match="not found"):  # compose up before keys create
        access_policy(Settings())
    create_key(keys_file, "admin")
    assert access_policy(Settings()).required


def test_secrets_stay_out_of_images_and_git() -> None:
    assert dockerignore_excludes(dockerignore_patterns(), "secrets/api_keys")
    ignored = (COMPOSE_FILE.parent / ".gitignore").read_text().splitlines()
    assert "/secrets/" in ignored
