"""The detection stage of ``POST /keypoints``: where person boxes come from for a request.

Client boxes always win. Without them the configured detector runs on its own serialized
executor (one thread, images batched across requests up to ``detector_max_batch``), so it never
blocks the event loop and never runs on two threads at once; ``detector=none`` in the query
keeps the whole image as one person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from simplepose.detection import (
    Detections,
    DetectorInfo,
    LoopingDetector,
    PersonDetector,
    WholeImageDetector,
)
from simplepose.serving.batching import BatchingExecutor, BatchStats

CLIENT_BOXES = DetectorInfo(name="client", label="client boxes (no detector run)")
NO_DETECTOR = "none"


@dataclass(frozen=True)
class FoundBoxes:
    """Person boxes of one request and who produced them."""

    boxes: np.ndarray
    scores: np.ndarray
    source: DetectorInfo


def _image_array(image_bgr: np.ndarray) -> np.ndarray:
    """One image as a length-1 object array: the batching executor's unit of work."""
    holder = np.empty(1, dtype=object)
    holder[0] = image_bgr
    return holder


class DetectionStage:
    """Owns the detector and its executor; one per app."""

    def __init__(
        self,
        detector: PersonDetector,
        max_batch: int,
        max_wait_s: float,
        max_queue: int,
        on_batch: Callable[[BatchStats], None] | None = None,
    ):
        self.detector = detector
        self.info = detector.info
        self.whole_image = WholeImageDetector()
        # A detector that loops over images gains nothing from waiting for a batch to fill.
        batches = not isinstance(detector, LoopingDetector)
        self.executor = BatchingExecutor(
            self._run,
            max_batch=max_batch,
            max_wait_s=max_wait_s if batches else 0.0,
            max_queue=max_queue,
            on_batch=on_batch,
            name="detection",
        )

    def _run(self, images: np.ndarray) -> np.ndarray:
        found = self.detector.detect_batch(list(images))
        out = np.empty(len(found), dtype=object)
        for i, detections in enumerate(found):
            out[i] = detections
        return out

    def choices(self) -> tuple[str, ...]:
        """What the ``detector`` query parameter accepts."""
        return tuple(dict.fromkeys((self.info.name, NO_DETECTOR)))

    async def find(self, image_bgr: np.ndarray, choice: str | None = None) -> FoundBoxes:
        """Boxes for an image sent without boxes: the configured detector, or ``none``."""
        if choice == NO_DETECTOR or (choice is None and self.info.name == NO_DETECTOR):
            found = self.whole_image.detect(image_bgr)
            # the server's own "none" keeps its label (e.g. the labelled fallback)
            source = self.info if self.info.name == NO_DETECTOR else self.whole_image.info
            return FoundBoxes(found.boxes, found.scores, source)
        result = await asyncio.wrap_future(self.submit(image_bgr))
        return FoundBoxes(result.boxes, result.scores, self.info)

    def submit(self, image_bgr: np.ndarray) -> Future[Detections]:
        """Queue one image on the detector's executor (``QueueFull``/``ExecutorClosed`` when it
        cannot take it); the future resolves to its ``Detections``."""
        outer: Future[Detections] = Future()
        inner = self.executor.submit(_image_array(image_bgr))

        def done(f: Future) -> None:
            exc = f.exception()
            if exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(f.result()[0])

        inner.add_done_callback(done)
        return outer

    def warm_up(self, image_size: tuple[int, int] = (320, 240)) -> None:
        """One detection on a blank image (loads kernels, allocates buffers)."""
        if self.info.name != NO_DETECTOR:
            blank = np.zeros((image_size[1], image_size[0], 3), np.uint8)
            self.executor.submit(_image_array(blank)).result()

    def close(self, timeout: float | None = None) -> bool:
        return self.executor.close(timeout)
