"""What the browser tests read off the page: the drawn canvas, the result, the person tables.

Everything is read through Playwright locators or functions evaluated over CDP (the page's
Content-Security-Policy forbids string eval, so ``wait_for_function("...")`` cannot be used).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localhost import free_port, wait_ready

# Headless, no network of its own, nothing kept between runs (a fresh --user-data-dir each).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULT_TIMEOUT_MS = 30_000
STARTUP_TIMEOUT_S = 180  # model load + warm-up on a shared machine
MAX_UPLOAD_BYTES = 300_000  # the service's limit in these tests; the 413 test sends more

PIXELS_AT = """async ([points]) => {
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  return points.map(([x, y]) => Array.from(ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data));
}"""
DRAWING = """async () => {
  const draw = await import("/web/draw.js");
  const canvas = document.getElementById("canvas");
  return {palette: draw.PALETTE, width: canvas.width, height: canvas.height,
          base: draw.strokeSizes(canvas.width, canvas.height).radius};
}"""


class PageLog:
    """Console errors, uncaught exceptions and requests of one page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", self._console)
        page.on("request", lambda req: self.requests.append(f"{req.method} {req.url}"))

    def _console(self, message) -> None:
        # An HTTP error the page then explains (413, 415, ...) is logged by Chromium itself.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def posts(self) -> int:
        return sum(r.startswith("POST ") for r in self.requests)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def wait_for_result(page, expected_text: str = "found") -> dict:
    """Wait until the status line reports a result; the response JSON the page shows."""
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_contain_text(expected_text, timeout=RESULT_TIMEOUT_MS)
    return json.loads(page.locator("#json").text_content())


def table_person_count(page) -> int:
    return page.locator("table.person-table").count()


def drawing(page) -> dict:
    return page.evaluate(DRAWING)


def pixels_at(page, points: list[tuple[float, float]]) -> list[tuple[int, int, int, int]]:
    return [tuple(p) for p in page.evaluate(PIXELS_AT, [points])]


def dot_radius(base: float, score: float) -> float:
    """The page's dot size (draw.js dotRadius), for deciding which dots may overlap."""
    return base * (0.75 + 1.25 * min(1.0, max(0.0, score)))


def unobstructed_keypoints(
    result: dict, threshold: float, base: float
) -> list[tuple[int, float, float]]:
    """(person index, x, y) of each drawn keypoint inside the image that no dot drawn after it
    comes near (its outline would darken the centre). The page draws every person's limbs
    first, then the dots: person by person, keypoint by keypoint."""
    width, height = result["image"]["width"], result["image"]["height"]
    dots = [
        (i, x, y, score)
        for i, person in enumerate(result["persons"])
        for x, y, score in person["keypoints"]
        if score >= threshold
    ]
    keep = []
    for n, (i, x, y, _) in enumerate(dots):
        if not (0 <= x < width and 0 <= y < height):
            continue
        covered = any(
            math.dist((x, y), (qx, qy)) <= dot_radius(base, qs) + 2.5
            for _, qx, qy, qs in dots[n + 1 :]
        )
        if not covered:
            keep.append((i, x, y))
    return keep


def drag_box(page, box: list[float]) -> None:
    """Drag a rectangle over ``box`` [x, y, w, h] (image pixels) on the displayed canvas."""
    canvas = page.locator("#canvas")
    shown = canvas.bounding_box()
    size = page.evaluate(
        "async () => [document.getElementById('canvas').width, document.getElementById('canvas').height]"
    )
    sx, sy = shown["width"] / size[0], shown["height"] / size[1]
    x, y, w, h = box
    page.mouse.move(shown["x"] + x * sx, shown["y"] + y * sy)
    page.mouse.down()
    page.mouse.move(shown["x"] + (x + w / 2) * sx, shown["y"] + (y + h / 2) * sy, steps=3)
    page.mouse.move(shown["x"] + (x + w) * sx, shown["y"] + (y + h) * sy, steps=3)
    page.mouse.up()


def screenshot(
    page, directory: Path, name: str, element: str | None = None, full_page: bool = True
) -> Path:
    """``name.png``: the whole page (or what the window shows), or only the ``element``
    (a CSS selector)."""
    path = directory / f"{name}.png"
    if element:
        page.locator(element).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)
    return path


def launch(playwright, chromium: str, extra_flags: list[str] = (), **context):
    """A persistent context with a fresh profile directory (removed with the context)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    ctx = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=chromium,
        headless=True,
        args=[*CHROMIUM_FLAGS, *extra_flags],
        **context,
    )
    ctx.on("close", lambda _: shutil.rmtree(profile, ignore_errors=True))
    return ctx


@contextmanager
def running_service(model: Path, directory: Path, **settings: str) -> Iterator[str]:
    """``simplepose serve --model MODEL`` as a real process on 127.0.0.1 with ``SIMPLEPOSE_*``
    ``settings`` (nothing else from this environment); yields its base URL, stops it after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    env.update({"SIMPLEPOSE_CACHE_DIR": str(directory / "cache"), **settings})
    port = free_port()
    log_path = directory / "serve.log"
    cmd = [sys.executable, "-m", "simplepose.cli", "serve", "--model", str(model),
           "--port", str(port), "--max-batch", "4"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(base, proc, log_path, STARTUP_TIMEOUT_S)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
