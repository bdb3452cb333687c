"""HTTP API: responses match the core pipeline, the documented schema, ops endpoints."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from simplepose.pose.keypoints import COCO17
from simplepose.pose.pipeline import PosePipeline

BOXES = [[10, 5, 60, 100], {"bbox": [70, 10, 50, 100], "score": 0.5}]


def post(client, data: bytes, boxes=None, params=None, content_type="image/png", path="/keypoints"):
    form = (
        {} if boxes is None else {"boxes": boxes if isinstance(boxes, str) else json.dumps(boxes)}
    )
    return client.post(
        path, files={"image": ("x.png", data, content_type)}, data=form, params=params or {}
    )


def test_keypoints_equal_the_core_pipeline(client, tiny_model, png_bytes, image_bgr) -> None:
    r = post(client, png_bytes, BOXES)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image"] == {"width": 160, "height": 120}
    assert body["keypoint_names"] == list(COCO17.names)
    assert body["skeleton"] == [list(limb) for limb in COCO17.skeleton]
    assert set(body["timing_ms"]) == {
        "decode_image",
        "detect",
        "preprocess",
        "inference",
        "postprocess",
        "total",
    }
    assert body["model"]["demo"] is False and body["model"]["flip_fused"] is True

    expected = PosePipeline(tiny_model, decode="dark")(
        image_bgr, np.array([[10, 5, 60, 100], [70, 10, 50, 100]]), np.array([1.0, 0.5])
    )
    assert len(body["persons"]) == 2
    for i, person in enumerate(body["persons"]):
        np.testing.assert_allclose(person["keypoints"], expected.keypoints[i], atol=1e-3)
        np.testing.assert_allclose(person["bbox"], expected.boxes[i])
        assert person["bbox_score"] == pytest.approx(expected.box_scores[i])
        assert person["score"] == pytest.approx(expected.scores[i], abs=1e-6)


def test_without_boxes_the_whole_image_is_one_person(client, png_bytes) -> None:
    body = post(client, png_bytes).json()
    assert [p["bbox"] for p in body["persons"]] == [[0.0, 0.0, 160.0, 120.0]]
    assert len(body["persons"][0]["keypoints"]) == 17


def test_options_decode_threshold_and_nms(client, png_bytes) -> None:
    dark = post(client, png_bytes, BOXES).json()["persons"]
    argmax = post(client, png_bytes, BOXES, {"decode": "argmax"}).json()["persons"]
    # argmax lands on heatmap pixels: coordinates differ from DARK's sub-pixel ones
    assert dark[0]["keypoints"] != argmax[0]["keypoints"]
    cut = max(p["score"] for p in dark) + 1e-6
    assert (
        post(client, png_bytes, BOXES, {"score_threshold": min(cut, 1.0)}).json()["persons"] == []
    )
    same = [[10, 5, 60, 100], [10, 5, 60, 100]]
    assert len(post(client, png_bytes, same, {"nms": "true"}).json()["persons"]) == 1
    bad = post(client, png_bytes, BOXES, {"decode": "magic"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert "decode" in bad.json()["error"]["message"]


def test_render_returns_a_png_of_the_image_size(client, png_bytes) -> None:
    r = post(client, png_bytes, BOXES, path="/keypoints/render")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (120, 160, 3)


def test_health_ready_model_metrics(client, png_bytes) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model"]["device"] == "CPU"
    model = client.get("/v1/model").json()
    assert model["input_size"] == [64, 96] and model["demo"] is False
    card = ready["model"]  # /v1/model names what serves the model, as /readyz does
    for key in ("device", "runtime", "backend", "precision", "batch_sizes"):
        assert model[key] == card[key], key
    assert (model["runtime"], model["precision"]) == ("mindspore", "fp32")
    assert model["keypoint_names"] == list(COCO17.names)
    assert model["skeleton"] == [list(limb) for limb in COCO17.skeleton]
    post(client, png_bytes, BOXES)
    text = client.get("/metrics").text
    assert 'simplepose_requests_total{method="POST",route="/keypoints",status="200"}' in text
    assert 'simplepose_stage_seconds_count{stage="inference"}' in text
    assert "simplepose_batch_size_bucket" in text and "simplepose_queue_depth 0.0" in text


def test_openapi_documents_the_real_schemas(client) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"KeypointsResponse", "Person", "Timing", "ErrorResponse"} <= set(schemas)
    post_op = spec["paths"]["/keypoints"]["post"]
    ok = post_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/KeypointsResponse")
    assert {"400", "413", "415", "422", "429", "503"} <= set(post_op["responses"])
    assert "401" not in post_op["responses"]  # keys are not required on loopback here
    # every guarded operation documents the 429 the access middleware can answer
    for path, operations in spec["paths"].items():
        documented = all("429" in op["responses"] for op in operations.values())
        assert documented == (path not in ("/healthz", "/readyz", "/", "/docs", "/redoc")), path
    assert client.get("/docs").status_code == 200


def test_unknown_route_and_method_are_json_errors(client) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/keypoints")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
