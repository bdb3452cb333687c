"""The public Python API: a pose estimator in one call (the one inference facade).

    from simplepose import PoseEstimator

    estimator = PoseEstimator("models/r50")           # a model dir, .ckpt or registry name
    poses = estimator("photo.jpg")                    # or a BGR array, boxes=[[x, y, w, h]]
    for person in poses:
        print(person.score, person.keypoints[0])      # nose (x, y) in image pixels
    everything = estimator(["a.jpg", "b.jpg"])        # or a folder: one batched call
    cv2.imwrite("out.jpg", poses.plot("photo.jpg"))
    for frame in estimator.track("clip.mp4"):         # poses with track_ids across frames
        print(frame.track_ids)

It runs the same ``PosePipeline`` as ``simplepose serve``, ``predict`` and ``evaluate`` (crop,
flip test, decode, back-projection, rescoring), with the service's defaults, so the keypoints
equal the service's for the same image, boxes and model (tested on coco-mini val). The model is
found by the model hub (``simplepose.hub.resolve``) and loaded by ``load_on_device``: an
exported ONNX model runs with the base install, without MindSpore. Everything it returns is
NumPy arrays in plain dataclasses.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.config.model_info import ModelInfo
from simplepose.detection.base import PersonDetector
from simplepose.detection.load import DEFAULT_DETECTOR
from simplepose.detection.options import DetectorOptions
from simplepose.hub.resolve import (
    NO_BUILDERS,
    Builders,
    HubOptions,
    ResolvedModel,
    resolve_detector,
    resolve_model,
)
from simplepose.pose.codec import DECODE_METHODS
from simplepose.pose.inputs import BoxesInput, ImageInput, as_boxes, as_image, image_files
from simplepose.pose.pipeline import Crops, Persons, PosePipeline
from simplepose.poses import Person, Poses
from simplepose.runtime.on_device import load_on_device
from simplepose.video.frames import Frame

__all__ = ["Person", "PoseEstimator", "Poses", "as_boxes", "as_image"]
DEFAULT_MAX_BATCH = 16  # person crops per model call, as the service's max_batch
IMAGES_PER_STEP = 8  # images of a list/folder held in memory at once


class PoseEstimator:
    """Keypoints of the persons in images and videos, from a model directory, a checkpoint or a
    registry name (the model hub, ``simplepose.hub.resolve``).

    Args:
        model: an exported model directory (``model.json`` + graphs, from ``simplepose export``
            or ``simplepose weights get``), a ``.ckpt`` (run with the flip test, like the
            export), or a registry name such as ``"mmpose1-res50-256x192"`` (``simplepose
            weights list``): its build in the cache, built first by ``builders`` when given
            (``simplepose.cli.models.BUILDERS``; needs MindSpore), else ``simplepose weights
            get NAME`` builds it once. ``None``: the default registry model.
        device: ``"CPU"`` or ``"Ascend"``; default: Ascend when an NPU is visible, else CPU.
            MindSpore fixes the device for the whole process at the first model.
        device_id: the NPU index.
        backend: the runtime of an exported directory (``simplepose.runtime.backends``);
            ``auto``: ONNX Runtime buckets on CPU when the directory has them, as the service.
        threads: CPU intra-op threads (default: the usable CPUs), as ``--threads``.
        decode: ``"dark"``, ``"quarter"`` or ``"argmax"``; default: the model's config.
        detector: finds the persons of images given without boxes: ``"auto"`` (the default:
            OpenMMLab's RTMDet-nano person detector, fetched once into the cache; when it cannot
            be had, ``none``, labelled as a fallback in ``estimator.detector.info``), ``"none"``
            (the whole image is one person), ``"hog"``, a detector registry name, an ONNX
            detector path (see ``simplepose.detection.load``), or any ``PersonDetector``.
        detector_options: a ``simplepose.detection.DetectorOptions`` (input size, mean/std,
            channel order, score threshold, NMS IoU, most persons) for a named detector, as
            the service's ``--detector-*`` options.
        max_batch: most person crops per model call (images of a list share calls).
        cache_dir: the hub's cache (default ``$SIMPLEPOSE_CACHE_DIR``, else
            ``~/.cache/simplepose``).
        offline: never download.
        builders: what builds registry/demo models missing from the cache (``simplepose.hub.
            resolve.Builders``); default: none, cached builds only.

    Decoding, flip test and thresholds come from the model's own config (``config.test``), as in
    the service, ``predict`` and ``evaluate``. Calls are thread-safe.

    Raises:
        simplepose.hub.errors.HubError: the model or detector cannot be resolved (a
            ``FileNotFoundError`` or ``ValueError`` subclass, one message format).
        ValueError: an option is unknown, or the model needs MindSpore and it is not installed.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        device: str | None = None,
        device_id: int = 0,
        backend: str = "auto",
        threads: int | None = None,
        decode: str | None = None,
        detector: str | PersonDetector = DEFAULT_DETECTOR,
        max_batch: int = DEFAULT_MAX_BATCH,
        cache_dir: str | Path | None = None,
        offline: bool = False,
        detector_options: DetectorOptions | None = None,
        builders: Builders = NO_BUILDERS,
    ):
        if decode is not None and decode not in DECODE_METHODS:
            raise ValueError(f"decode must be one of {DECODE_METHODS}, got {decode!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        options = HubOptions(
            cache=None if cache_dir is None else Path(cache_dir), offline=offline,
            device=device, device_id=device_id, backend=backend,
        )  # fmt: skip
        self.source: ResolvedModel = resolve_model(model, options, builders)
        self.detector: PersonDetector = resolve_detector(detector, options, detector_options)
        self.model, self.device = load_on_device(
            self.source.path, device, device_id, backend=backend, threads=threads
        )
        self.pipeline = PosePipeline(self.model, decode=decode)
        self.max_batch = max_batch
        self._lock = threading.Lock()  # detectors and the pipeline's model: one call at a time

    @property
    def info(self) -> ModelInfo:
        """The model's description (``model.json``): preset, input size, channel order, demo."""
        return self.model.info

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return tuple(self.info.keypoint_names)

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The detector's ``(boxes, scores)`` of one BGR image (its thresholds:
        ``detector_options``)."""
        with self._lock:
            found = self.detector.detect(image)
        return found.boxes, found.scores

    def __call__(
        self,
        image: ImageInput | Sequence[ImageInput],
        boxes: BoxesInput = None,
        box_scores: Sequence[float] | np.ndarray | None = None,
        nms: bool = False,
    ) -> Any:
        """Estimate the poses in one image, or in a list of images / a folder (batched).

        Args:
            image: ``(H, W, 3)`` uint8 BGR (as ``cv2.imread`` returns it), ``(H, W)`` gray, an
                image file path; or a list of those, or a folder path (its images, sorted).
            boxes: person boxes ``(N, 4)`` ``[[x, y, w, h], ...]`` in image pixels (one image
                only); ``None``: the detector finds them.
            box_scores: ``(N,)`` scores of the given boxes (default 1.0 each).
            nms: drop persons that overlap a better one by OKS (off by default, as the
                service's ``nms`` query parameter).

        Returns:
            ``Poses`` (best person first) for one image; a list of them for a list or folder.

        Raises:
            ValueError: a malformed image or boxes; ``geometry.BoxError`` (a ``ValueError``)
                names the box that lies outside the image or is degenerate.
        """
        many = isinstance(image, list | tuple) or (
            isinstance(image, str | Path) and Path(image).is_dir()
        )
        if not many:
            found = as_boxes(boxes)
            scores = None if box_scores is None else np.asarray(box_scores, dtype=np.float64)
            return self._estimate([(image, found, scores)], nms)[0]
        if boxes is not None or box_scores is not None:
            raise ValueError("boxes are per image: pass them with one image at a time")
        items = image_files([image]) if isinstance(image, str | Path) else list(image)
        return self.predict(items, nms=nms)

    def predict(self, images: Iterable[ImageInput], nms: bool = False) -> list[Poses]:
        """``Poses`` of each image, their person crops batched across images."""
        return list(self.iter_predict(images, nms))

    def iter_predict(self, images: Iterable[ImageInput], nms: bool = False) -> Iterator[Poses]:
        """``predict`` as a generator: ``IMAGES_PER_STEP`` images in memory at a time."""
        step: list[tuple[ImageInput, None, None]] = []
        for image in images:
            step.append((image, None, None))
            if len(step) == IMAGES_PER_STEP:
                yield from self._estimate(step, nms)
                step = []
        if step:
            yield from self._estimate(step, nms)

    def _estimate(self, items: list, nms: bool) -> list[Poses]:
        prepared: list[tuple[np.ndarray, Crops, str | None]] = []
        for image, boxes, scores in items:
            bgr = as_image(image)
            if boxes is None:
                boxes, scores = self.detect(bgr)
            source = str(image) if isinstance(image, str | Path) else None
            prepared.append((bgr, self.pipeline.preprocess(bgr, boxes, scores), source))
        batch = np.concatenate([crops.batch for _, crops, _ in prepared])
        with self._lock:
            outputs = [self.pipeline.infer(batch[i : i + self.max_batch])
                       for i in range(0, max(len(batch), 1), self.max_batch)]  # fmt: skip
        out = np.concatenate(outputs)
        results, start = [], 0
        for bgr, crops, source in prepared:
            end = start + len(crops.batch)
            persons = self.pipeline.postprocess(out[start:end], crops, nms=nms)
            results.append(self._poses(persons, source, bgr.shape))
            start = end
        return results

    def _poses(self, persons: Persons, source: str | None, shape: tuple, **extra: Any) -> Poses:
        return Poses.from_persons(
            persons, self.pipeline.keypoints, source=source, image_size=(shape[1], shape[0]),
            min_keypoint_score=self.pipeline.in_vis_thre, **extra,
        )  # fmt: skip

    def track(
        self,
        video: str | Path | Iterable[np.ndarray | Frame],
        detect_every: int | None = None,
        smooth: bool | None = None,
        fps: float | None = None,
    ) -> Iterator[Poses]:
        """Track the persons of a video file, an image folder or an iterable of BGR frames (or
        ``simplepose.video.frames.Frame``s);
        yields each frame's ``Poses`` with ``track_ids`` filled (ids stay with a person across
        frames). ``detect_every``/``smooth``/``fps`` override the model's ``config.track``
        (the detector runs every ``detect_every``-th frame; optical flow carries boxes between).
        Video files need the ``video`` extra (PyAV)."""
        from simplepose.video.frames import open_frames
        from simplepose.video.track_pipeline import TrackingPipeline

        base = self.info.config.track
        rate = fps or base.fps
        if isinstance(video, str | Path):
            opened = open_frames(video, fps=rate)
            rate = opened.info.fps
            frames: Iterable[Frame] = opened
        else:
            frames = (
                f if isinstance(f, Frame) else Frame(i, i / rate, as_image(f), "")
                for i, f in enumerate(video)
            )
        config = replace(
            base, fps=rate, detect_every=detect_every or base.detect_every,
            smoothing=base.smoothing if smooth is None else smooth,
        )  # fmt: skip
        tracker = TrackingPipeline(self.pipeline, self.detect, config, submit=self._submit)
        folder = Path(video) if isinstance(video, str | Path) and Path(video).is_dir() else None
        read: deque[Frame] = deque()  # frames the tracker has read ahead, in order

        def reading() -> Iterator[Frame]:
            for frame in frames:
                read.append(frame)
                yield frame

        for tracked in tracker.run(reading()):
            frame = read.popleft()
            shown = str(folder / frame.name) if folder is not None and frame.name else None
            yield self._poses(tracked.persons, shown, frame.image.shape,
                              track_ids=np.asarray(tracked.track_ids, dtype=np.int64))  # fmt: skip

    def _submit(self, batch: np.ndarray):  # the TrackingPipeline's SubmitFn, under the lock
        from concurrent.futures import Future

        future: Future[np.ndarray] = Future()
        with self._lock:
            future.set_result(self.pipeline.infer(batch))
        return future

    def render(self, image: ImageInput, poses: Poses, draw_boxes: bool = True) -> np.ndarray:
        """``poses.plot(image)``: a copy of ``image`` (BGR) with the skeletons drawn."""
        return poses.plot(image, draw_boxes)
