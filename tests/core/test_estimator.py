"""The public Python API: what it accepts, what it returns, and what it refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from simplepose.pose.geometry import BoxError
from simplepose.pose.keypoints import COCO17

IMAGE_W, IMAGE_H = 160, 120


@pytest.fixture(scope="module")
def estimator(tiny_checkpoint: Path):
    from simplepose import PoseEstimator

    return PoseEstimator(tiny_checkpoint, device="CPU", detector="none")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (IMAGE_H, IMAGE_W, 3), dtype=np.uint8)


def test_import_simplepose_stays_light() -> None:
    """``import simplepose`` (every CLI start) loads neither OpenCV nor MindSpore; the API
    is loaded on first use, MindSpore only when a model is."""
    code = (
        "import sys, simplepose; heavy = {'cv2', 'mindspore'} & set(sys.modules); "
        "assert not heavy, heavy; from simplepose import PoseEstimator, Poses; "
        "assert PoseEstimator.__module__ == 'simplepose.estimator'; "
        "assert 'mindspore' not in sys.modules  # until a model is loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_detector_finds_the_persons_when_no_boxes_are_given(
    tiny_checkpoint, image, tmp_path
) -> None:
    from simplepose import PoseEstimator
    from simplepose.detection.base import (
        Detections,
        DetectorInfo,
        LoopingDetector,
        WholeImageDetector,
    )
    from simplepose.detection.hog import HogDetector
    from simplepose.detection.load import DEFAULT_DETECTOR

    class TwoPersons(LoopingDetector):
        info = DetectorInfo(name="two", label="two fixed boxes")

        def detect(self, image_bgr: np.ndarray) -> Detections:
            return Detections(np.array([[5, 5, 40, 80], [90, 10, 50, 100]]), [0.8, 0.7], "two")

    assert DEFAULT_DETECTOR == "auto"  # the service's default
    # offline with an empty cache the default is the whole image, labelled as a fallback
    default = PoseEstimator(tiny_checkpoint, device="CPU", offline=True, cache_dir=tmp_path)
    assert isinstance(default.detector, WholeImageDetector) and default.detector.info.fallback
    assert "FALLBACK" in default.detector.info.label
    assert "weights get rtmdet-nano-person" in default.detector.info.label
    assert isinstance(PoseEstimator(tiny_checkpoint, device="CPU", detector="hog").detector,
                      HogDetector)  # fmt: skip
    poses = PoseEstimator(tiny_checkpoint, device="CPU", detector=TwoPersons())(image)
    assert sorted(poses.box_scores) == [0.7, 0.8]
    np.testing.assert_allclose(sorted(poses.boxes[:, 0]), [5, 90])


def test_whole_image_person_in_image_pixels(estimator, image) -> None:
    poses = estimator(image)
    assert len(poses) == 1
    assert poses.keypoints.shape == (1, 17, 2) and poses.keypoints.dtype == np.float64
    assert poses.keypoint_scores.shape == (1, 17) and poses.scores.shape == (1,)
    np.testing.assert_allclose(poses.boxes, [[0, 0, IMAGE_W, IMAGE_H]])
    assert poses.keypoint_names == COCO17.names and poses.track_ids is None
    xy = poses.keypoints[0]
    assert xy[:, 0].min() >= 0 and xy[:, 0].max() <= IMAGE_W - 1  # clipped to the image
    assert xy[:, 1].min() >= 0 and xy[:, 1].max() <= IMAGE_H - 1
    person = poses[0]
    assert person.track_id is None and person.box_score == 1.0
    np.testing.assert_array_equal(person.keypoints, xy)
    np.testing.assert_array_equal(poses.with_scores()[0, :, 2], person.keypoint_scores)


def test_boxes_scores_paths_and_gray_images(estimator, image, tmp_path) -> None:
    boxes = [[10, 10, 60, 100], [80, 5, 70, 110]]
    poses = estimator(image, boxes=boxes, box_scores=[0.5, 0.9])
    assert len(poses) == 2 and list(poses.scores) == sorted(poses.scores, reverse=True)
    assert sorted(p.box_score for p in poses) == [0.5, 0.9]
    one = estimator(image, boxes=[10, 10, 60, 100])  # a single box as a flat list
    assert len(one) == 1
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), image)
    from_path = estimator(path, boxes=boxes, box_scores=[0.5, 0.9])
    np.testing.assert_array_equal(from_path.keypoints, poses.keypoints)  # PNG is lossless
    gray = estimator(image[:, :, 0])
    assert gray.keypoints.shape == (1, 17, 2)
    assert len(estimator(image, boxes=[])) == 0  # no persons: an empty result, not an error


def test_render_draws_on_a_copy(estimator, image) -> None:
    poses = estimator(image, boxes=[[10, 10, 60, 100]])
    canvas = estimator.render(image, poses)
    assert canvas.shape == image.shape and canvas.dtype == np.uint8
    assert not np.array_equal(canvas, image)  # the box at least is drawn
    assert np.array_equal(estimator(image, boxes=[[10, 10, 60, 100]]).keypoints, poses.keypoints)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (np.zeros((10, 10, 3), np.float32), ValueError, "uint8"),
        (np.zeros((10, 10, 4), np.uint8), ValueError, r"\(H, W, 3\)"),
        (np.zeros((0, 10, 3), np.uint8), ValueError, "empty"),
        ([[1, 2, 3]], TypeError, "NumPy array or a file path"),
        ("/nonexistent/photo.jpg", ValueError, "cannot read image"),
    ],
)
def test_bad_images_are_refused(estimator, bad, error, match) -> None:
    with pytest.raises(error, match=match):
        estimator(bad)


@pytest.mark.parametrize(
    ("boxes", "error", "match"),
    [
        ([[1, 2, 3]], ValueError, r"shape \(N, 4\)"),
        ([["a", 1, 2, 3]], ValueError, "numbers"),
        ([[float("nan"), 0, 10, 10]], BoxError, "box 0: values must be finite"),
        ([[0, 0, 10, 10], [500, 500, 10, 10]], BoxError, "box 1: lies outside"),
        ([[0, 0, -5, 10]], BoxError, "positive"),
    ],
)
def test_bad_boxes_are_refused(estimator, image, boxes, error, match) -> None:
    with pytest.raises(error, match=match):
        estimator(image, boxes=boxes)


def test_bad_models_are_refused(tmp_path) -> None:
    from simplepose import PoseEstimator

    with pytest.raises(FileNotFoundError, match="not found"):
        PoseEstimator(tmp_path / "missing.ckpt", device="CPU")
    with pytest.raises(FileNotFoundError, match="model.json"):
        PoseEstimator(tmp_path, device="CPU")  # a directory that is not a model
    with pytest.raises(ValueError, match="decode"):
        PoseEstimator(tmp_path / "x.ckpt", device="CPU", decode="best")
