"""The public Python API: a pose estimator in one call.

    from simplepose import PoseEstimator

    estimator = PoseEstimator("models/r50", device="CPU")
    poses = estimator(image_bgr)                  # or estimator("photo.jpg", boxes=[[x, y, w, h]])
    for person in poses:
        print(person.score, person.keypoints[0])  # nose (x, y) in image pixels
    cv2.imwrite("out.jpg", estimator.render(image_bgr, poses))

It runs the same ``PosePipeline`` as ``simplepose serve``, ``predict`` and ``evaluate`` (crop,
flip test, decode, back-projection, rescoring), with the service's defaults, so the keypoints
equal the service's for the same image, boxes and model (tested on coco-mini val). Everything
it returns is NumPy arrays in plain dataclasses; no MindSpore type leaks out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from simplepose.config.model_info import MODEL_JSON, ModelInfo
from simplepose.detection.base import PersonDetector
from simplepose.detection.load import DEFAULT_DETECTOR, load_detector
from simplepose.detection.options import DetectorOptions
from simplepose.drawing import draw_persons
from simplepose.hub.registry import REGISTRY, checkpoint_path, model_path
from simplepose.pose.codec import DECODE_METHODS
from simplepose.pose.pipeline import HeatmapModel, Persons, PosePipeline, read_image

# Turning downloaded registry weights into a model directory needs the export stage (reading
# .pth, conversion, export), which the core may not import. The package names the function
# that does it under this entry-point group (pyproject.toml), so the core finds it by role.
MODEL_BUILDERS = "simplepose.model_builders"
REGISTRY_BUILDER = "registry"

ImageInput = np.ndarray | str | Path
BoxesInput = np.ndarray | Sequence[Sequence[float]] | None


@dataclass(frozen=True)
class Person:
    """One person of ``Poses``; all positions are image pixels.

    Attributes:
        keypoints: ``(K, 2)`` float64 ``(x, y)``, clipped to the image
            (x in ``[0, W-1]``, y in ``[0, H-1]``), in ``keypoint_names`` order.
        keypoint_scores: ``(K,)`` float64, the heatmap maximum of each keypoint (about 0..1).
        score: the person score, ``box_score`` x mean of the keypoint scores above the
            visibility threshold (0.2 unless the model's config says otherwise).
        box: ``(4,)`` float64 ``(x, y, w, h)`` the person was cropped from (clipped to the image).
        box_score: the score of that box (1.0 for given boxes without a score).
        track_id: the person's id across frames when a tracker assigned one, else ``None``.
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    score: float
    box: np.ndarray
    box_score: float
    track_id: int | None = None


@dataclass(frozen=True)
class Poses:
    """The persons found in one image, best score first (N may be 0).

    Attributes:
        keypoints: ``(N, K, 2)`` float64 ``(x, y)`` in image pixels, clipped to the image.
        keypoint_scores: ``(N, K)`` float64.
        scores: ``(N,)`` float64 person scores (see ``Person.score``).
        boxes: ``(N, 4)`` float64 ``(x, y, w, h)``.
        box_scores: ``(N,)`` float64.
        track_ids: ``(N,)`` int64 ids across frames, or ``None`` when nothing tracked them.
        keypoint_names: the K names of the model's keypoint set (``config.keypoints``).

    ``len(poses)``, ``poses[i]`` and ``for person in poses`` give ``Person`` objects.
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    keypoint_names: tuple[str, ...]
    track_ids: np.ndarray | None = None

    @classmethod
    def from_persons(cls, persons: Persons, keypoint_names: tuple[str, ...]) -> Poses:
        """The pipeline's result (``(N, K, 3)`` keypoints with scores) as ``Poses``."""
        return cls(
            keypoints=persons.keypoints[..., :2].copy(),
            keypoint_scores=persons.keypoints[..., 2].copy(),
            scores=persons.scores.copy(),
            boxes=persons.boxes.copy(),
            box_scores=persons.box_scores.copy(),
            keypoint_names=keypoint_names,
        )

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: int) -> Person:
        track = None if self.track_ids is None else int(self.track_ids[index])
        return Person(
            keypoints=self.keypoints[index],
            keypoint_scores=self.keypoint_scores[index],
            score=float(self.scores[index]),
            box=self.boxes[index],
            box_score=float(self.box_scores[index]),
            track_id=track,
        )

    def __iter__(self) -> Iterator[Person]:
        return (self[i] for i in range(len(self)))

    def with_scores(self) -> np.ndarray:
        """``(N, K, 3)`` ``(x, y, score)``: the layout of the service's JSON and COCO results."""
        return np.concatenate([self.keypoints, self.keypoint_scores[..., None]], axis=-1)


def as_image(image: ImageInput) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 BGR array from an array (BGR, as OpenCV reads it; grayscale is
    expanded) or an image file path (EXIF orientation applied)."""
    if isinstance(image, str | Path):
        return read_image(str(image))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a NumPy array or a file path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0..255), got dtype {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) BGR or (H, W) gray, got shape {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image


def as_boxes(boxes: BoxesInput) -> np.ndarray | None:
    """``None`` or an ``(N, 4)`` float64 array of ``(x, y, w, h)`` boxes (N may be 0)."""
    if boxes is None:
        return None
    try:
        array = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"boxes must be numbers [[x, y, w, h], ...]: {exc}") from exc
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim == 1 and array.shape[0] == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as [[x, y, w, h], ...], got {array.shape}")
    return array


def resolve_model(
    model: str | Path,
    cache: str | Path | None = None,
    offline: bool = False,
    device: str | None = None,
) -> Path:
    """The model directory or checkpoint ``model`` names: an existing path, or a pose entry of
    the weights registry (``simplepose weights list``), fetched into the cache on first use
    (download, sha256 check, conversion, export with the bucket graphs ``device`` serves
    fastest; a cached export is checked and given the buckets it lacks)."""
    path = Path(model).expanduser()
    if path.exists() or str(model) not in REGISTRY:
        if not path.exists():
            raise FileNotFoundError(
                f"model not found: {model} is neither a path nor a registry name "
                f"(pose weights: {', '.join(n for n, e in REGISTRY.items() if e.kind == 'pose')})"
            )
        return path
    entry = REGISTRY[str(model)]
    if entry.kind != "pose":
        raise ValueError(f"{entry.name} is {entry.kind} weights, not a pose model")
    builders = {e.name: e for e in entry_points(group=MODEL_BUILDERS)}
    if REGISTRY_BUILDER in builders:
        return Path(builders[REGISTRY_BUILDER].load()(entry.name, cache, offline, device=device))
    # No export stage installed: whatever the cache already holds, as it is.
    cached = model_path(entry, cache)
    if (cached / MODEL_JSON).is_file():
        return cached
    if checkpoint_path(entry, cache).is_file():
        return checkpoint_path(entry, cache)
    raise RuntimeError(
        f"this installation cannot build {entry.name} (no {MODEL_BUILDERS} entry point); "
        f"run 'simplepose weights get {entry.name}'"
    )


class PoseEstimator:
    """Keypoints of the persons in an image, from a model directory, a checkpoint or a name.

    Args:
        model: an exported model directory (``model.json`` + ``model.mindir``/``model.onnx``,
            from ``simplepose export`` or ``simplepose weights get``), a ``.ckpt`` written by
            ``simplepose train``/``convert`` (run with the flip test, like the export), or a
            registry name such as ``"mmpose1-res50-256x192"`` (``simplepose weights list``),
            downloaded, converted and cached on first use, with the graphs ``device`` runs
            fastest (ONNX Runtime buckets on CPU when onnxruntime is installed, MindIR
            buckets on Ascend; see docs/fast-paths.md).
        device: ``"CPU"`` or ``"Ascend"``; default: Ascend when an NPU is visible, else CPU.
            MindSpore fixes the device for the whole process at the first model.
        device_id: the NPU index.
        decode: heatmap decoding, ``"dark"``, ``"quarter"`` or ``"argmax"``; default: the
            model's own ``config.test.decode``, as in the service.
        detector: finds the persons of an image called without ``boxes``: ``"auto"`` (the
            default: OpenMMLab's RTMDet-nano person detector when onnxruntime is installed,
            fetched once into the cache; else, or offline with an empty cache, ``"none"``
            labelled as a fallback in ``estimator.detector.info``), ``"none"`` (the whole image
            is one person), ``"hog"``, a detector registry name, an ONNX detector path (see
            ``simplepose.detection.load``), or any ``PersonDetector`` object.
        detector_options: a ``simplepose.detection.DetectorOptions`` (input size, mean/std,
            channel order, score threshold, NMS IoU, most persons) for a named detector.
        cache_dir: where registry models are cached (default ``$SIMPLEPOSE_CACHE_DIR``, else
            ``~/.cache/simplepose``).
        offline: never download; a registry model must already be in the cache.

    Decoding, flip test and thresholds (visibility for the person score, OKS NMS, box padding)
    come from the model's own config (``config.test``), as in the service, ``predict`` and
    ``evaluate``. Calls are thread-safe: the model runs one batch at a time.

    Raises:
        FileNotFoundError: ``model`` does not exist.
        ValueError: ``model`` is not a model directory or checkpoint, or an option is unknown.
        simplepose.hub.registry.WeightsUnavailable: a registry model can neither be found in the
            cache nor downloaded.
    """

    def __init__(
        self,
        model: str | Path,
        device: str | None = None,
        device_id: int = 0,
        decode: str | None = None,
        detector: str | PersonDetector = DEFAULT_DETECTOR,
        cache_dir: str | Path | None = None,
        offline: bool = False,
        detector_options: DetectorOptions | None = None,
    ):
        from simplepose.runtime.device import select_device
        from simplepose.runtime.model_loader import load_model

        if decode is not None and decode not in DECODE_METHODS:
            raise ValueError(f"decode must be one of {DECODE_METHODS}, got {decode!r}")
        path = resolve_model(model, cache_dir, offline, device)
        self.detector = (
            load_detector(detector, device or "auto", cache_dir, offline, detector_options)
            if isinstance(detector, str)
            else detector
        )
        self.device = select_device(device, device_id)
        self.model: HeatmapModel = load_model(path)
        self.pipeline = PosePipeline(self.model, decode=decode)
        self._detect_lock = threading.Lock()

    @property
    def info(self) -> ModelInfo:
        """The model's description (``model.json``): preset, input size, channel order, demo."""
        return self.model.info

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return tuple(self.info.keypoint_names)

    def __call__(
        self,
        image: ImageInput,
        boxes: BoxesInput = None,
        box_scores: Sequence[float] | np.ndarray | None = None,
        nms: bool = False,
    ) -> Poses:
        """Estimate the poses of the persons in one image.

        Args:
            image: ``(H, W, 3)`` uint8 BGR (as ``cv2.imread`` returns it), ``(H, W)`` gray, or
                an image file path.
            boxes: person boxes ``(N, 4)`` ``[[x, y, w, h], ...]`` in image pixels (clipped to
                the image); ``None``: the detector finds them.
            box_scores: ``(N,)`` scores of the given boxes (default 1.0 each).
            nms: drop persons that overlap a better one by OKS (off by default, as in the
                service's ``nms`` query parameter).

        Returns:
            ``Poses``, best person first.

        Raises:
            ValueError: a malformed image or boxes; ``geometry.BoxError`` (a ``ValueError``)
                names the box that lies outside the image or is degenerate.
        """
        bgr = as_image(image)
        box_array = as_boxes(boxes)
        scores = None if box_scores is None else np.asarray(box_scores, dtype=np.float64)
        if box_array is None:
            with self._detect_lock:  # detectors need not be thread-safe
                found = self.detector.detect(bgr)
            box_array, scores = found.boxes, found.scores
        persons = self.pipeline(bgr, box_array, scores, nms=nms)
        return Poses.from_persons(persons, self.keypoint_names)

    def render(self, image: ImageInput, poses: Poses, draw_boxes: bool = True) -> np.ndarray:
        """A copy of ``image`` (BGR) with the skeletons drawn (and the boxes unless
        ``draw_boxes=False``); keypoints at or below the visibility threshold are left out, as
        in the service's ``POST /keypoints/render``."""
        bgr = as_image(image)
        return draw_persons(
            bgr,
            poses.with_scores(),
            poses.boxes if draw_boxes else None,
            min_score=self.pipeline.in_vis_thre,
            keypoint_set=self.pipeline.keypoints,
        )
