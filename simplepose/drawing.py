"""Draw persons' skeletons on an image: ``PoseEstimator.render``, ``POST /keypoints/render`` and
``simplepose predict --render`` all use these functions. OpenCV only."""

from __future__ import annotations

import cv2
import numpy as np

from simplepose.keypoints import SKELETON, keypoint_color, limb_color
from simplepose.persons import IN_VIS_THRE

BOX_COLOR = (0, 255, 0)  # BGR


def _thickness(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 320))


def draw_persons(
    image_bgr: np.ndarray,
    keypoints: np.ndarray,
    boxes: np.ndarray | None = None,
    min_score: float = IN_VIS_THRE,
) -> np.ndarray:
    """A copy of ``image_bgr`` with boxes ``(N, 4)`` xywh, limbs and joints of keypoints
    ``(N, K, 3)`` drawn; joints scoring ``<= min_score`` (and their limbs) are left out."""
    canvas = image_bgr.copy()
    width = _thickness(canvas)
    radius = width + 1
    for i, person in enumerate(np.asarray(keypoints, dtype=np.float64)):
        if boxes is not None:
            x, y, w, h = (int(round(v)) for v in boxes[i])
            cv2.rectangle(canvas, (x, y), (x + w, y + h), BOX_COLOR, 1, cv2.LINE_AA)
        visible = person[:, 2] > min_score
        for a, b in SKELETON:
            if visible[a] and visible[b]:
                pa = (int(round(person[a, 0])), int(round(person[a, 1])))
                pb = (int(round(person[b, 0])), int(round(person[b, 1])))
                cv2.line(canvas, pa, pb, limb_color((a, b)), width, cv2.LINE_AA)
        for j, (x, y, _) in enumerate(person):
            if visible[j]:
                center = (int(round(x)), int(round(y)))
                cv2.circle(canvas, center, radius, keypoint_color(j), -1, cv2.LINE_AA)
    return canvas


def encode_png(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
