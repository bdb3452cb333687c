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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simplepose.codec import DECODE_METHODS
from simplepose.drawing import draw_persons
from simplepose.keypoints import KEYPOINT_NAMES
from simplepose.model_info import ModelInfo
from simplepose.pipeline import HeatmapModel, Persons, PosePipeline, read_image

DEFAULT_DECODE = "dark"  # the service's default (SIMPLEPOSE_DECODE)

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
        keypoint_names: the K names, COCO order (``nose``, ``left_eye``, ...).

    ``len(poses)``, ``poses[i]`` and ``for person in poses`` give ``Person`` objects.
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    track_ids: np.ndarray | None = None
    keypoint_names: tuple[str, ...] = KEYPOINT_NAMES

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


class PoseEstimator:
    """Keypoints of the persons in an image, from a model directory, a checkpoint or a name.

    Args:
        model: an exported model directory (``model.json`` + ``model.mindir``/``model.onnx``,
            from ``simplepose export`` or ``simplepose weights get``), or a ``.ckpt`` written by
            ``simplepose train``/``convert`` (run with the flip test, like the export).
        device: ``"CPU"`` or ``"Ascend"``; default: Ascend when an NPU is visible, else CPU.
            MindSpore fixes the device for the whole process at the first model.
        device_id: the NPU index.
        decode: heatmap decoding, ``"dark"`` (default, as the service), ``"quarter"`` or
            ``"argmax"``.

    Thresholds (visibility for the person score, OKS NMS) come from the same place as the
    service's. Calls are thread-safe: the model runs one batch at a time.

    Raises:
        FileNotFoundError: ``model`` does not exist.
        ValueError: ``model`` is not a model directory or checkpoint, or an option is unknown.
    """

    def __init__(
        self,
        model: str | Path,
        device: str | None = None,
        device_id: int = 0,
        decode: str = DEFAULT_DECODE,
    ):
        from simplepose.network.device import select_device
        from simplepose.network.runtime import load_model

        if decode not in DECODE_METHODS:
            raise ValueError(f"decode must be one of {DECODE_METHODS}, got {decode!r}")
        self.device = select_device(device, device_id)
        self.model: HeatmapModel = load_model(Path(model))
        self.pipeline = PosePipeline(self.model, decode=decode, flip=True)

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
            boxes: person boxes ``(N, 4)`` ``[[x, y, w, h], ...]`` in image pixels; ``None``:
                the whole image is one person. Boxes are clipped to the image.
            box_scores: ``(N,)`` scores of the boxes (default 1.0 each).
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
        )
