"""Where person boxes come from when a request sends none.

The service is top-down: it needs person boxes. A ``PersonDetector`` supplies them for requests
without boxes; the default treats the whole image as one person, as the core pipeline does.
A real detector (e.g. an exported YOLO graph) can be plugged in through ``create_app``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from simplepose.pipeline import whole_image_box


class PersonDetector(Protocol):
    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(N, 4)`` xywh in image pixels and their scores ``(N,)``, N >= 1."""
        ...


class WholeImageDetector:
    """The whole image is one person box with score 1."""

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = image_bgr.shape[:2]
        return whole_image_box(width, height), np.ones(1)
