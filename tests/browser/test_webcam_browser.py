"""Webcam mode with Chromium's fake camera playing the PoseTrack clip: frames go to the service,
results are drawn live with frames/s and latency, and stopping closes everything cleanly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from page_helpers import PageLog, drawing, launch, pixels_at, screenshot, unobstructed_keypoints

pytestmark = pytest.mark.slow

CLIP = Path(
    os.environ.get(
        "SIMPLEPOSE_POSETRACK_CLIP",
        Path(__file__).resolve().parents[2].parent / "shared" / "data" / "posetrack-clip",
    )
)
CAMERA_SIZE = (640, 360)  # the clip's 1280x720 frames, halved
CAMERA_FPS = 15
FRAMES_TO_SEE = 4
COLOUR_TOLERANCE = 4


def write_y4m(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """A raw YUV 4:2:0 video Chromium's fake camera plays in a loop."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    jpgs = sorted(CLIP.glob("*.jpg"))
    if not jpgs:
        pytest.skip(f"posetrack-clip not found at {CLIP} (needs ../shared/data/posetrack-clip)")
    frames = [
        cv2.resize(cv2.imread(str(p)), CAMERA_SIZE, interpolation=cv2.INTER_AREA) for p in jpgs
    ]
    return write_y4m(frames, tmp_path_factory.mktemp("camera") / "posetrack.y4m", CAMERA_FPS)


@pytest.fixture
def camera_page(playwright_session, chromium, service, fake_camera):
    ctx = launch(
        playwright_session,
        chromium,
        [
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}",
        ],
        viewport={"width": 1280, "height": 900},
    )
    ctx.grant_permissions(["camera"], origin=service)
    tab = ctx.new_page()
    tab.log = PageLog(tab)
    tab.sockets = []
    tab.on("websocket", lambda socket: tab.sockets.append(socket))
    tab.goto(service + "/")
    tab.locator("#model-card dt", has_text="name").wait_for(timeout=30_000)
    yield tab
    ctx.close()
    assert tab.log.errors == [], tab.log.errors


def test_webcam_frames_are_sent_drawn_and_closed(camera_page, artefacts) -> None:
    from playwright.sync_api import expect

    page = camera_page
    page.locator("#mode-webcam").click()
    page.select_option("#cam-rate", "5")
    page.locator("#threshold").focus()
    page.keyboard.press("Home")  # draw every keypoint, whatever the model's scores
    # keep a handle on the camera stream to see that stopping ends it
    page.evaluate(
        """async () => {
        const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = async (c) => (window.cameraStream = await original(c));
    }"""
    )
    page.locator("#cam-start").click()
    expect(page.locator("#cam-frames")).not_to_have_text("0", timeout=60_000)
    for _ in range(200):
        if int(page.locator("#cam-frames").text_content()) >= FRAMES_TO_SEE:
            break
        page.wait_for_timeout(100)
    assert int(page.locator("#cam-frames").text_content()) >= FRAMES_TO_SEE
    fps = float(page.locator("#cam-fps").text_content())
    assert 0 < fps <= 5 * 1.3, fps  # bounded by the rate chosen (the last 10 results: some jitter)
    assert page.locator("#cam-latency").text_content().endswith(" ms")
    page.evaluate("async () => window.scrollTo(0, 0)")
    screenshot(page, artefacts, "webcam-mode", full_page=False)

    page.locator("#cam-stop").click()
    expect(page.locator("#cam-start")).to_be_enabled()
    assert page.evaluate("async () => window.cameraStream.getTracks().map(t => t.readyState)") == [
        "ended"
    ]
    sent = int(page.locator("#cam-frames").text_content())
    result = json.loads(page.locator("#json").text_content())
    assert (result["image"]["width"], result["image"]["height"]) == CAMERA_SIZE
    # the last frame's persons are drawn in their colours over the last frame
    info = drawing(page)
    points = unobstructed_keypoints(result, 0.0, info["base"])
    assert points, "no keypoint drawn"
    for (person, x, y), pixel in zip(
        points, pixels_at(page, [(x, y) for _, x, y in points]), strict=True
    ):
        index = result["persons"][person].get("track_id", person)
        colour = info["palette"][index % len(info["palette"])]
        want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert np.abs(np.subtract(pixel[:3], want)).max() <= COLOUR_TOLERANCE, (x, y, pixel, want)
    page.wait_for_timeout(1000)
    assert int(page.locator("#cam-frames").text_content()) == sent  # nothing sent after stop
    transport = page.locator("#cam-transport").text_content()
    if transport.startswith("WebSocket"):
        (socket,) = page.sockets
        assert socket.is_closed()
    else:
        assert page.log.posts() >= sent
