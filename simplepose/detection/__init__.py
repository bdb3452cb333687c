"""Person detection in front of the top-down pose pipeline (NumPy/OpenCV/ONNX Runtime; no stage
imports). ``load_detector(name)`` gives any of them; they all return ``Detections``."""

from simplepose.detection.base import (
    Detections,
    DetectorInfo,
    LoopingDetector,
    PersonDetector,
    WholeImageDetector,
)
from simplepose.detection.load import (
    AUTO_DETECTOR,
    DEFAULT_DETECTOR,
    DETECTOR_ENV,
    detector_choices,
    load_detector,
)
from simplepose.detection.onnx_end2end import DetectorLoadError, DetectorUnavailable
from simplepose.detection.options import DetectorOptions

__all__ = [
    "AUTO_DETECTOR",
    "DEFAULT_DETECTOR",
    "DETECTOR_ENV",
    "Detections",
    "DetectorInfo",
    "DetectorLoadError",
    "DetectorOptions",
    "DetectorUnavailable",
    "LoopingDetector",
    "PersonDetector",
    "WholeImageDetector",
    "detector_choices",
    "load_detector",
]
