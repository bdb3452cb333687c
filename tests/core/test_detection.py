"""The detection contract every consumer relies on (service, CLI, tracker, Python API)."""

import numpy as np
import pytest

from simplepose.detection import Detections, WholeImageDetector


def test_whole_image_detector_gives_the_image_box_with_score_one():
    image = np.zeros((40, 30, 3), np.uint8)
    found = WholeImageDetector().detect(image)
    np.testing.assert_array_equal(found.boxes, [[0.0, 0.0, 30.0, 40.0]])
    np.testing.assert_array_equal(found.scores, [1.0])
    assert found.image_size == (30, 40)
    assert found.detector == WholeImageDetector.info.label
    assert WholeImageDetector.info.name == "none"
    assert [len(d) for d in WholeImageDetector().detect_batch([image, image])] == [1, 1]


def test_detections_normalise_shapes_and_allow_none():
    empty = Detections(np.zeros((0, 4)), np.zeros(0), "x")
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and empty.boxes.dtype == np.float64
    one = Detections([1, 2, 3, 4], [0.5], "x")
    assert one.boxes.shape == (1, 4)


def test_detections_reject_mismatched_scores():
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        Detections(np.zeros((2, 4)), np.zeros(1), "x")
