"""OpenCV's built-in HOG + linear SVM people detector: no download, low accuracy.

It ships inside OpenCV (Dalal & Triggs 2005, trained on upright pedestrians, 64x128 window), so
it is the offline default; it misses sitting, small, occluded and non-upright people and is
labelled as the low-accuracy fallback everywhere it is used.
"""

from __future__ import annotations

import cv2
import numpy as np

from simplepose.detection.base import Detections, DetectorInfo, LoopingDetector
from simplepose.detection.box_ops import BoxFilter, filter_boxes

HOG_LABEL = "hog (low-accuracy fallback)"
HOG_WINDOW = (64, 128)  # the detector's window (width, height): smaller people are missed
HOG_MAX_SIDE = 640  # larger images are shrunk first (speed; people stay above the window size)
HOG_STRIDE = (8, 8)
HOG_SCALE = 1.05
# SVM margins are not probabilities: a logistic squashes them into (0, 1) so they can be a
# bbox_score; margin 0 (the SVM's own boundary) maps to 0.5.
HOG_SCORE_SLOPE = 2.0
HOG_FILTER = BoxFilter(score_thr=0.5, nms_iou=0.5)


class HogDetector(LoopingDetector):
    """People boxes from ``cv2.HOGDescriptor``'s default people detector."""

    def __init__(self, rules: BoxFilter = HOG_FILTER, max_side: int = HOG_MAX_SIDE):
        self.rules = rules
        self.info = DetectorInfo(
            name="hog", label=HOG_LABEL, fallback=True, source="OpenCV built-in", rules=rules
        )
        self.max_side = max_side
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))

    def detect(self, image_bgr: np.ndarray) -> Detections:
        height, width = image_bgr.shape[:2]
        ratio = min(1.0, self.max_side / max(width, height))
        small = image_bgr
        if ratio < 1.0:
            size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
            small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
        found: tuple = ((), ())  # smaller than one window: nobody
        if small.shape[0] >= HOG_WINDOW[1] and small.shape[1] >= HOG_WINDOW[0]:
            found = self.hog.detectMultiScale(
                small, winStride=HOG_STRIDE, padding=(8, 8), scale=HOG_SCALE
            )
        rects = np.asarray(found[0], np.float64).reshape(-1, 4) / ratio
        margins = np.asarray(found[1], np.float64).reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-HOG_SCORE_SLOPE * margins))
        xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        boxes, kept = filter_boxes(xyxy, scores, (width, height), self.rules)
        return Detections(boxes, kept, self.info.label, (width, height))
