"""Each kind of bad input gets its status and a JSON error; the next good request works."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from serving_helpers import GatedModel, encode, make_test_settings, synthetic_bgr

GOOD_BOXES = "[[10, 5, 60, 100]]"


def _post(client, data: bytes, content_type: str = "image/png", boxes: str | None = GOOD_BOXES):
    form = {} if boxes is None else {"boxes": boxes}
    return client.post("/keypoints", files={"image": ("f", data, content_type)}, data=form)


def _check_error_then_good(client, response, status: int, code: str, good: bytes) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    after = _post(client, good)
    assert after.status_code == 200, after.text
    return error


CASES = {
    "not_an_image": (b"this is plain text, not pixels", "image/png", None, 400, "invalid_image"),
    "empty": (b"", "image/jpeg", None, 400, "empty_image"),
    "wrong_content_type": (b"%PDF-1.4", "application/pdf", None, 415, "unsupported_media_type"),
    "out_of_image_box": (None, "image/png", "[[500, 500, 20, 20]]", 422, "invalid_boxes"),
    "degenerate_box": (None, "image/png", "[[10, 10, 0.5, 40]]", 422, "invalid_boxes"),
    "negative_box": (None, "image/png", "[[10, 10, -5, 40]]", 422, "invalid_boxes"),
    "malformed_boxes": (None, "image/png", "[[1, 2, 3]]", 422, "invalid_boxes"),
    "boxes_not_json": (None, "image/png", "[[1, 2", 422, "invalid_boxes"),
    "too_many_boxes": (None, "image/png", json.dumps([[0, 0, 9, 9]] * 5), 422, "too_many_boxes"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(client, png_bytes, case: str) -> None:
    data, ctype, boxes, status, code = CASES[case]
    response = _post(client, png_bytes if data is None else data, ctype, boxes)
    error = _check_error_then_good(client, response, status, code, png_bytes)
    if case == "out_of_image_box":
        assert error["message"] == "box 0: lies outside the 160x120 image"
    if case == "degenerate_box":
        assert error["message"].startswith("box 0: is degenerate")


def test_truncated_jpeg(client, jpeg_bytes, png_bytes) -> None:
    r = _post(client, jpeg_bytes[: len(jpeg_bytes) * 9 // 10], "image/jpeg")
    _check_error_then_good(client, r, 400, "invalid_image", png_bytes)


def test_corrupt_png(client, png_bytes) -> None:
    data = bytearray(png_bytes)
    data[100:400] = bytes(300)  # zero out part of the compressed stream
    r = _post(client, bytes(data), "image/png")
    _check_error_then_good(client, r, 400, "invalid_image", png_bytes)


def test_upload_over_the_limit(client, png_bytes) -> None:
    big = encode(synthetic_bgr(400, 300, seed=3), ".bmp")  # 360 KB, limit is 200 KB
    _check_error_then_good(
        client, _post(client, big, "image/bmp"), 413, "upload_too_large", png_bytes
    )


def test_upload_over_the_limit_is_refused_from_content_length(client, png_bytes) -> None:
    body = b"x" * 400_000
    r = client.post(
        "/keypoints", content=body, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    _check_error_then_good(client, r, 413, "upload_too_large", png_bytes)


def test_pixel_count_over_the_limit(client, png_bytes) -> None:
    flat = np.zeros((1000, 1200, 3), np.uint8)
    big = encode(flat, ".png")  # 1.2 M pixels > 1 M limit, but a small file
    assert len(big) < 200_000
    r = _post(client, big, "image/png", None)
    _check_error_then_good(client, r, 413, "too_many_pixels", png_bytes)


def test_queue_full_is_503_with_retry_after(tiny_model, png_bytes) -> None:
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    gated = GatedModel(tiny_model)
    gated.gate.set()  # let the warm-up through
    settings = make_test_settings(max_batch=1, queue_size=1, max_wait_ms=0.0, retry_after_s=3)
    app = create_app(settings, model=gated, device="CPU")
    with TestClient(app) as client:
        gated.gate.clear()
        gated.entered.clear()
        results: dict[str, int] = {}
        first = threading.Thread(
            target=lambda: results.update(a=_post(client, png_bytes).status_code)
        )
        first.start()
        assert gated.entered.wait(10)  # request A is inside the model, blocked
        second = threading.Thread(
            target=lambda: results.update(b=_post(client, png_bytes).status_code)
        )
        second.start()
        executor = app.state.predictor.executor
        deadline = time.monotonic() + 10
        while executor.queue_depth < 1 and time.monotonic() < deadline:  # request B queued
            time.sleep(0.005)
        r = _post(client, png_bytes)
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
        assert r.json()["error"]["code"] == "queue_full"
        gated.gate.set()
        first.join(10)
        second.join(10)
        assert results == {"a": 200, "b": 200}
        assert _post(client, png_bytes).status_code == 200
        metrics = client.get("/metrics").text
        assert 'route="/keypoints",status="503"' in metrics


def test_chunked_upload_over_the_limit_is_cut_off(client, png_bytes) -> None:
    def body():
        for _ in range(4):
            yield b"x" * 100_000  # no Content-Length: the middleware counts the bytes

    r = client.post(
        "/keypoints", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    _check_error_then_good(client, r, 413, "upload_too_large", png_bytes)
