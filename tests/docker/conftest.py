"""Fixtures of the deployment tests: the parsed compose file and Dockerfiles."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_files import COMPOSE_FILE, DOCKERFILES, Instruction, load_compose, parse_dockerfile


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml as Compose sees it with no host variables set (all defaults)."""
    return load_compose(COMPOSE_FILE)


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, list[Instruction]]:
    return {name: parse_dockerfile(path) for name, path in DOCKERFILES.items()}
