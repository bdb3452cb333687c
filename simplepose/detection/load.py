"""One way to name a detector, for the service, ``predict``, ``evaluate`` and ``detect``.

``--detector`` / ``SIMPLEPOSE_DETECTOR`` take: ``hog`` (the offline default, low accuracy),
``none`` (the whole image is one person, the behaviour without a detector), a registry name
(``simplepose weights list``, kind detector; fetched into the cache), or a path to an mmdeploy
``end2end.onnx`` (or a folder holding one).
"""

from __future__ import annotations

from pathlib import Path

from simplepose.detection.base import PersonDetector, WholeImageDetector
from simplepose.detection.hog import HogDetector
from simplepose.detection.onnx_end2end import DetectorLoadError, End2EndSpec, OnnxEnd2EndDetector
from simplepose.detection.zoo import DETECTOR_PRESETS, GRAPH_NAME, detector_entry, fetch_detector
from simplepose.hub.registry import REGISTRY, WeightsUnavailable

DETECTOR_ENV = "SIMPLEPOSE_DETECTOR"
DEFAULT_DETECTOR = "hog"
BUILTIN_DETECTORS = ("hog", "none")


def detector_choices() -> list[str]:
    """Every name ``load_detector`` accepts besides file paths."""
    return [*BUILTIN_DETECTORS, *(n for n, e in REGISTRY.items() if e.kind == "detector")]


def load_detector(
    name: str,
    device: str = "auto",
    cache: str | Path | None = None,
    offline: bool = False,
    spec: End2EndSpec | None = None,
) -> PersonDetector:
    """The detector called ``name`` (see the module docstring), ready to run.

    ``device`` (``CPU``/``Ascend``/``auto``) picks ONNX Runtime's execution provider; ``spec``
    overrides the input preset of a graph given by path (default: YOLOX's).
    """
    if name == "none":
        return WholeImageDetector()
    if name == "hog":
        return HogDetector()
    entry = REGISTRY.get(name)
    if entry is not None:
        entry = detector_entry(name)
        try:
            graph = fetch_detector(entry, cache, offline=offline, progress=False)
        except WeightsUnavailable as exc:
            raise DetectorLoadError(
                f"detector {name} is not available: {exc}. Fetch it first with 'simplepose "
                f"weights get {name}' (and copy the cache to offline hosts)"
            ) from exc
        return OnnxEnd2EndDetector(graph, entry.name, DETECTOR_PRESETS[entry.preset], device=device)
    path = Path(name).expanduser()
    if path.is_dir():
        path = path / GRAPH_NAME
    if path.suffix == ".onnx" and path.is_file():
        return OnnxEnd2EndDetector(path, path.parent.name or path.stem, spec, device=device)
    raise ValueError(
        f"unknown detector {name!r}: use one of {', '.join(detector_choices())}, or the path "
        f"of an mmdeploy {GRAPH_NAME} (or its folder)"
    )
