"""Draw persons' skeletons on an image: ``PoseEstimator.render``, ``POST /keypoints/render`` and
``simplepose predict --render`` all use these functions. OpenCV only."""

from __future__ import annotations

import cv2
import numpy as np

from simplepose.pose.keypoints import KeypointSet

BOX_COLOR = (0, 255, 0)  # BGR
GOLDEN_RATIO_CONJUGATE = 0.618033988749895


def _thickness(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 320))


def track_color(track_id: int) -> tuple[int, int, int]:
    """A BGR colour per track id: hues a golden-ratio step apart, so neighbours differ."""
    hue = int((track_id * GOLDEN_RATIO_CONJUGATE % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_persons(
    image_bgr: np.ndarray,
    keypoints: np.ndarray,
    boxes: np.ndarray | None,
    min_score: float,
    track_ids: np.ndarray | None = None,
    *,
    keypoint_set: KeypointSet,
) -> np.ndarray:
    """A copy of ``image_bgr`` with boxes ``(N, 4)`` xywh, limbs and joints of keypoints
    ``(N, K, 3)`` drawn with ``keypoint_set``'s skeleton and colours; joints scoring ``<= min_score`` (the model's ``test.in_vis_thre``, as
    in the person rescoring) and their limbs are left out.
    With ``track_ids`` ``(N,)`` each person is drawn in its track's colour and labelled."""
    canvas = image_bgr.copy()
    width = _thickness(canvas)
    radius = width + 1
    for i, person in enumerate(np.asarray(keypoints, dtype=np.float64)):
        color = None if track_ids is None else track_color(int(track_ids[i]))
        if boxes is not None:
            x, y, w, h = (int(round(v)) for v in boxes[i])
            cv2.rectangle(canvas, (x, y), (x + w, y + h), color or BOX_COLOR, 1, cv2.LINE_AA)
            if track_ids is not None:
                label = f"#{int(track_ids[i])}"
                scale = 0.4 * width
                cv2.putText(canvas, label, (x + 2, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                            scale, color or BOX_COLOR, width, cv2.LINE_AA)  # fmt: skip
        visible = person[:, 2] > min_score
        for a, b in keypoint_set.skeleton:
            if visible[a] and visible[b]:
                pa = (int(round(person[a, 0])), int(round(person[a, 1])))
                pb = (int(round(person[b, 0])), int(round(person[b, 1])))
                cv2.line(
                    canvas, pa, pb, color or keypoint_set.limb_color((a, b)), width, cv2.LINE_AA
                )
        for j, (x, y, _) in enumerate(person):
            if visible[j]:
                center = (int(round(x)), int(round(y)))
                cv2.circle(
                    canvas, center, radius, color or keypoint_set.keypoint_color(j), -1, cv2.LINE_AA
                )
    return canvas


def encode_png(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
