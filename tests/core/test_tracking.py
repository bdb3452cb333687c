"""Tracker: matching, flow propagation, track lifetime, box merging and one-euro smoothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from simplepose.config.loading import load_config
from simplepose.config.presets import TrackConfig
from simplepose.pose.keypoints import COCO17
from simplepose.pose.pipeline import Persons
from simplepose.video.smoothing import OneEuroFilter
from simplepose.video.tracker import PoseTracker, box_iou, greedy_match, keypoint_boxes, merge_boxes

SIGMAS = COCO17.sigma_array()

K = 17


def texture(width: int = 480, height: int = 320, seed: int = 0) -> np.ndarray:
    """Noise summed over several scales (like a natural image's spectrum): trackable texture."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float64)
    for cell in (4, 8, 16, 32, 64, 128):
        noise = rng.uniform(0, 1, (height // cell + 1, width // cell + 1, 3))
        out += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(out / 6 * 255, 0, 255).astype(np.uint8)


def pose(cx: float, cy: float, size: float = 60.0, seed: int = 0) -> np.ndarray:
    """A (K, 3) pose: joints spread around (cx, cy), all visible."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.5, 0.5, (K, 2)) * [size * 0.5, size] + [cx, cy]
    return np.concatenate([xy, np.ones((K, 1))], axis=1)


def persons(poses: list[np.ndarray]) -> Persons:
    kp = np.stack(poses) if poses else np.zeros((0, K, 3))
    boxes = keypoint_boxes(kp, 0.2, 1, 0.2) if len(kp) else np.zeros((0, 4))
    n = len(kp)
    return Persons(kp, np.ones(n), boxes, np.ones(n), np.zeros((n, 2)), np.ones((n, 2)))


def shifted(image: np.ndarray, dx: float) -> np.ndarray:
    """The scene moved right by dx pixels (a camera panning left)."""
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def test_box_helpers() -> None:
    a = np.array([[0, 0, 10, 10], [5, 5, 10, 10]])
    iou = box_iou(a, a)
    np.testing.assert_allclose(np.diag(iou), 1.0)
    assert iou[0, 1] == pytest.approx(25 / 175)
    assert greedy_match(np.array([[0.9, 0.8], [0.85, 0.1]]), 0.3) == [(0, 0)]
    assert greedy_match(np.array([[0.9, 0.8], [0.85, 0.1]]), 0.05) == [(0, 0), (1, 1)]
    # detections rank first; a flow box overlapping one (IoU > 0.5) is dropped, others kept
    kept = merge_boxes(a[:1], np.array([[1, 1, 10, 10], [100, 100, 5, 5]]), 0.5)
    assert kept.tolist() == [1]
    kp = pose(100, 100)[None]
    kp[0, 3:, 2] = 0.0  # only 3 joints visible
    assert np.isnan(keypoint_boxes(kp, 0.2, 4, 0.0)).all()
    box = keypoint_boxes(kp, 0.2, 3, 0.5)[0]
    lo, hi = kp[0, :3, :2].min(0), kp[0, :3, :2].max(0)
    np.testing.assert_allclose(box[2:], (hi - lo) * 1.5)


def test_ids_stay_with_persons_through_a_pan_and_crossing_order() -> None:
    """Two persons 70 px apart, scene panning 40 px per frame (8 % of the width): ids never
    swap, and the flow moves last frame's keypoints onto the new positions."""
    tracker = PoseTracker(TrackConfig(), sigmas=SIGMAS)
    scene = texture()
    truth = [pose(150, 160, seed=1), pose(220, 160, seed=2)]
    ids_seen = []
    for t in range(6):
        dx = 40.0 * t
        frame = shifted(scene, dx)
        boxes, _ = tracker.advance(frame)
        now = [p + [dx, 0, 0] for p in truth]
        if t > 0:
            assert len(boxes) == 2
            moved = np.stack([tr.predicted for tr in tracker.tracks])
            assert np.abs(moved[..., :2] - np.stack(now)[..., :2]).max() < 1.5
        order = [1, 0] if t % 2 else [0, 1]  # the detector lists them in any order
        result = tracker.update(persons([now[i] for i in order]))
        ids_seen.append(dict(zip(order, result.track_ids.tolist(), strict=True)))
    assert all(seen == ids_seen[0] for seen in ids_seen)
    assert sorted(ids_seen[0].values()) == [1, 2]


def test_without_flow_a_fast_pan_loses_ids_that_flow_keeps() -> None:
    """The control: without flow, last frame's positions are too far off to match at all."""
    scene = texture()
    truth = [pose(150, 160, seed=1), pose(220, 160, seed=2)]
    results = {}
    for flow in (True, False):
        tracker = PoseTracker(TrackConfig(flow=flow), sigmas=SIGMAS)
        first = None
        for t in range(3):
            dx = 40.0 * t
            tracker.advance(shifted(scene, dx))
            ids = tracker.update(persons([p + [dx, 0, 0] for p in truth])).track_ids.tolist()
            first = first or ids
        results[flow] = ids == first
    assert results == {True: True, False: False}


def test_missed_frames_keep_then_end_a_track() -> None:
    tracker = PoseTracker(TrackConfig(max_missed=2), sigmas=SIGMAS)
    a = pose(100, 100, seed=3)
    assert tracker.update(persons([a])).track_ids.tolist() == [1]
    tracker.update(persons([]))
    tracker.update(persons([]))
    assert tracker.update(persons([a])).track_ids.tolist() == [1]  # back after 2 missed
    for _ in range(3):
        tracker.update(persons([]))
    assert tracker.tracks == []
    assert tracker.update(persons([a])).track_ids.tolist() == [2]  # ids are never reused


def test_smoothing_reduces_jitter_of_a_still_person() -> None:
    rng = np.random.default_rng(0)
    a = pose(100, 100, seed=4)
    spread = {}
    for smoothing in (False, True):
        tracker = PoseTracker(TrackConfig(smoothing=smoothing), sigmas=SIGMAS)
        out = []
        for _ in range(30):
            noisy = a.copy()
            noisy[:, :2] += rng.normal(0, 2.0, (K, 2))
            out.append(tracker.update(persons([noisy])).persons.keypoints[0, :, :2])
        spread[smoothing] = np.std(np.stack(out[10:]), axis=0).mean()
    assert spread[True] < 0.5 * spread[False]


def test_one_euro_follows_a_ramp_and_rejects_bad_time() -> None:
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    for i in range(60):
        y = f(np.array([10.0 * i]), i / 30)
    assert abs(y[0] - 590.0) < 15.0  # fast motion: little lag
    with pytest.raises(ValueError, match="timestamps must increase"):
        f(np.array([0.0]), 0.5)
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        OneEuroFilter(min_cutoff=0.0)


def test_track_config_is_typed_and_validated() -> None:
    cfg = load_config("res18_128x96", ["track.detect_every=5", "track.smoothing=true"])
    assert cfg.track.detect_every == 5 and cfg.track.smoothing is True
    with pytest.raises(ValueError, match="track.detect_every"):
        load_config("res18_128x96", ["track.detect_every=0"])
    with pytest.raises(ValueError, match=r"track.oks_weight must be in \[0, 1\]"):
        load_config("res18_128x96", ["track.oks_weight=2"])


def test_a_person_panned_out_of_view_keeps_the_id_beyond_max_missed() -> None:
    """The camera pans right past a person and back: the track waits off-screen (moved with
    the camera) longer than max_missed and the person gets the old id on return."""
    tracker = PoseTracker(TrackConfig(max_missed=2), sigmas=SIGMAS)
    scene = texture(width=960)
    a = pose(100, 160, seed=5)
    view = lambda dx: np.ascontiguousarray(shifted(scene, dx)[:, :480])  # noqa: E731
    offsets = [0, -40, -80, -120, -160, -200, -160, -120, -80, -40, 0]  # out of view at -160..
    ids = []
    for dx in offsets:
        tracker.advance(view(dx))
        moved = a + [dx, 0, 0]
        seen = [moved] if (moved[:, 0] >= 0).all() else []
        ids.append(tracker.update(persons(seen)).track_ids.tolist())
    assert ids[0] == [1] and ids[-1] == [1]
    assert [] in ids  # it really left the view
    assert tracker.tracks[0].missed == 0


def test_duplicate_poses_with_different_unseen_joints_are_one_person() -> None:
    from simplepose.pose.persons import oks_nms

    a = pose(100, 100, seed=6)
    b = a.copy()
    b[10:, :2] = 0.0  # joints the second crop did not see, decoded anywhere with score 0
    b[10:, 2] = 0.0
    kps, scores, areas = np.stack([a, b]), np.array([0.9, 0.8]), np.full(2, 3600.0)
    sigmas = COCO17.sigma_array()
    assert oks_nms(kps, scores, areas, 0.9, sigmas).tolist() == [
        0,
        1,
    ]  # reference: all joints count
    assert oks_nms(kps, scores, areas, 0.9, sigmas, joint_threshold=0.2).tolist() == [0]


@pytest.mark.parametrize("shape", [(1, 50), (64, 1), (1, 1), (4, 2000), (2000, 3)])
def test_camera_motion_of_a_sliver_frame_is_no_motion(shape) -> None:
    """Phase correlation needs 2x2 pixels after downscaling; a sliver (a hostile clip or stream
    frame) is tracked with no camera motion instead of an OpenCV assertion."""
    from simplepose.video.motion import camera_motion

    gray = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    matrix = camera_motion(gray, gray)
    assert matrix.shape == (2, 3) and np.isfinite(matrix).all()
