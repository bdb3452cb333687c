import numpy as np
import pytest

from simplepose.pose.keypoints import COCO17
from simplepose.pose.persons import oks_matrix, oks_nms, rescore, scale_areas

SIGMAS = COCO17.sigma_array()


def test_rescore_hand_example():
    maxvals = np.array([[0.9, 0.1, 0.5, 0.2], [0.1, 0.2, 0.0, 0.05]])
    scores = rescore(maxvals, np.array([0.8, 1.0]), in_vis_thre=0.2)
    # person 0: mean(0.9, 0.5) = 0.7 (0.2 is not above 0.2); person 1: no joint above -> 0
    np.testing.assert_allclose(scores, [0.8 * 0.7, 0.0])
    assert rescore(np.zeros((0, 17)), np.zeros(0), 0.2).shape == (0,)


def test_oks_of_identical_poses_is_one_and_falls_with_distance():
    rng = np.random.default_rng(0)
    pose = rng.uniform(0, 200, (17, 2))
    kps = np.stack([pose, pose, pose + 40.0])
    oks = oks_matrix(kps, np.full(3, 200.0 * 200.0), SIGMAS)
    assert oks[0, 1] == pytest.approx(1.0)
    assert oks[0, 2] < 0.9
    np.testing.assert_allclose(oks, oks.T)


def test_oks_hand_computed_single_joint_shift():
    kps = np.zeros((2, 17, 2))
    kps[1, 0] = (3.0, 4.0)  # nose moved 5 px
    area = 10000.0
    expected_nose = np.exp(-25.0 / (2 * SIGMAS[0]) ** 2 / area / 2)
    oks = oks_matrix(kps, np.full(2, area), SIGMAS)
    assert oks[0, 1] == pytest.approx((16 + expected_nose) / 17)


def test_oks_nms_suppresses_duplicates_keeps_distinct():
    rng = np.random.default_rng(1)
    pose = rng.uniform(0, 100, (17, 2))
    kps = np.stack([pose, pose + 0.5, pose + 300.0])
    keep = oks_nms(kps, np.array([0.5, 0.9, 0.7]), np.full(3, 150.0 * 200.0), 0.9, SIGMAS)
    np.testing.assert_array_equal(keep, [1, 2])  # 0 duplicates the better-scored 1
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0), 0.9, SIGMAS).shape == (0,)


def test_scale_areas_in_pixels():
    np.testing.assert_allclose(scale_areas(np.array([[1.0, 2.0]])), [200.0 * 400.0])
