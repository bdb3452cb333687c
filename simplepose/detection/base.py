"""The detection contract: what a person detector returns and how the rest of simplepose calls it.

Every consumer (the service, ``simplepose predict``/``evaluate``/``detect``, the tracker, the
Python API, the web page) only relies on ``Detections`` and ``PersonDetector``; the concrete
detectors (whole image, OpenCV HOG, ONNX end2end) live beside this module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from simplepose.pose.pipeline import whole_image_box

if TYPE_CHECKING:
    from simplepose.detection.box_ops import BoxFilter

NONE_LABEL = "none (whole image is one person)"


@dataclass(frozen=True)
class DetectorInfo:
    """What a detector is, for banners, ``/v1/model`` and every response.

    ``name`` is the short key users select it by (``none``, ``hog``, a weights name or a file);
    ``label`` is the human text shown everywhere, e.g. ``"hog (low-accuracy fallback)"``;
    ``fallback`` marks detectors that are not meant for real accuracy.
    """

    name: str
    label: str
    fallback: bool = False
    source: str | None = None  # weights file or registry entry, when there is one
    rules: BoxFilter | None = None  # score threshold, NMS IoU, most persons (real detectors)


@dataclass(frozen=True)
class Detections:
    """Person boxes found in one image, best first.

    ``boxes`` ``(N, 4)`` float64 xywh in image pixels, clipped to the image; ``scores`` ``(N,)``
    float64 in [0, 1] (the ``bbox_score`` that feeds person rescoring); ``detector`` is the
    ``DetectorInfo.label`` of the detector that produced them. N may be 0.
    """

    boxes: np.ndarray
    scores: np.ndarray
    detector: str
    image_size: tuple[int, int] = field(default=(0, 0))  # (width, height) the boxes refer to

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return len(self.scores)


class PersonDetector(Protocol):
    """Finds person boxes in ``(H, W, 3)`` uint8 BGR images.

    ``detect_batch`` exists so a serving executor can batch images across requests; detectors
    that cannot batch simply loop. Implementations are not required to be thread-safe: callers
    run them on one serialized executor.
    """

    info: DetectorInfo

    def detect(self, image_bgr: np.ndarray) -> Detections: ...

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]: ...


class LoopingDetector(ABC):
    """Base for detectors that take one image at a time: ``detect_batch`` loops ``detect``."""

    info: DetectorInfo

    @abstractmethod
    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Implemented by each subclass."""

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        return [self.detect(image) for image in images_bgr]


class WholeImageDetector(LoopingDetector):
    """``detector=none``: the whole image is one person box with score 1. ``info`` replaces its
    description (the labelled fallback when the default detector is unavailable)."""

    info = DetectorInfo(name="none", label=NONE_LABEL)

    def __init__(self, info: DetectorInfo | None = None):
        if info is not None:
            self.info = info

    def detect(self, image_bgr: np.ndarray) -> Detections:
        height, width = image_bgr.shape[:2]
        return Detections(
            whole_image_box(width, height), np.ones(1), self.info.label, (width, height)
        )
