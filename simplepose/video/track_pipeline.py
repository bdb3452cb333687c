"""Video frames -> tracked persons: detector (every N-th frame) + flow boxes -> pose -> tracker.

Used by ``simplepose predict --track``, ``POST /keypoints/video`` and the WebSocket stream, so the
three give the same tracks. NumPy/OpenCV only; the model call goes through ``submit``, which
returns a ``concurrent.futures.Future`` (the service passes its batching executor, offline runs
call the pipeline directly).

Batching: a detection frame's boxes do not depend on earlier frames, so ``run`` detects and
submits the crops of the next ``lookahead`` detection frames ahead of time, and the executor
batches them together; only the flow boxes of a frame wait for the previous frame's keypoints.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from simplepose.config.presets import TrackConfig
from simplepose.pose.persons import oks_nms, scale_areas
from simplepose.pose.pipeline import Crops, Persons, PosePipeline
from simplepose.video.frames import Frame
from simplepose.video.tracker import PoseTracker, TrackedFrame, merge_boxes

# image -> person boxes (N, 4) xywh and their scores (N,)
DetectFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
SubmitFn = Callable[[np.ndarray], "Future[np.ndarray]"]
LOOKAHEAD_FRAMES = 8  # frames decoded and detected ahead of the tracker in ``run``


def run_now(infer: Callable[[np.ndarray], np.ndarray]) -> SubmitFn:
    """A ``submit`` that runs ``infer`` at once in the calling thread."""

    def submit(batch: np.ndarray) -> Future[np.ndarray]:
        future: Future[np.ndarray] = Future()
        try:
            future.set_result(infer(batch))
        except Exception as exc:  # re-raised by future.result()
            future.set_exception(exc)
        return future

    return submit


@dataclass(frozen=True)
class _Pending:
    crops: Crops
    outputs: Future[np.ndarray]


def take_persons(persons: Persons, index: np.ndarray) -> Persons:
    """The persons at ``index``, in that order."""
    return Persons(*(getattr(persons, f.name)[index] for f in dataclasses.fields(Persons)))


def concat_persons(parts: list[Persons]) -> Persons:
    return Persons(
        *(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Persons))
    )


class TrackingPipeline:
    """One video's tracker around a shared ``PosePipeline``.

    Args:
        pipeline: crops, decoding and rescoring (its model is called only through ``submit``).
        detect: the person detector; ``None`` runs on flow boxes alone (after ``seed`` boxes).
        config: tracking parameters; default the model config's ``track`` section.
        submit: ``batch -> Future[outputs]``; default runs ``pipeline.infer`` immediately.
    """

    def __init__(
        self,
        pipeline: PosePipeline,
        detect: DetectFn | None,
        config: TrackConfig | None = None,
        submit: SubmitFn | None = None,
    ):
        self.pipeline = pipeline
        self.detect = detect
        self.config = config or pipeline.info.config.track
        self.tracker = PoseTracker(
            self.config, pipeline.in_vis_thre, sigmas=pipeline.keypoints.sigma_array()
        )
        self.submit = submit or run_now(pipeline.infer)

    def is_detection_frame(self, index: int) -> bool:
        return self.detect is not None and index % self.config.detect_every == 0

    def _estimate(
        self, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray
    ) -> _Pending | None:
        if not len(boxes):
            return None
        crops = self.pipeline.preprocess(image, boxes, scores)
        return _Pending(crops, self.submit(crops.batch))

    def detect_and_submit(self, image: np.ndarray) -> _Pending | None:
        """Detector boxes of one frame, cropped and submitted to the model."""
        if self.detect is None:
            return None
        boxes, scores = self.detect(image)
        return self._estimate(image, np.asarray(boxes).reshape(-1, 4), np.asarray(scores))

    def _finish(self, pending: _Pending | None) -> Persons | None:
        if pending is None:
            return None
        return self.pipeline.postprocess(pending.outputs.result(), pending.crops)

    def step(self, frame: Frame, detected: _Pending | None | bool = True) -> TrackedFrame:
        """Track one frame. ``detected``: the frame's submitted detections from
        ``detect_and_submit``, or ``True`` to detect here when it is a detection frame."""
        if detected is True:
            detected = (
                self.detect_and_submit(frame.image)
                if self.is_detection_frame(frame.index)
                else None
            )
        flow_boxes, flow_scores = self.tracker.advance(frame.image)
        det_boxes = detected.crops.boxes if isinstance(detected, _Pending) else np.zeros((0, 4))
        keep = merge_boxes(det_boxes, flow_boxes, self.config.box_nms_iou)
        flowed = self._finish(self._estimate(frame.image, flow_boxes[keep], flow_scores[keep]))
        parts = []
        found = self._finish(detected if isinstance(detected, _Pending) else None)
        if found is not None:
            parts.append(found)
        if flowed is not None:
            # A flow box on a person who has left or is hidden finds only background.
            parts.append(
                take_persons(
                    flowed, np.flatnonzero(flowed.scores >= self.config.propagated_min_score)
                )
            )
        persons = concat_persons(parts) if parts else self._no_persons()
        if len(persons) > 1:  # a detection and a flow box on the same person: keep one pose
            order = oks_nms(
                persons.keypoints, persons.scores, scale_areas(persons.scales),
                self.pipeline.oks_thre, self.pipeline.keypoints.sigma_array(),
                joint_threshold=self.pipeline.in_vis_thre,
            )  # fmt: skip
            persons = take_persons(persons, order)
        return self.tracker.update(persons, frame.time)

    def _no_persons(self) -> Persons:
        k = self.pipeline.info.model.num_joints
        return Persons(
            np.zeros((0, k, 3)), np.zeros(0), np.zeros((0, 4)), np.zeros(0),
            np.zeros((0, 2)), np.zeros((0, 2)),
        )  # fmt: skip

    def run(
        self, frames: Iterable[Frame], lookahead: int = LOOKAHEAD_FRAMES
    ) -> Iterator[TrackedFrame]:
        """Track a sequence of frames, detecting up to ``lookahead`` frames ahead."""
        queue: deque[tuple[Frame, _Pending | None]] = deque()
        for frame in frames:
            pending = (
                self.detect_and_submit(frame.image)
                if self.is_detection_frame(frame.index)
                else None
            )
            queue.append((frame, pending))
            if len(queue) > lookahead:
                yield self.step(*queue.popleft())
        while queue:
            yield self.step(*queue.popleft())
