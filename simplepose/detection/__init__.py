"""Person detection in front of the top-down pose pipeline (NumPy/OpenCV; no stage imports)."""

from simplepose.detection.base import (
    Detections,
    DetectorInfo,
    LoopingDetector,
    PersonDetector,
    WholeImageDetector,
)

__all__ = ["Detections", "DetectorInfo", "LoopingDetector", "PersonDetector", "WholeImageDetector"]
