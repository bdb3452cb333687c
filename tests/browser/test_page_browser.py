"""The web page at / in a real headless Chromium, against the real service on 127.0.0.1.

Each test asserts what a person sees (the tables, the canvas pixels, the messages) and saves a
screenshot of the state it reached.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from page_helpers import (
    MAX_UPLOAD_BYTES,
    PageLog,
    drag_box,
    drawing,
    pixels_at,
    rgb,
    screenshot,
    table_person_count,
    unobstructed_keypoints,
    wait_for_result,
)

from simplepose.serving.middleware import MULTIPART_OVERHEAD_BYTES

pytestmark = pytest.mark.slow

COLOUR_TOLERANCE = 4  # per channel, 0-255
IMAGE = "000000183709.jpg"  # coco-mini val2017: four persons with keypoints


@pytest.fixture(scope="module")
def photo(coco_mini: Path) -> Path:
    return coco_mini / "val2017" / IMAGE


@pytest.fixture(scope="module")
def gt_boxes(coco_mini: Path) -> list[list[float]]:
    """Ground-truth boxes of the persons with keypoints in ``IMAGE`` (large enough to drag)."""
    data = json.loads((coco_mini / "annotations" / "person_keypoints_val2017.json").read_text())
    (image_id,) = (im["id"] for im in data["images"] if im["file_name"] == IMAGE)
    return [
        [round(v) for v in a["bbox"]]
        for a in data["annotations"]
        if a["image_id"] == image_id
        and a["num_keypoints"] > 0
        and a["bbox"][2] * a["bbox"][3] > 2000
    ]


def api_answer(service: str, photo: Path, boxes: list | None = None, query: str = "") -> dict:
    form = {"boxes": json.dumps(boxes)} if boxes else None
    with photo.open("rb") as f:
        response = httpx.post(
            f"{service}/keypoints{query}",
            files={"image": (photo.name, f, "image/jpeg")},
            data=form,
            timeout=60,
        )
    assert response.status_code == 200, response.text
    return response.json()


def is_keypoints_post(response) -> bool:
    return response.request.method == "POST" and "/keypoints" in response.url


def assert_drawn_in_person_colours(page, result: dict, threshold: float) -> int:
    """Every unobstructed keypoint at or above ``threshold`` has its person's colour on the canvas;
    returns how many were checked."""
    info = drawing(page)
    assert (info["width"], info["height"]) == (result["image"]["width"], result["image"]["height"])
    points = unobstructed_keypoints(result, threshold, info["base"])
    pixels = pixels_at(page, [(x, y) for _, x, y in points])
    for (person, x, y), pixel in zip(points, pixels, strict=True):
        colour = rgb(info["palette"][person % len(info["palette"])])
        # exact but for Skia's anti-aliasing of small circles (palette colours are far apart)
        assert np.abs(np.subtract(pixel[:3], colour)).max() <= COLOUR_TOLERANCE, (
            f"person {person} keypoint at ({x:.1f}, {y:.1f}): {pixel}, want {colour}"
        )
    return len(points)


def test_upload_draws_every_person_of_the_api_answer(page, service, photo, artefacts) -> None:
    from playwright.sync_api import expect

    model = httpx.get(f"{service}/v1/model", timeout=30).json()
    assert model["demo"] is True
    expect(page.locator("#demo-banner")).to_be_visible()
    expect(page.locator("#demo-banner")).to_contain_text("DEMO MODEL")
    if (model.get("detector") or {}).get("fallback"):
        expect(page.locator("#demo-banner")).to_contain_text("FALLBACK DETECTOR")
    page.set_input_files("#file", str(photo))
    result = wait_for_result(page)
    api = api_answer(service, photo)
    assert table_person_count(page) == len(api["persons"]) == len(result["persons"]) >= 1
    assert page.locator("#person-count").text_content() == str(len(api["persons"]))
    names = page.locator("table.person-table tbody th").all_text_contents()
    assert names[:17] == api["keypoint_names"] and len(api["keypoint_names"]) == 17
    screenshot(page, artefacts, "upload-result")

    # The slider re-draws from the JSON already there: no new request.
    posts = page.log.posts()
    slider = page.locator("#threshold")
    slider.focus()
    page.keyboard.press("End")  # 1.0: every keypoint (scores < 1) hidden
    expect(page.locator("#threshold-value")).to_have_text("1.00")
    info = drawing(page)
    everyone = [(x, y) for p in result["persons"] for x, y, s in p["keypoints"]]
    colours = {rgb(c) for c in info["palette"]}
    hidden = sum(px[:3] in colours for px in pixels_at(page, everyone))  # exact match only
    assert hidden <= len(everyone) // 10, "keypoints still drawn above the threshold"
    page.keyboard.press("Home")  # 0.0: every keypoint drawn
    expect(page.locator("#threshold-value")).to_have_text("0.00")
    assert assert_drawn_in_person_colours(page, result, 0.0) >= len(everyone) // 2
    assert page.log.posts() == posts
    screenshot(page, artefacts, "threshold-zero")


def test_boxes_drawn_by_hand_are_sent(page, service, photo, gt_boxes, artefacts) -> None:
    from playwright.sync_api import expect

    page.set_input_files("#file", str(photo))
    wait_for_result(page)
    page.locator("#draw-boxes").check()
    for n, box in enumerate(gt_boxes, start=1):
        drag_box(page, box)
        expect(page.locator("#person-count")).to_have_text(str(n), timeout=30_000)
    screenshot(page, artefacts, "boxes-result", "#result")
    screenshot(page, artefacts, "person-tables", "section.persons")
    sent = json.loads(page.locator("#boxes").input_value())
    assert len(sent) == len(gt_boxes) >= 3
    for got, want in zip(sent, gt_boxes, strict=True):
        assert np.allclose(got, want, atol=2), (got, want)  # a drag lands within a pixel or two
    result = wait_for_result(page)
    api = api_answer(service, photo, sent)
    assert table_person_count(page) == len(api["persons"]) == len(sent)
    page_kpts = np.array([p["keypoints"] for p in result["persons"]])
    api_kpts = np.array([p["keypoints"] for p in api["persons"]])
    np.testing.assert_allclose(page_kpts, api_kpts, atol=1e-3)
    page.locator("#threshold").focus()
    page.keyboard.press("Home")
    assert assert_drawn_in_person_colours(page, result, 0.0) >= 17 * len(sent) // 2
    # each table's colour swatch is its person's colour on the canvas
    palette = drawing(page)["palette"]
    swatches = page.locator("table.person-table .swatch").evaluate_all(
        "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    expected = [rgb(palette[i % len(palette)]) for i in range(len(sent))]
    assert swatches == ["rgb({}, {}, {})".format(*c) for c in expected]
    screenshot(page, artefacts, "boxes-threshold-zero")


def test_detector_switch_and_decode_option(page, service, photo) -> None:
    """Detector off sends detector=none (the whole image is one person), the decode option goes
    into the query; the page's keypoints equal the API's for the same request."""
    model = httpx.get(f"{service}/v1/model", timeout=30).json()
    detector = (model.get("detector") or {}).get("name", "none")
    page.set_input_files("#file", str(photo))
    wait_for_result(page)
    assert page.locator("#detector-option").is_visible() == (detector != "none")
    if detector != "none":
        with page.expect_response(is_keypoints_post):
            page.locator("#detector").uncheck()
    with page.expect_response(is_keypoints_post):
        page.select_option("#decode", "argmax")
    result = wait_for_result(page)  # "Sending..." until this answer is shown
    assert "decode=argmax" in page.locator("#curl").text_content()
    api = api_answer(service, photo, query="?decode=argmax&detector=none")
    assert len(result["persons"]) == len(api["persons"]) == 1
    w, h = api["image"]["width"], api["image"]["height"]
    assert result["persons"][0]["bbox"] == [0, 0, w, h]
    np.testing.assert_allclose(
        result["persons"][0]["keypoints"], api["persons"][0]["keypoints"], atol=1e-3
    )


def test_json_download_copy_and_curl_agree(page, service, photo, tmp_path) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service)
    page.set_input_files("#file", str(photo))
    result = wait_for_result(page)
    with page.expect_download() as download:
        page.locator("#download-json").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == photo.stem + ".keypoints.json"
    assert json.loads(saved.read_text()) == result
    page.locator("#copy-json").click()
    page.locator("#copied", has_text="JSON copied").wait_for()
    assert json.loads(page.evaluate("async () => navigator.clipboard.readText()")) == result
    # the curl command shown, run as printed next to the image, gives the same persons
    command = page.locator("#curl").text_content()
    assert command.startswith("curl ") and f"{service}/keypoints" in command
    (tmp_path / photo.name).write_bytes(photo.read_bytes())
    out = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    by_curl = json.loads(out.stdout)
    np.testing.assert_allclose(
        [p["keypoints"] for p in by_curl["persons"]],
        [p["keypoints"] for p in result["persons"]],
        atol=1e-3,
    )


def test_oversized_file_shows_the_413_message(page, tmp_path, artefacts) -> None:
    from playwright.sync_api import expect

    noise = np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), noise)
    assert big.stat().st_size > MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    page.set_input_files("#file", str(big))
    error = page.locator("#error")
    expect(error).to_be_visible(timeout=30_000)
    expect(error).to_contain_text("Too large (HTTP 413)")
    expect(error).to_contain_text(
        f"the limit is {MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES} bytes"
    )
    expect(page.locator("#status")).to_have_text("No result.")
    screenshot(page, artefacts, "error-413", "#result")


def test_wrong_file_type_shows_the_415_message(page, tmp_path) -> None:
    from playwright.sync_api import expect

    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    page.set_input_files("#file", str(text))
    expect(page.locator("#error")).to_contain_text(
        "Unsupported file type (HTTP 415)", timeout=30_000
    )


def test_keyboard_only_upload(page, photo) -> None:
    """Tab from the mode buttons reaches the file input, Space opens the file chooser; the result
    is announced in a live region."""
    from playwright.sync_api import expect

    page.locator("#mode-webcam").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("async () => document.activeElement.id") == "file"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(photo))
    expect(page.locator("#status")).to_contain_text("found", timeout=30_000)
    assert page.locator("#status").get_attribute("aria-live") == "polite"


def test_phone_width_has_no_sideways_scroll(browser_context, service, photo, artefacts) -> None:
    tab = browser_context.new_page()
    log = PageLog(tab)
    tab.set_viewport_size({"width": 375, "height": 740})
    tab.goto(service + "/")
    tab.locator("#model-card dt", has_text="name").wait_for(timeout=30_000)
    tab.set_input_files("#file", str(photo))
    wait_for_result(tab)
    widths = tab.evaluate(
        "async () => [document.documentElement.scrollWidth, window.innerWidth,"
        " document.getElementById('canvas').getBoundingClientRect().right]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[1], widths
    # one column: the page brought the answer, far below the inputs, into view
    top = tab.evaluate("async () => document.getElementById('result').getBoundingClientRect().top")
    assert -1 <= top < 740 * 0.6, top
    screenshot(tab, artefacts, "phone-result", full_page=False)
    screenshot(tab, artefacts, "phone-width")
    tab.close()
    assert log.errors == []


DROP_AND_PASTE = """async ([b64, name, how]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/jpeg" }));
  if (how === "drop") {
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
  } else {
    document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
  }
}"""


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_dropped_and_pasted_images_are_sent(page, service, photo, how: str) -> None:
    import base64

    with page.expect_response(is_keypoints_post):
        page.evaluate(
            DROP_AND_PASTE, [base64.b64encode(photo.read_bytes()).decode(), photo.name, how]
        )
    result = wait_for_result(page)
    assert (
        table_person_count(page)
        == len(result["persons"])
        == len(api_answer(service, photo)["persons"])
    )
    assert (result["image"]["width"], result["image"]["height"]) == (
        drawing(page)["width"],
        drawing(page)["height"],
    )
