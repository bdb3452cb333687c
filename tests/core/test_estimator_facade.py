"""``PoseEstimator`` as the one inference facade: runtime options as the service, lists and folders
in one batched call, tracking with ids, and the JSON / COCO / drawn forms of its results."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="module")
def estimator(tiny_onnx_dir):
    from simplepose import PoseEstimator

    return PoseEstimator(tiny_onnx_dir, device="CPU", backend="onnxruntime", threads=1,
                         detector="none")  # fmt: skip


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (80 + 8 * i, 60 + 4 * i, 3), dtype=np.uint8) for i in range(3)]


def test_runtime_options_reach_the_model(estimator) -> None:
    assert estimator.model.backend == "onnxruntime" and estimator.model.threads.intra_op == 1
    assert estimator.source.origin == "path" and estimator.device == "CPU"


def test_a_list_and_a_folder_equal_one_call_per_image(estimator, images, tmp_path) -> None:
    calls = []
    model_call = estimator.model._run
    estimator.model._run = lambda batch, slot=0: calls.append(len(batch)) or model_call(batch, slot)
    try:
        together = estimator(images)
    finally:
        del estimator.model._run
    assert len(calls) == 2  # 3 crops over the buckets (1, 2): one batch, split by size
    for image, poses in zip(images, together, strict=True):
        alone = estimator(image)
        np.testing.assert_allclose(poses.keypoints, alone.keypoints, atol=1e-4)
        assert poses.image_size == (image.shape[1], image.shape[0])
    for i, image in enumerate(images):
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
    (tmp_path / "notes.txt").write_text("not an image")
    from_folder = estimator(tmp_path)
    assert [p.source for p in from_folder] == [str(tmp_path / f"{i}.png") for i in range(3)]
    np.testing.assert_allclose(from_folder[1].keypoints, together[1].keypoints, atol=1e-4)
    with pytest.raises(ValueError, match="boxes are per image"):
        estimator(images, boxes=[[0, 0, 10, 10]])


def test_results_as_json_coco_and_drawing(estimator, images, tmp_path) -> None:
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), images[0])
    poses = estimator(str(path), boxes=[[2, 3, 30, 40], [10, 10, 40, 60]], box_scores=[0.9, 0.5])
    persons = json.loads(json.dumps(poses.to_json()))
    assert [sorted(p) for p in persons] == [["bbox", "bbox_score", "keypoints", "score"]] * 2
    assert np.array(persons[0]["keypoints"]).shape == (17, 3)
    coco = poses.to_coco(image_id=42)
    assert {r["image_id"] for r in coco} == {42} and len(coco[0]["keypoints"]) == 17 * 3
    assert coco[0]["score"] == pytest.approx(persons[0]["score"])
    assert [r["category_id"] for r in coco] == [1, 1]  # COCO's person
    # a dataset file's own category keeps its id, so loadRes matches the user's annotations
    assert [r["category_id"] for r in poses.to_coco(image_id=42, category_id=7)] == [7, 7]
    np.testing.assert_allclose([r["bbox"] for r in coco], poses.boxes, atol=1e-3)
    drawn = poses.plot()  # from its source file
    assert drawn.shape == images[0].shape and not np.array_equal(drawn, images[0])
    with pytest.raises(ValueError, match="needs the image"):
        estimator(images[0]).plot()


def test_track_fills_track_ids_across_frames(estimator, images) -> None:
    frame = images[0]
    frames = [np.roll(frame, shift, axis=1) for shift in range(0, 8, 2)]
    tracked = list(estimator.track(frames, detect_every=1, fps=10))
    assert len(tracked) == len(frames)
    ids = [p.track_ids for p in tracked]
    assert all(i is not None and len(i) >= 1 for i in ids)
    assert len({int(i[0]) for i in ids}) == 1  # the whole-image person keeps its id
    assert tracked[0].to_json()[0]["track_id"] == int(ids[0][0])
    assert estimator(frame).track_ids is None  # single images are not tracked
