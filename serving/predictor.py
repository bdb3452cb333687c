"""The request path of ``POST /keypoints``: bytes -> persons, with each stage timed.

Decode and crop run in the thread pool, the model call in the batching executor (one thread per
device), decoding the heatmaps back in the thread pool, so the stages of different requests
overlap. The crop, the model call and the decoding are ``simplepose.pose.pipeline.PosePipeline``'s,
the same code ``simplepose evaluate`` runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from simplepose.detection import DetectorInfo, PersonDetector, WholeImageDetector
from simplepose.pose.codec import DECODE_METHODS
from simplepose.pose.geometry import BoxError
from simplepose.pose.pipeline import HeatmapModel, Persons, PosePipeline
from simplepose.runtime.on_device import model_summary
from simplepose.serving.batching import BatchingExecutor, ExecutorClosed, QueueFull
from simplepose.serving.boxes import parse_boxes
from simplepose.serving.detection_stage import CLIENT_BOXES, DetectionStage, FoundBoxes
from simplepose.serving.http_errors import ServiceError
from simplepose.serving.images import DecodedImage, decode_image
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    image: DecodedImage
    persons: Persons
    timing_ms: dict[str, float]
    boxes_from: DetectorInfo  # the detector that produced the boxes, or CLIENT_BOXES


def detector_summary(info: DetectorInfo) -> dict[str, Any]:
    summary: dict[str, Any] = {"name": info.name, "label": info.label, "fallback": info.fallback}
    if info.rules is not None:
        summary["score_threshold"] = info.rules.score_thr
        summary["nms_iou"] = info.rules.nms_iou
        summary["max_persons"] = info.rules.max_persons
    return summary


def batch_plan(model: HeatmapModel, max_batch: int) -> tuple[int, list[int] | None]:
    """Largest batch per model call, and the sizes calls are padded to (``None``: any size).

    A bucketed model (one static-shape graph per size) gets its buckets up to ``max_batch``:
    the executor pads each call to the smallest bucket that holds it, and warm-up runs every
    bucket. A single fixed-batch graph gets multiples of its batch (the model pads/splits).
    A checkpoint run eagerly in graph mode compiles once per input shape (seconds each), so its
    calls are padded to powers of two up to ``max_batch`` and all of them are compiled at
    warm-up, instead of stalling requests on a compile of each new size. Dynamic MindIR
    graphs take any batch.
    """
    info = model.info
    buckets: tuple[int, ...] = getattr(model, "batch_sizes", None) or ()
    if len(buckets) == 1:
        return buckets[0] * max(1, max_batch // buckets[0]), None
    if buckets:
        sizes = [n for n in buckets if n <= max_batch] or [buckets[0]]
        return sizes[-1], sizes
    if info.format == "checkpoint":
        sizes = [1 << i for i in range(max_batch.bit_length()) if 1 << i < max_batch]
        return max_batch, [*sizes, max_batch]
    return max_batch, None


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


class KeypointPredictor:
    """Owns the model's pipelines and its device executor; one per app."""

    def __init__(
        self,
        model: HeatmapModel,
        settings: Settings,
        metrics: ServiceMetrics,
        device: str = "CPU",
        detector: PersonDetector | None = None,
    ):
        self.model = model
        self.info = model.info
        self.settings = settings
        self.metrics = metrics
        self.device = device
        self.detector: PersonDetector = detector or WholeImageDetector()
        self.detection = DetectionStage(
            self.detector,
            max_batch=settings.detector_max_batch,
            max_wait_s=settings.max_wait_ms / 1000.0,
            max_queue=settings.queue_size,
            on_batch=metrics.observe_detector_batch,
        )
        # One pipeline per decode method; they share the model and differ only in decoding.
        # Everything else (thresholds, flip, padding) comes from the model's own config.
        self.pipelines = {m: PosePipeline(model, decode=m) for m in DECODE_METHODS}
        self.default_decode = settings.decode or self.info.config.test.decode
        self.params = self.pipelines[self.default_decode].params
        self.summary = model_summary(model, device)
        self.detector_summary = detector_summary(self.detection.info)
        max_batch, self.batch_sizes = batch_plan(model, settings.max_batch)
        self.executor = BatchingExecutor(
            self.pipelines[self.default_decode].infer,
            max_batch=max_batch,
            max_wait_s=settings.max_wait_ms / 1000.0,
            max_queue=settings.queue_size,
            batch_sizes=self.batch_sizes,
            on_batch=metrics.observe_batch,
            on_queue_depth=metrics.queue_depth.set,
        )
        self.ready = False

    def warm_up(self) -> float:
        """Run the model once at each batch size it will see (compiles them); returns seconds."""
        start = time.perf_counter()
        w, h = self.info.model.input_size
        for n in self.batch_sizes or sorted({1, self.executor.max_batch}):
            self.executor.submit(np.zeros((n, 3, h, w), np.float32)).result()
        self.detection.warm_up()
        self.ready = True
        self.metrics.ready.set(1)
        return time.perf_counter() - start

    def close(self, timeout: float | None = None) -> bool:
        self.ready = False
        self.metrics.ready.set(0)
        detection_done = self.detection.close(timeout)
        return self.executor.close(timeout) and detection_done

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(N, 4)`` and scores ``(N,)`` of one image, found on the detection
        executor (blocking: call it from a worker thread); 503 ``ServiceError`` when busy."""
        with self._busy():
            future = self.detection.submit(image_bgr)
        found = future.result()
        return found.boxes, found.scores

    def submit(self, crops: np.ndarray) -> Future[np.ndarray]:
        """Queue crops on the device executor; 503 ``ServiceError`` when full or closing."""
        with self._busy():
            return self.executor.submit(crops)

    async def predict(
        self,
        data: bytes,
        content_type: str | None,
        boxes_json: str | None = None,
        decode: str | None = None,
        nms: bool = False,
        detector: str | None = None,
        spend_persons: Callable[[int], None] | None = None,
    ) -> Prediction:
        """``spend_persons(n)`` is called once the number of person crops is known, before
        any crop is made; it raises to refuse the request (the caller's quota)."""
        s = self.settings
        pipeline = self.pipelines[decode or self.default_decode]
        t0 = time.perf_counter()
        if detector is not None and detector not in self.detection.choices():
            raise ServiceError(
                422, "unknown_detector",
                f"detector must be one of {', '.join(self.detection.choices())} (the server's "
                f"detector is chosen with --detector / SIMPLEPOSE_DETECTOR), got {detector[:80]!r}",
            )  # fmt: skip
        requested = await run_in_threadpool(parse_boxes, boxes_json, s.max_boxes)
        image = await run_in_threadpool(
            decode_image, data, content_type, s.max_upload_bytes, s.max_pixels
        )
        t1 = time.perf_counter()
        if requested is None:
            with self._busy():
                found = await self.detection.find(image.bgr, detector)
        else:
            found = FoundBoxes(*requested, CLIENT_BOXES)
        if spend_persons is not None:
            spend_persons(len(found.boxes))
        t_detect = time.perf_counter()
        try:
            crops = await run_in_threadpool(
                pipeline.preprocess, image.bgr, found.boxes, found.scores
            )
        except BoxError as exc:
            raise ServiceError(422, "invalid_boxes", str(exc)) from exc
        t2 = time.perf_counter()
        if len(crops.batch):
            outputs = await asyncio.wrap_future(self.submit(crops.batch))
        else:  # the detector found nobody: no model call, "persons": []
            outputs = pipeline.infer(crops.batch)
        t3 = time.perf_counter()
        persons = await run_in_threadpool(pipeline.postprocess, outputs, crops, nms)
        t4 = time.perf_counter()
        timing = {
            "decode_image": _ms(t0, t1),
            "detect": _ms(t1, t_detect),
            "preprocess": _ms(t_detect, t2),
            "inference": _ms(t2, t3),
            "postprocess": _ms(t3, t4),
            "total": _ms(t0, t4),
        }
        self.metrics.observe_stages(timing)
        self.metrics.persons.observe(len(crops.boxes))
        return Prediction(image, persons, timing, found.source)

    @contextmanager
    def _busy(self) -> Iterator[None]:
        """Executor refusals -> 503 with Retry-After."""
        retry = {"Retry-After": str(self.settings.retry_after_s)}
        try:
            yield
        except QueueFull as exc:
            raise ServiceError(
                503, "queue_full", f"server busy: {exc}; retry later", retry
            ) from exc
        except ExecutorClosed as exc:
            raise ServiceError(503, "shutting_down", str(exc), retry) from exc
