"""Helpers shared by the serving tests (images, settings, a gated model)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from localhost import wait_ready  # noqa: F401 - the serving tests import it from here
from PIL import Image

from simplepose.serving.settings import Settings

IMAGE_W, IMAGE_H = 160, 120


def make_test_settings(**overrides) -> Settings:
    """Settings for tests: nothing read from the environment, small limits, no rate limits
    (tests fire requests faster than any client should; test_access sets its own)."""
    base = {
        "max_wait_ms": 2.0,
        "max_batch": 8,
        "queue_size": 64,
        "cache_dir": Path("/nonexistent"),
        "detector": "none",  # tests of the detector name theirs
        "rate_limit_rps": 0,
        "rate_limit_persons_per_s": 0,
        "rate_limit_frames_per_s": 0,
    }
    return Settings(_env_file=None, **{**base, **overrides})


def synthetic_bgr(width: int = IMAGE_W, height: int = IMAGE_H, seed: int = 0) -> np.ndarray:
    """A deterministic image with a stick figure on a noisy background."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    cx = width // 2
    cv2.circle(img, (cx, height // 6), max(3, height // 14), (200, 180, 160), -1)
    cv2.line(img, (cx, height // 4), (cx, height * 2 // 3), (220, 220, 220), 3)
    cv2.line(img, (cx, height * 2 // 3), (cx - width // 8, height - 5), (220, 220, 220), 3)
    cv2.line(img, (cx, height * 2 // 3), (cx + width // 8, height - 5), (220, 220, 220), 3)
    cv2.line(
        img, (cx - width // 6, height // 3), (cx + width // 6, height // 3), (220, 220, 220), 3
    )
    return img


def encode(bgr: np.ndarray, fmt: str = ".png") -> bytes:
    ok, buf = cv2.imencode(fmt, bgr)
    if not ok:
        raise RuntimeError(f"cannot encode {fmt}")
    return buf.tobytes()


def jpeg_with_orientation(bgr: np.ndarray, orientation: int) -> bytes:
    """JPEG bytes whose EXIF says to rotate the stored pixels (6 = 90 degrees clockwise)."""
    img = Image.fromarray(bgr[..., ::-1])
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    return buf.getvalue()


class GatedModel:
    """Wraps a model; calls block until ``gate`` is set (to fill the queue on purpose)."""

    def __init__(self, model):
        self.model = model
        self.info = model.info
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.entered.set()
        if not self.gate.wait(timeout=30):
            raise TimeoutError("gate never opened")
        return self.model(batch)


def wait_until_ready(client, timeout_s: float = 60.0) -> None:
    """Poll ``/readyz`` of a TestClient until 200 (the model loads in the background)."""
    deadline = time.monotonic() + timeout_s
    while (r := client.get("/readyz")).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout_s} s: {r.text}")
        time.sleep(0.05)
