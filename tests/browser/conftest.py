"""Browser fixtures: Debian's Chromium (installed when missing), the real service on 127.0.0.1
with a tiny model labelled demo, and Playwright pages that record what went wrong.

Screenshots go to ``$SIMPLEPOSE_ARTEFACTS_DIR/browser`` (default ``<repo>/artefacts/browser``).
``SIMPLEPOSE_BROWSER_MODEL=DIR`` serves another exported model instead (the docs screenshots
are taken with the real demo model that way).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from page_helpers import MAX_UPLOAD_BYTES, PageLog, launch, running_service

CHROMIUM = "/usr/bin/chromium"
APT_TIMEOUT_S = 600
REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("SIMPLEPOSE_ARTEFACTS_DIR", REPO / "artefacts")) / "browser"


def _install_chromium() -> str:
    """apt-get install chromium (root on Debian/Ubuntu); the reason it cannot be done, or ''."""
    if not shutil.which("apt-get"):
        return "no apt-get on this machine"
    if os.geteuid() != 0:
        return "not root, so apt-get cannot install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} took over {APT_TIMEOUT_S} s"
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's Chromium; installed with apt-get when missing, else the tests skip."""
    import playwright.sync_api  # noqa: F401  (dev extra: missing is an error, not a skip)

    if not Path(CHROMIUM).is_file():
        reason = _install_chromium()
        if reason or not Path(CHROMIUM).is_file():
            pytest.skip(f"Chromium is not installed and cannot be installed: {reason or 'unknown'}")
    return CHROMIUM


@pytest.fixture(scope="session")
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


@pytest.fixture(scope="session")
def served_model(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint exported (MindIR, flip fused) and labelled demo, as the service's
    demo build labels its model; or ``SIMPLEPOSE_BROWSER_MODEL``."""
    given = os.environ.get("SIMPLEPOSE_BROWSER_MODEL")
    if given:
        return Path(given)
    from simplepose.export.exporter import export_model

    directory = tmp_path_factory.mktemp("browser_model")
    info = export_model(tiny_checkpoint, directory, flip=True)
    dataclasses.replace(info, demo=True).save(directory)
    return directory


@pytest.fixture(scope="session")
def service(served_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``simplepose serve`` on 127.0.0.1 (a real process, no API keys); yields its base URL."""
    directory = tmp_path_factory.mktemp("service")
    with running_service(
        served_model, directory, SIMPLEPOSE_MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES),
        SIMPLEPOSE_OFFLINE="true",
    ) as base:  # fmt: skip
        yield base


@pytest.fixture(scope="module")  # closed with each module: no event loop outlives tests/browser
def playwright_session(chromium: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser_context(playwright_session, chromium: str):
    ctx = launch(
        playwright_session, chromium, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    yield ctx
    ctx.close()


@pytest.fixture
def page(browser_context, service: str):
    """A fresh tab on the page; fails the test on any console error or uncaught exception."""
    tab = browser_context.new_page()
    log = PageLog(tab)
    tab.log = log
    tab.goto(service + "/")
    tab.locator("#model-card dt", has_text="name").wait_for(timeout=30_000)
    yield tab
    tab.close()
    assert log.errors == [], log.errors
    elsewhere = [
        r for r in log.requests if not r.split(" ", 1)[1].startswith((service, "blob:", "data:"))
    ]
    assert elsewhere == [], "the page must work offline"
