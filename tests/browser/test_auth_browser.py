"""The page against a service that requires API keys: it asks for a key on 401, keeps it only
for the tab (sessionStorage) and sends it as ``Authorization: Bearer`` (and as the WebSocket
subprotocol), never printing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from page_helpers import PageLog, running_service, screenshot, wait_for_result

pytestmark = pytest.mark.slow

OPEN_STREAM = """async ([key]) => {
  const { StreamFrames } = await import("/web/webcam.js");
  try {
    const stream = await StreamFrames.open("", key);
    const hello = stream.hello.type;
    stream.close();
    return hello;
  } catch (err) {
    return "refused: " + err.message;
  }
}"""


@pytest.fixture(scope="module")
def keyed_service(
    served_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """``simplepose serve`` with a key file (so a key is required even on 127.0.0.1);
    yields (base URL, key)."""
    directory = tmp_path_factory.mktemp("keyed")
    keys = directory / "api_keys"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    created = subprocess.run(
        [sys.executable, "-m", "simplepose.cli", "keys", "create", "browser", "--file", str(keys)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    key = created.stdout.strip()
    assert key and key not in keys.read_text()
    with running_service(served_model, directory, SIMPLEPOSE_API_KEYS_FILE=str(keys)) as base:
        yield base, key


def test_the_page_asks_for_a_key_and_keeps_it_for_the_tab(
    browser_context, keyed_service, coco_mini: Path, tmp_path: Path, artefacts: Path
) -> None:
    from playwright.sync_api import expect

    base, key = keyed_service
    page = browser_context.new_page()
    log = PageLog(page)
    auth_headers: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            auth_headers.append(r.headers.get("authorization"))
            if r.url.endswith("/v1/model") or "/keypoints" in r.url
            else None
        ),
    )
    page.goto(base + "/")
    form = page.locator("#auth")
    expect(form).to_be_visible(timeout=30_000)
    expect(page.locator("#error")).to_contain_text("An API key is needed (HTTP 401)")
    assert page.evaluate("async () => document.activeElement.id") == "auth-key"
    screenshot(page, artefacts, "auth-asked")
    # the stream refuses a connection without a key
    assert page.evaluate(OPEN_STREAM, [""]).startswith("refused")

    page.locator("#auth-key").fill("sp_wrong")
    page.keyboard.press("Enter")
    expect(form).to_be_visible()
    expect(page.locator("#auth-reason")).to_contain_text("401")
    assert page.evaluate("async () => sessionStorage.length") == 0  # a refused key is dropped

    page.locator("#auth-key").fill(key)
    page.keyboard.press("Enter")
    page.locator("#model-card dt", has_text="name").wait_for(timeout=30_000)
    expect(form).to_be_hidden()
    stored = page.evaluate(
        "async () => [sessionStorage.length, localStorage.length, document.cookie]"
    )
    assert stored == [1, 0, ""]  # this tab only
    photo = coco_mini / "val2017" / "000000183709.jpg"
    page.set_input_files("#file", str(photo))
    result = wait_for_result(page)
    assert auth_headers[-1] == f"Bearer {key}"
    assert page.evaluate(OPEN_STREAM, [key]) == "hello"

    command = page.locator("#curl").text_content()
    assert key not in command and '"Authorization: Bearer $SIMPLEPOSE_API_KEY"' in command
    (tmp_path / photo.name).write_bytes(photo.read_bytes())
    env = {**os.environ, "SIMPLEPOSE_API_KEY": key}
    out = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["persons"]) == len(result["persons"])

    # another tab of the same browser does not have the key
    other = browser_context.new_page()
    other.goto(base + "/")
    expect(other.locator("#auth")).to_be_visible(timeout=30_000)
    other.close()
    page.close()
    # Chromium logs the stream refused on purpose above; nothing else may go wrong
    assert [e for e in log.errors if "no valid credentials" not in e] == []
