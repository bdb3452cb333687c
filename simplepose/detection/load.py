"""One way to name a detector, for the service, ``predict``, ``evaluate``, ``detect`` and the API.

``--detector`` / ``SIMPLEPOSE_DETECTOR`` take:

* ``auto`` (the default): ``rtmdet-nano-person`` (OpenMMLab's RTMDet-nano person detector)
  wherever onnxruntime is installed, fetched once into the cache; when it cannot be had
  (offline with an empty cache, no network, no onnxruntime) the labelled fallback ``none``.
* ``none``: the whole image is one person. ``hog``: OpenCV's people detector (low accuracy).
* a registry name (``simplepose weights list``, kind detector; fetched into the cache).
* a path: an ONNX graph, or a folder holding ``end2end.onnx`` (or the graph mmdeploy's
  ``deploy.json`` names) with mmdeploy's ``pipeline.json``/``deploy.json``/``detail.json``.

``load_detector`` is the one entry point (the model hub calls it too).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from simplepose.detection.base import NONE_LABEL, DetectorInfo, PersonDetector, WholeImageDetector
from simplepose.detection.box_ops import BoxFilter
from simplepose.detection.hog import HOG_FILTER, HogDetector
from simplepose.detection.mmdeploy_sdk import read_sdk_folder
from simplepose.detection.onnx_end2end import DetectorUnavailable, OnnxEnd2EndDetector
from simplepose.detection.options import NO_OPTIONS, DetectorOptions
from simplepose.detection.spec import DETECTOR_PRESETS, KNOWN_GRAPHS, End2EndSpec
from simplepose.detection.zoo import (
    DEFAULT_DETECTOR_WEIGHTS,
    GRAPH_NAME,
    detector_entry,
    fetch_detector,
)
from simplepose.hub.download import sha256_file
from simplepose.hub.registry import REGISTRY, WeightsUnavailable

log = logging.getLogger(__name__)

DETECTOR_ENV = "SIMPLEPOSE_DETECTOR"
AUTO_DETECTOR = "auto"
DEFAULT_DETECTOR = AUTO_DETECTOR
BUILTIN_DETECTORS = (AUTO_DETECTOR, "none", "hog")


def detector_choices() -> list[str]:
    """Every name ``load_detector`` accepts besides file paths."""
    return [*BUILTIN_DETECTORS, *(n for n, e in REGISTRY.items() if e.kind == "detector")]


def fallback_detector(reason: str) -> WholeImageDetector:
    """``none``, labelled as the fallback it is and why."""
    return WholeImageDetector(
        DetectorInfo(
            name="none",
            label=f"{NONE_LABEL}: FALLBACK, the default detector {DEFAULT_DETECTOR_WEIGHTS} "
            f"is unavailable ({reason})",
            fallback=True,
        )
    )


def _registry_detector(
    name: str, device: str, cache: str | Path | None, offline: bool, options: DetectorOptions
) -> OnnxEnd2EndDetector:
    entry = detector_entry(name)
    try:
        import onnxruntime  # noqa: F401  (the [onnx] extra; checked before any download)
    except ImportError as exc:
        raise DetectorUnavailable(
            f"detector {name} needs onnxruntime: pip install 'simplepose[onnx]'",
            reason="onnxruntime is not installed",
        ) from exc
    try:
        graph = fetch_detector(entry, cache, offline=offline, progress=False)
    except WeightsUnavailable as exc:
        raise DetectorUnavailable(
            f"detector {name} is not available: {exc}. Fetch it first with 'simplepose "
            f"weights get {name}' (and copy the cache to offline hosts)",
            reason=f"{exc}; fetch it with 'simplepose weights get {name}'",
        ) from exc
    spec = options.apply_spec(DETECTOR_PRESETS[entry.preset])
    rules = options.apply_rules(spec.rules or BoxFilter())
    return OnnxEnd2EndDetector(graph, entry.name, spec, rules, device=device)


def graph_spec(graph: Path, sdk_spec: End2EndSpec | None, options: DetectorOptions) -> End2EndSpec:
    """The spec of a graph given by path: options over its SDK files, else a known graph's
    preset (by sha256) when the graph needs one, else the default (YOLOX's; size from the
    graph, which ``OnnxEnd2EndDetector`` refuses when it is dynamic)."""
    base = sdk_spec
    needs_size = base is None or base.input_size is None
    if needs_size and options.input_size is None and _dynamic_size(graph):
        preset = KNOWN_GRAPHS.get(sha256_file(graph))
        if preset is not None:
            base = replace(DETECTOR_PRESETS[preset], rules=base.rules if base else None)
    return options.apply_spec(base or End2EndSpec())


def _dynamic_size(graph: Path) -> bool:
    import onnx

    try:
        model = onnx.load(str(graph), load_external_data=False)
        dims = model.graph.input[0].type.tensor_type.shape.dim[2:]
    except Exception:  # not loadable: OnnxEnd2EndDetector reports it with its own message
        return False
    return len(dims) != 2 or any(d.dim_value <= 0 for d in dims)


def _path_detector(name: str, device: str, options: DetectorOptions) -> OnnxEnd2EndDetector:
    path = Path(name).expanduser()
    folder = path if path.is_dir() else path.parent
    sdk = read_sdk_folder(folder) if folder.is_dir() else None
    if path.is_dir():
        path = path / ((sdk and sdk.graph_name) or GRAPH_NAME)
    if path.suffix != ".onnx" or not path.is_file():
        raise ValueError(
            f"unknown detector {name!r}: use one of {', '.join(detector_choices())}, or the path "
            f"of an ONNX detector graph (or its mmdeploy folder with {GRAPH_NAME})"
        )
    spec = graph_spec(path, sdk.spec if sdk else None, options)
    rules = options.apply_rules(spec.rules or BoxFilter())
    label_name = path.parent.name or path.stem
    return OnnxEnd2EndDetector(path, label_name, spec, rules, device=device)


def load_detector(
    name: str,
    device: str = "auto",
    cache: str | Path | None = None,
    offline: bool = False,
    options: DetectorOptions | None = None,
) -> PersonDetector:
    """The detector called ``name`` (see the module docstring), ready to run.

    ``device`` (``CPU``/``Ascend``/``auto``) picks ONNX Runtime's execution provider;
    ``options`` overrides preprocessing and thresholds. Raises ``DetectorLoadError`` (its
    subclass ``DetectorUnavailable`` when a named detector cannot be obtained here) and
    ``ValueError`` for an unknown name.
    """
    options = options or NO_OPTIONS
    if name == AUTO_DETECTOR:
        # the default never stops an Ascend service for want of onnxruntime-cann: CANN when
        # this onnxruntime has it, else the CPU (a 4 MB graph)
        auto_device = "auto" if device == "Ascend" else device
        try:
            return _registry_detector(
                DEFAULT_DETECTOR_WEIGHTS, auto_device, cache, offline, options
            )
        except DetectorUnavailable as exc:
            log.warning("person detector: falling back to none: %s", exc)
            return fallback_detector(exc.reason)
    if name == "none":
        return WholeImageDetector()
    if name == "hog":
        return HogDetector(options.apply_rules(HOG_FILTER))
    if name in REGISTRY:
        return _registry_detector(name, device, cache, offline, options)
    return _path_detector(name, device, options)
