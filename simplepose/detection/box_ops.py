"""The box arithmetic every detector shares: letterbox in, threshold/NMS/clip out (NumPy/OpenCV)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from simplepose.pose.geometry import MIN_BOX_SIZE


@dataclass(frozen=True)
class BoxFilter:
    """How raw detector boxes become person boxes.

    ``score_thr``: boxes below are dropped. ``nms_iou``: greedy NMS IoU threshold (boxes of
    end2end graphs went through NMS already; running it again on the survivors is a no-op for
    them and protects against graphs without it). ``max_persons``: most boxes kept per image;
    ``pre_nms_top_k``: only the best this many enter NMS (bounds its cost on a runaway graph).
    """

    score_thr: float = 0.3
    nms_iou: float = 0.65
    max_persons: int = 100
    pre_nms_top_k: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_thr <= 1.0 or not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(
                f"need 0 <= score_thr <= 1 and 0 < nms_iou <= 1, got {self.score_thr}, "
                f"{self.nms_iou}"
            )
        if self.max_persons < 1:
            raise ValueError(f"max_persons must be >= 1, got {self.max_persons}")
        if self.pre_nms_top_k < self.max_persons:
            raise ValueError("pre_nms_top_k must be >= max_persons")


@dataclass(frozen=True)
class Letterbox:
    """An image resized into the top-left of a ``size`` canvas; ``ratio`` (x) and ``ratio_y``
    (``None``: the same, aspect kept) map canvas pixels back to image pixels by division."""

    canvas: np.ndarray  # (H, W, 3) uint8
    ratio: float
    ratio_y: float | None = None

    def to_image(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Canvas ``(N, 4)`` x1, y1, x2, y2 -> image pixels."""
        scale = np.array([self.ratio, self.ratio_y or self.ratio] * 2)
        return np.asarray(boxes_xyxy, np.float64).reshape(-1, 4) / scale


def letterbox(
    image_bgr: np.ndarray, size: tuple[int, int], pad_value: int = 114, keep_ratio: bool = True
) -> Letterbox:
    """Resize ``image_bgr`` to fit ``size`` (width, height) keeping its aspect, pad the rest
    (``keep_ratio=False``: stretch it to ``size``, nothing padded).

    The image goes to the top-left corner, as mmdet's ``Resize(keep_ratio) + Pad`` test pipeline
    does, so boxes map back with a division only.
    """
    width, height = size
    h, w = image_bgr.shape[:2]
    if not keep_ratio:
        interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LINEAR
        canvas = cv2.resize(image_bgr, (width, height), interpolation=interp)
        return Letterbox(canvas, width / w, height / h)
    ratio = min(width / w, height / h)
    new_w, new_h = max(1, min(width, round(w * ratio))), max(1, min(height, round(h * ratio)))
    canvas = np.full((height, width, 3), pad_value, np.uint8)
    interp = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=interp)
    return Letterbox(canvas, ratio)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def filter_boxes(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    image_size: tuple[int, int],
    rules: BoxFilter,
) -> tuple[np.ndarray, np.ndarray]:
    """Score threshold, clip to the image, drop degenerate boxes, NMS, keep the best.

    Returns xywh boxes ``(N, 4)`` and scores ``(N,)``, best first. Non-finite values from a
    graph are dropped, never passed on.
    """
    width, height = image_size
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    ok = np.isfinite(boxes).all(axis=1) & np.isfinite(scores) & (scores >= rules.score_thr)
    boxes, scores = boxes[ok], np.clip(scores[ok], 0.0, 1.0)
    top = np.argsort(-scores, kind="stable")[: rules.pre_nms_top_k]
    boxes, scores = boxes[top], scores[top]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0.0, float(width))
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0.0, float(height))
    xywh = xyxy_to_xywh(boxes)
    big = (xywh[:, 2] >= MIN_BOX_SIZE) & (xywh[:, 3] >= MIN_BOX_SIZE)
    xywh, scores = xywh[big], scores[big]
    if len(scores) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), rules.score_thr, rules.nms_iou)
    keep = np.asarray(kept, np.int64).reshape(-1)
    keep = keep[np.argsort(-scores[keep], kind="stable")][: rules.max_persons]
    return xywh[keep], scores[keep]
