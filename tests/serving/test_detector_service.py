"""The service with a person detector in the loop: requests without boxes get one person per
detected box (image pixels), client boxes bypass the detector, ``detector=none`` keeps the whole
image, nobody found is ``"persons": []``, and every response says which detector was used."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (dev extra: missing is an error, not a skip)
import pytest
from serving_helpers import encode, make_test_settings, synthetic_bgr

from simplepose.detection import Detections, PersonDetector
from simplepose.detection.hog import HOG_LABEL
from simplepose.detection.onnx_end2end import OnnxEnd2EndDetector
from tests.detection_graph import graph_finding

MULTI_PERSON = "000000217285.jpg"  # coco-mini val2017: 13 people


class Counting:
    """A detector wrapper that counts the images it was asked about."""

    def __init__(self, inner: PersonDetector):
        self.inner, self.info, self.images = inner, inner.info, 0

    def detect(self, image_bgr: np.ndarray) -> Detections:
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        self.images += len(images_bgr)
        return self.inner.detect_batch(images_bgr)


@pytest.fixture(scope="module")
def people(coco_mini: Path) -> tuple[bytes, np.ndarray]:
    """The JPEG bytes of a multi-person coco-mini image and three of its ground-truth boxes."""
    data = json.loads((coco_mini / "annotations" / "person_keypoints_val2017.json").read_text())
    (image,) = [i for i in data["images"] if i["file_name"] == MULTI_PERSON]
    boxes = [a["bbox"] for a in data["annotations"] if a["image_id"] == image["id"]][:3]
    return (coco_mini / "val2017" / MULTI_PERSON).read_bytes(), np.array(boxes)


@pytest.fixture(scope="module")
def detector(people, tmp_path_factory: pytest.TempPathFactory) -> Counting:
    """A stand-in end2end graph (the real format) that finds the three people."""
    graph = graph_finding(
        tmp_path_factory.mktemp("standin") / "end2end.onnx", people[1], (640, 427), (320, 320)
    )
    return Counting(OnnxEnd2EndDetector(graph, "standin", device="CPU"))


@pytest.fixture(scope="module")
def client(tiny_model, detector: Counting) -> Iterator:
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    app = create_app(make_test_settings(), model=tiny_model, device="CPU", detector=detector)
    with TestClient(app) as c:
        yield c


def _post(client, data: bytes, boxes=None, **params):
    form = {} if boxes is None else {"boxes": json.dumps(boxes)}
    r = client.post("/keypoints", files={"image": ("x.jpg", data, "image/jpeg")}, data=form,
                    params=params)  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def test_without_boxes_one_person_per_detected_box_in_image_pixels(client, people) -> None:
    data, truth = people
    body = _post(client, data)
    assert body["detector"] == {"name": "standin", "label": "standin (onnxruntime CPU)",
                                "fallback": False, "score_threshold": 0.3, "nms_iou": 0.65,
                                "max_persons": 100}  # fmt: skip
    boxes = np.array(sorted(p["bbox"] for p in body["persons"]))
    np.testing.assert_allclose(boxes, np.array(sorted(truth.tolist())), atol=0.05)
    assert all(0.3 < p["bbox_score"] <= 1.0 for p in body["persons"])
    for p in body["persons"]:  # keypoints come back in image pixels, near their own box
        x, y, w, h = p["bbox"]
        kp = np.array(p["keypoints"])
        assert (kp[:, 0] > x - w).all() and (kp[:, 0] < x + 2 * w).all()
        assert (kp[:, 1] > y - h).all() and (kp[:, 1] < y + 2 * h).all()
    assert body["timing_ms"]["detect"] > 0


def test_client_boxes_bypass_the_detector(client, people, detector: Counting) -> None:
    before = detector.images
    body = _post(client, people[0], [[10, 20, 100, 200]])
    assert detector.images == before
    assert [p["bbox"] for p in body["persons"]] == [[10.0, 20.0, 100.0, 200.0]]
    assert body["detector"]["name"] == "client"


def test_detector_none_gives_the_whole_image_box(client, people, detector: Counting) -> None:
    before = detector.images
    body = _post(client, people[0], detector="none")
    assert detector.images == before
    assert [p["bbox"] for p in body["persons"]] == [[0.0, 0.0, 640.0, 427.0]]
    assert body["detector"]["name"] == "none"


def test_nobody_found_is_an_empty_list_not_an_error(client) -> None:
    body = _post(client, encode(np.zeros((90, 120, 3), np.uint8), ".jpg"))
    assert body["persons"] == [] and body["detector"]["name"] == "standin"


def test_unknown_detector_is_a_422(client, people) -> None:
    r = client.post("/keypoints", files={"image": ("x.jpg", people[0], "image/jpeg")},
                    params={"detector": "../../etc/passwd"})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_detector"


def test_model_endpoint_and_metrics_report_the_detector(client) -> None:
    assert client.get("/v1/model").json()["detector"]["label"] == "standin (onnxruntime CPU)"
    metrics = client.get("/metrics").text
    assert 'simplepose_stage_seconds_count{stage="detect"}' in metrics
    assert "simplepose_detector_call_seconds_count" in metrics


def test_hog_default_is_labelled_low_accuracy_everywhere(tiny_model, caplog) -> None:
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    settings = make_test_settings(detector="hog")
    with caplog.at_level("WARNING"), TestClient(create_app(settings, model=tiny_model,
                                                           device="CPU")) as c:  # fmt: skip
        assert c.get("/v1/model").json()["detector"] == {
            "name": "hog", "label": HOG_LABEL, "fallback": True, "score_threshold": 0.5,
            "nms_iou": 0.5, "max_persons": 100}  # fmt: skip
        body = _post(c, encode(synthetic_bgr(), ".jpg"))
        assert body["detector"]["label"] == "hog (low-accuracy fallback)"
    assert any("PERSON DETECTOR: hog (low-accuracy fallback)" in r.message for r in caplog.records)


def test_unavailable_default_is_the_labelled_fallback_everywhere(tiny_model, tmp_path, caplog):
    """``auto`` offline with an empty cache: the whole image is one person, and the start-up
    log, ``/v1/model`` and every response say so and why."""
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    settings = make_test_settings(detector="auto", offline=True, cache_dir=tmp_path)
    with caplog.at_level("INFO"), TestClient(create_app(settings, model=tiny_model,
                                                        device="CPU")) as c:  # fmt: skip
        summary = c.get("/v1/model").json()["detector"]
        assert summary["name"] == "none" and summary["fallback"]
        assert summary["label"].startswith("none (whole image is one person): FALLBACK")
        assert "rtmdet-nano-person" in summary["label"] and "offline" in summary["label"]
        body = _post(c, encode(synthetic_bgr(), ".jpg"))
        assert body["detector"] == summary and len(body["persons"]) == 1
        assert _post(c, encode(synthetic_bgr(), ".jpg"), detector="none")["detector"] == summary
    messages = [r.message for r in caplog.records]
    assert any(m.startswith("person detector: none (whole image") for m in messages)
    assert any("*** PERSON DETECTOR: none" in m and "FALLBACK" in m for m in messages)
