"""What ``PoseEstimator`` returns: ``Poses`` (the persons of one image, NumPy arrays) and
``Person`` (one of them), with their JSON, COCO and drawn forms."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from simplepose.drawing import draw_persons
from simplepose.pose.inputs import ImageInput, as_image
from simplepose.pose.keypoints import COCO17, PERSON_CATEGORY_ID, KeypointSet
from simplepose.pose.persons import coco_keypoint_results
from simplepose.pose.pipeline import Persons


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
        keypoint_set: the model's keypoint set (``config.keypoints``: names, skeleton, colours
            ``plot`` draws with); ``keypoint_names`` its K names.
        source: the image file the poses come from, when it was given by path.
        image_size: ``(width, height)`` of that image.
        min_keypoint_score: the model's visibility threshold (``plot`` leaves out keypoints at
            or below it, as the service's drawings do).

    ``len(poses)``, ``poses[i]`` and ``for person in poses`` give ``Person`` objects.
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    track_ids: np.ndarray | None = None
    keypoint_set: KeypointSet = COCO17
    source: str | None = None
    image_size: tuple[int, int] = (0, 0)
    min_keypoint_score: float = 0.2

    @classmethod
    def from_persons(cls, persons: Persons, keypoint_set: KeypointSet, **extra: Any) -> Poses:
        """The pipeline's result (``(N, K, 3)`` keypoints with scores) as ``Poses``."""
        return cls(
            keypoints=persons.keypoints[..., :2].copy(),
            keypoint_scores=persons.keypoints[..., 2].copy(),
            scores=persons.scores.copy(),
            boxes=persons.boxes.copy(),
            box_scores=persons.box_scores.copy(),
            keypoint_set=keypoint_set,
            **extra,
        )

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.keypoint_set.names

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

    def to_json(self) -> list[dict[str, Any]]:
        """One dict per person, the service's ``persons`` layout: ``track_id`` (when tracked),
        ``bbox`` ``[x, y, w, h]``, ``bbox_score``, ``score``, ``keypoints`` ``[[x, y, s], ...]``."""
        points = self.with_scores()
        return [
            {
                **({} if p.track_id is None else {"track_id": p.track_id}),
                "bbox": [float(v) for v in p.box],
                "bbox_score": p.box_score,
                "score": p.score,
                "keypoints": points[i].tolist(),
            }
            for i, p in enumerate(self)
        ]

    def to_coco(self, image_id: int, category_id: int = PERSON_CATEGORY_ID) -> list[dict[str, Any]]:
        """COCO keypoint results of the persons (``pycocotools`` ``loadRes`` reads them, as
        ``simplepose evaluate --output`` writes them). ``category_id``: the id of the keypoint
        set's category in the annotations they are scored against (COCO's person, 1, by
        default; a dataset file's own category may have another)."""
        return coco_keypoint_results(
            image_id, self.with_scores(), self.scores, self.boxes, category_id
        )

    def plot(self, image: ImageInput | None = None, draw_boxes: bool = True) -> np.ndarray:
        """A copy of ``image`` (default: the ``source`` file) as BGR with the skeletons drawn
        (track ids too when tracked), ready for ``cv2.imwrite``."""
        if image is None:
            if self.source is None:
                raise ValueError("plot() needs the image: these poses did not come from a file")
            image = self.source
        return draw_persons(
            as_image(image), self.with_scores(), self.boxes if draw_boxes else None,
            min_score=self.min_keypoint_score, track_ids=self.track_ids,
            keypoint_set=self.keypoint_set,
        )  # fmt: skip
