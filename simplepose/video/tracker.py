"""Pose tracking across video frames, after SimpleBaselines (Xiao et al. 2018, section 4).

NumPy/OpenCV only. Per frame:

1. ``PoseTracker.advance(frame)`` moves every track's last keypoints into the new frame by
   Lucas-Kanade optical flow and returns boxes around the moved keypoints of the tracks seen in
   the previous frame ("flow boxes"). ``merge_boxes`` adds them to the detector's boxes where no
   detection covers them (NMS with detections first), so the detector may run only every N-th
   frame and a missed detection does not lose a person.
2. The pose pipeline estimates keypoints in those boxes.
3. ``PoseTracker.update(persons)`` matches them greedily to the tracks by similarity
   ``w * OKS + (1 - w) * IoU`` between each track's moved keypoints and each new pose (best
   pairs first, above a threshold); unmatched persons start new tracks; a track unmatched for
   more than ``max_missed`` frames ends (frames in which the camera has moved the person out of
   view count against ``max_offscreen`` instead). Optional one-euro smoothing of the output.

Track ids are positive integers, never reused within one tracker.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np

from simplepose.config.presets import TestConfig, TrackConfig
from simplepose.pose.geometry import MIN_BOX_SIZE
from simplepose.pose.persons import oks_between
from simplepose.pose.pipeline import Persons
from simplepose.video.motion import camera_motion, optical_flow
from simplepose.video.smoothing import OneEuroFilter

OUT_OF_VIEW_FRACTION = 0.5  # a track with fewer of its joints in the frame is out of view,
MIN_JOINTS_IN_VIEW = 3  # as is one with fewer joints than this in the frame (undetectable)
MIN_BOX_FRACTION = 0.5  # a keypoint flow box under this x the last box area is not used
FLOW_MAX_DEVIATION = 0.25  # x person size: a joint moving further from the median is an outlier


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union ``(A, B)`` of xywh boxes ``(A, 4)`` and ``(B, 4)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    union = a[:, None, 2:].prod(-1) + b[None, :, 2:].prod(-1) - inter
    return np.where(union > 0, inter / np.maximum(union, np.spacing(1)), 0.0)


def keypoint_boxes(
    keypoints: np.ndarray, threshold: float, min_keypoints: int, margin: float
) -> np.ndarray:
    """Boxes ``(N, 4)`` xywh around the joints of ``keypoints`` ``(N, K, 3)`` scoring above
    ``threshold``, grown by ``margin`` x their size (centred); NaN rows for persons with fewer
    than ``min_keypoints`` such joints."""
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, *np.shape(keypoints)[-2:])
    out = np.full((len(keypoints), 4), np.nan)
    for i, person in enumerate(keypoints):
        xy = person[person[:, 2] > threshold, :2]
        if len(xy) < max(min_keypoints, 1):
            continue
        lo, hi = xy.min(0), xy.max(0)
        size = (hi - lo) * (1.0 + margin)
        out[i] = (*((lo + hi) / 2 - size / 2), *size)
    return out


def clip_to_image(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` clipped to the image, and a mask of those still at least
    ``MIN_BOX_SIZE`` px wide and high (NaN rows are never kept)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    clipped = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    with np.errstate(invalid="ignore"):
        keep = (clipped[:, 2] >= MIN_BOX_SIZE) & (clipped[:, 3] >= MIN_BOX_SIZE)
    return clipped, keep & np.isfinite(clipped).all(1)


def merge_boxes(detected: np.ndarray, propagated: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the ``propagated`` boxes kept next to ``detected`` ones: greedy NMS in which
    detections rank first (they are fresh), then flow boxes in their given order."""
    kept: list[int] = []
    ranked = np.asarray(detected, dtype=np.float64).reshape(-1, 4)
    for i, box in enumerate(np.asarray(propagated, dtype=np.float64).reshape(-1, 4)):
        if len(ranked) and box_iou(box[None], ranked).max() > iou_threshold:
            continue
        kept.append(i)
        ranked = np.concatenate([ranked, box[None]])
    return np.array(kept, dtype=np.int64)


def greedy_match(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken best-first from ``similarity`` ``(R, C)``, each row and column
    at most once, only pairs with similarity >= ``threshold``."""
    sim = np.asarray(similarity, dtype=np.float64)
    rows, cols = np.unravel_index(np.argsort(-sim, axis=None, kind="stable"), sim.shape)
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if sim[r, c] < threshold:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


@dataclass(eq=False)
class Track:
    track_id: int
    keypoints: np.ndarray  # (K, 3) last matched pose (unseen joints: remembered positions)
    predicted: np.ndarray  # (K, 3) that pose moved into the current frame
    box: np.ndarray  # (4,) xywh last person box, for IoU when too few joints are visible
    box_score: float
    missed: int = 0  # frames since last matched, while in view
    offscreen: int = 0  # frames spent moved out of view by the camera
    smoother: OneEuroFilter | None = None
    motion: np.ndarray = field(default_factory=lambda: np.zeros(2))  # last frame's (dx, dy)


@dataclass(frozen=True)
class TrackedFrame:
    """One frame's persons (keypoints smoothed when smoothing is on) and their track ids."""

    index: int
    time: float  # seconds
    persons: Persons
    track_ids: np.ndarray  # (N,) int64, aligned with the persons


class PoseTracker:
    """State of one video: the active tracks. ``advance`` then ``update`` once per frame."""

    def __init__(
        self,
        config: TrackConfig | None = None,
        in_vis_thre: float = TestConfig.in_vis_thre,
        *,
        sigmas: np.ndarray,
    ):
        """``in_vis_thre``: the model's ``config.test.in_vis_thre``; ``sigmas``: the OKS
        falloffs of its keypoint set (``TrackingPipeline`` passes its pose pipeline's)."""
        self.config = config or TrackConfig()
        self.config.validate()
        self.in_vis_thre = in_vis_thre
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.tracks: list[Track] = []
        self.frame_index = -1
        self._next_id = 1
        self._gray: np.ndarray | None = None
        self._size: tuple[int, int] | None = None  # (w, h) of the frame being tracked

    def advance(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Enter a new frame: move the tracks' keypoints into it by optical flow. Returns the flow
        boxes ``(M, 4)`` xywh (clipped to the image) of the tracks seen in the previous frame and
        their box scores ``(M,)``."""
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        prev, self._gray = self._gray, gray
        self._size = (gray.shape[1], gray.shape[0])
        if self.config.flow and prev is not None and prev.shape == gray.shape and self.tracks:
            self._move(prev, gray)
        seen = [t for t in self.tracks if t.missed == 0]
        if not seen:
            return np.zeros((0, 4)), np.zeros(0)
        c = self.config
        boxes = keypoint_boxes(
            np.stack([t.predicted for t in seen]), self.in_vis_thre, c.min_keypoints, c.box_margin
        )
        # Too few confident joints for a keypoint box, or joints bunched into a box smaller than
        # half the person's last one (a weak model): the last box, moved as the person moved.
        moved_boxes = self._moved_boxes(seen)
        small = ~(
            boxes[:, 2] * boxes[:, 3] >= MIN_BOX_FRACTION * moved_boxes[:, 2] * moved_boxes[:, 3]
        )
        boxes = np.where(small[:, None], moved_boxes, boxes)
        boxes, keep = clip_to_image(boxes, gray.shape[1], gray.shape[0])
        return boxes[keep], np.array([t.box_score for t in seen])[keep]

    @staticmethod
    def _moved_boxes(tracks: list[Track]) -> np.ndarray:
        """``(T, 4)`` each track's last person box shifted by its last motion."""
        return np.stack([np.concatenate([t.box[:2] + t.motion, t.box[2:]]) for t in tracks])

    def _move(self, prev: np.ndarray, gray: np.ndarray) -> None:
        poses = np.stack([t.predicted for t in self.tracks])  # (T, K, 3)
        points = poses[..., :2].reshape(-1, 2)
        inside = (
            (points >= 0).all(1) & (points[:, 0] < gray.shape[1]) & (points[:, 1] < gray.shape[0])
        )
        camera = camera_motion(prev, gray)
        guess = points @ camera[:, :2].T + camera[:, 2]
        moved = guess.copy()
        ok = np.zeros(len(points), dtype=bool)
        if inside.any():
            moved[inside], ok[inside] = optical_flow(prev, gray, points[inside], guess[inside])
        shift = (moved - points).reshape(poses.shape[0], -1, 2)
        by_camera = (guess - points).reshape(poses.shape[0], -1, 2)
        ok = ok.reshape(poses.shape[:2])
        for track, d, cam, good in zip(self.tracks, shift, by_camera, ok, strict=True):
            # Joints the flow lost (occluded, blurred, off-image) or that move unlike the rest of
            # the person (a bad flow vector) follow the person's median motion; a person of whom
            # nothing was followed moves with the camera.
            if good.any():
                median = np.median(d[good], axis=0)
                size = np.ptp(track.predicted[:, :2], axis=0).max()
                good &= np.linalg.norm(d - median, axis=1) <= FLOW_MAX_DEVIATION * size
                fallback = np.broadcast_to(median, d.shape)
            else:
                fallback = cam
            track.predicted = track.predicted.copy()
            track.predicted[:, :2] += np.where(good[:, None], d, fallback)
            track.motion = np.median(np.where(good[:, None], d, fallback), axis=0)

    def _out_of_view(self, pose: np.ndarray) -> bool:
        """True when most joints of ``pose`` seen before lie outside the frame: the camera moved
        away from the person (who may come back into view when it turns), and no detector can
        be expected to find the rest."""
        if self._size is None:
            return False
        xy = pose[pose[:, 2] > self.in_vis_thre, :2]
        w, h = self._size
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        needed = max(OUT_OF_VIEW_FRACTION * len(xy), MIN_JOINTS_IN_VIEW)
        return bool(len(xy)) and inside.sum() < needed

    def similarity(self, persons: Persons) -> np.ndarray:
        """``(T, N)`` similarity of the tracks' moved poses and the new persons."""
        if not self.tracks or not len(persons):
            return np.zeros((len(self.tracks), len(persons)))
        c = self.config
        predicted = np.stack([t.predicted for t in self.tracks])
        new = np.asarray(persons.keypoints, dtype=np.float64)
        # Person boxes (as cropped), the tracks' moved along: steadier than keypoint boxes.
        new_boxes = np.asarray(persons.boxes, dtype=np.float64)
        old_boxes = self._moved_boxes(self.tracks)
        visible = (predicted[:, None, :, 2] > self.in_vis_thre) & (
            new[None, :, :, 2] > self.in_vis_thre
        )
        # OKS scale: the larger of the two boxes, so a person half in view is compared at the
        # size the track remembers.
        areas = np.maximum(
            (old_boxes[:, 2] * old_boxes[:, 3])[:, None], (new_boxes[:, 2] * new_boxes[:, 3])[None]
        )
        oks = oks_between(predicted, new, areas, self.sigmas, visible)
        iou = box_iou(old_boxes, new_boxes)
        return c.oks_weight * oks + (1 - c.oks_weight) * iou

    def update(self, persons: Persons, time: float | None = None) -> TrackedFrame:
        """Assign track ids to this frame's ``persons`` (``time`` in seconds; default
        frame index / ``config.fps``)."""
        self.frame_index += 1
        c = self.config
        time = self.frame_index / c.fps if time is None else float(time)
        pairs = greedy_match(self.similarity(persons), c.match_threshold)
        owner = {n: self.tracks[t] for t, n in pairs}
        for track in self.tracks:
            if self._out_of_view(track.predicted):
                track.offscreen += 1
            else:
                track.missed += 1
        ids = np.zeros(len(persons), dtype=np.int64)
        out = np.array(persons.keypoints, dtype=np.float64, copy=True)
        for n in range(len(persons)):
            pose = out[n].copy()
            found = owner.get(n)
            if found is None:
                track = Track(self._next_id, pose, pose, persons.boxes[n], 0.0)
                self._next_id += 1
                if c.smoothing:
                    track.smoother = OneEuroFilter(c.smooth_min_cutoff, c.smooth_beta)
                self.tracks.append(track)
            else:
                track = found
            if found is not None:
                # Joints not seen now keep their flow-moved last position and score: a person
                # half out of view or occluded is still matched by the joints seen before.
                unseen = pose[:, 2] <= self.in_vis_thre
                pose[unseen] = track.predicted[unseen]
            track.keypoints = track.predicted = pose
            track.box = np.asarray(persons.boxes[n], dtype=np.float64)
            track.box_score = float(persons.box_scores[n])
            track.missed = track.offscreen = 0
            ids[n] = track.track_id
            if track.smoother is not None:
                out[n, :, :2] = track.smoother(pose[:, :2], time)
        self.tracks = [
            t for t in self.tracks if t.missed <= c.max_missed and t.offscreen <= c.max_offscreen
        ]
        smoothed = dataclasses.replace(persons, keypoints=out)
        return TrackedFrame(self.frame_index, time, smoothed, ids)
