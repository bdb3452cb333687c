"""A model's own ``config.test`` sets the inference parameters of every stage.

The same weights are saved twice, once with the preset's test settings and once with others
(decode, flip, in_vis_thre, oks_thre). The service, ``simplepose predict`` and ``evaluate`` must
all produce what the pipeline produces with the second checkpoint's values given explicitly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from serving_helpers import encode, make_test_settings, synthetic_bgr

from simplepose.config.presets import Config
from simplepose.pose.pipeline import Persons, PosePipeline

# The second box repeats the first: identical keypoints, OKS exactly 1. OKS NMS at the preset's
# 0.9 removes it; at 1.0 it stays.
BOXES = [[10, 5, 60, 100], [10, 5, 60, 100], [70, 10, 50, 100]]
CHANGED = {"decode": "argmax", "flip_test": False, "in_vis_thre": 0.0, "oks_thre": 1.0}
TOLERANCE = 1e-3  # evaluate's results file rounds to 1e-3
pytestmark = pytest.mark.slow  # exports the model twice, runs service, predict and evaluate


@pytest.fixture(scope="module")
def changed_checkpoint(tiny_checkpoint: Path, tiny_config: Config, tmp_path_factory) -> Path:
    from simplepose.network.checkpoint import build_network, save_pose_checkpoint

    net, _, _ = build_network(tiny_checkpoint)
    config = dataclasses.replace(tiny_config, test=dataclasses.replace(tiny_config.test, **CHANGED))
    path = tmp_path_factory.mktemp("changed") / "changed.ckpt"
    return save_pose_checkpoint(net, path, config)


@pytest.fixture(scope="module")
def changed_model(changed_checkpoint: Path, tiny_model):  # tiny_model selects the device
    from simplepose.runtime.model_loader import load_model

    return load_model(changed_checkpoint)


@pytest.fixture(scope="module")
def reference_model(changed_checkpoint: Path, tiny_model):
    from simplepose.runtime.model_loader import load_model

    return load_model(changed_checkpoint, flip=False)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_bgr()


@pytest.fixture(scope="module")
def expected(reference_model, tiny_model, image) -> Persons:
    """The pipeline with the changed values passed explicitly; differs from the defaults."""
    want = PosePipeline(
        reference_model, decode="argmax", flip=False, in_vis_thre=0.0, oks_thre=1.0
    )(image, np.array(BOXES, float), nms=True)
    default = PosePipeline(tiny_model)(image, np.array(BOXES, float), nms=True)
    assert len(want) == 3 and len(default) == 2  # oks_thre
    assert not np.allclose(want.scores, default.scores[[0, 0, 1]])  # in_vis_thre
    return want


def _assert_same(keypoints: np.ndarray, scores: np.ndarray, want: Persons) -> None:
    order = np.lexsort((keypoints[:, 0, 0], -scores))  # exact ties: the duplicated box
    np.testing.assert_allclose(keypoints[order][:, :, :2], want.keypoints[:, :, :2], atol=TOLERANCE)
    np.testing.assert_allclose(scores[order], want.scores, atol=TOLERANCE)


def test_pipeline_defaults_are_the_models_config(changed_model, image, expected) -> None:
    pipeline = PosePipeline(changed_model)
    assert (pipeline.decode, pipeline.flip, pipeline.in_vis_thre, pipeline.oks_thre) == (
        "argmax", False, 0.0, 1.0,
    )  # fmt: skip
    assert not changed_model.info.flip_fused  # a checkpoint loads with its config's flip_test
    got = pipeline(image, np.array(BOXES, float), nms=True)
    _assert_same(got.keypoints, got.scores, expected)


def test_service_follows_the_models_config(changed_model, image, expected) -> None:
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    with TestClient(create_app(make_test_settings(), model=changed_model, device="CPU")) as c:
        response = c.post(
            "/keypoints",
            files={"image": ("a.png", encode(image, ".png"), "image/png")},
            data={"boxes": json.dumps(BOXES)},
            params={"nms": "true"},
        )
    assert response.status_code == 200, response.text
    persons = response.json()["persons"]
    _assert_same(
        np.array([p["keypoints"] for p in persons]), np.array([p["score"] for p in persons]),
        expected,
    )  # fmt: skip


def test_predict_follows_the_models_config(changed_checkpoint, image, expected, tmp_path) -> None:
    from simplepose.cli import main

    (tmp_path / "a.png").write_bytes(encode(image, ".png"))
    (tmp_path / "boxes.json").write_text(json.dumps({"a.png": BOXES}))
    out = tmp_path / "result.json"
    code = main(
        ["predict", str(tmp_path / "a.png"), "--model", str(changed_checkpoint), "--nms",
         "--boxes", str(tmp_path / "boxes.json"), "--output", str(out)]
    )  # fmt: skip
    assert code == 0
    persons = json.loads(out.read_text())["images"][0]["persons"]
    _assert_same(
        np.array([p["keypoints"] for p in persons]), np.array([p["score"] for p in persons]),
        expected,
    )  # fmt: skip


def test_evaluate_follows_the_models_config(changed_checkpoint, image, expected, tmp_path) -> None:
    from simplepose.training.evaluate import evaluate

    (tmp_path / "val").mkdir()
    cv2.imwrite(str(tmp_path / "val" / "a.png"), image)
    h, w = image.shape[:2]
    annotations = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": box,
         "area": box[2] * box[3], "num_keypoints": 1, "keypoints": [box[0] + 5, box[1] + 5, 2]
         + [0] * 48}
        for i, box in enumerate(BOXES)
    ]  # fmt: skip
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "person_keypoints_val.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": w, "height": h}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }))  # fmt: skip
    result = evaluate(changed_checkpoint, tmp_path, "val", boxes="gt")
    kps = np.array([r["keypoints"] for r in result.results]).reshape(-1, 17, 3)
    _assert_same(kps, np.array([r["score"] for r in result.results]), expected)
