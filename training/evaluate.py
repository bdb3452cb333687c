"""COCO keypoint evaluation of a model, through the same ``PosePipeline`` as the service.

Crops, decoding, back-projection, rescoring and OKS NMS all happen in ``simplepose.pose.pipeline``;
this module only gathers boxes, batches crops of several images into one model call, writes the
COCO results file and runs pycocotools' ``COCOeval``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.detection import PersonDetector
from simplepose.detection.coco_results import coco_records, detect_files
from simplepose.pose.geometry import BoxError, clip_boxes
from simplepose.pose.persons import coco_keypoint_results
from simplepose.pose.pipeline import Crops, HeatmapModel, Persons, PosePipeline, read_image
from simplepose.training.coco import (
    PERSON_CATEGORY_ID,
    DataSource,
    ImageBoxes,
    SkipCounter,
    annotation_path,
    data_category,
    detection_boxes,
    detection_records_boxes,
    gt_boxes,
    image_dir,
    load_annotations,
)
from simplepose.training.keypoint_ap import KeypointAP, per_keypoint_ap

log = logging.getLogger(__name__)
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
NMS_REMOVED = "persons removed by OKS NMS"


@dataclass
class EvalResult:
    """``results``: COCO keypoint results (one dict per person); ``stats``: COCOeval numbers
    keyed by ``STAT_NAMES`` (all 0 when there is no result); ``boxes``: which boxes were used."""

    results: list[dict[str, Any]]
    stats: dict[str, float]
    boxes: str
    summary: str = ""
    num_images: int = 0
    num_boxes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    num_suppressed: int = 0  # persons removed by OKS NMS (duplicates of a better-scored one)
    per_keypoint: list[KeypointAP] = field(default_factory=list)  # see training.keypoint_ap

    def describe(self) -> str:
        skipped = ", ".join(f"{n} {k}" for k, n in self.skipped.items()) or "none"
        return (
            f"boxes: {self.boxes} | {self.num_images} images, {self.num_boxes} person boxes, "
            f"{len(self.results)} results ({self.num_suppressed} removed by OKS NMS) | "
            f"skipped: {skipped}"
        )


def person_results(
    image_id: int, persons: Persons, category: int = PERSON_CATEGORY_ID
) -> list[dict[str, Any]]:
    """COCO keypoint-results entries for the persons of one image."""
    return coco_keypoint_results(
        image_id, persons.keypoints, persons.scores, persons.boxes, category
    )


def coco_eval(
    annotation_file: str | Path, results: list[dict[str, Any]], sigmas: np.ndarray
) -> tuple[dict, str]:
    """Run ``COCOeval(iouType="keypoints")`` with the keypoint set's OKS ``sigmas`` ``(K,)``;
    returns the stats and the printed AP table."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        return dict.fromkeys(STAT_NAMES, 0.0), "no results: every stat is 0"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        gt = COCO(str(annotation_file))
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    table = "\n".join(line for line in text.getvalue().splitlines() if "Average" in line)
    return {name: float(v) for name, v in zip(STAT_NAMES, ev.stats, strict=True)}, table


def _usable_boxes(item: ImageBoxes, width: int, height: int, skipped: SkipCounter) -> ImageBoxes:
    keep = []
    for i, box in enumerate(item.boxes):
        try:
            clip_boxes(box, width, height)
            keep.append(i)
        except BoxError as exc:
            skipped.add("boxes outside their image")
            log.warning("image %s: %s %s", item.image_id, exc.reason, box.tolist())
    return ImageBoxes(item.image_id, item.image_path, item.boxes[keep], item.scores[keep])


def _crops(
    pipeline: PosePipeline, items: Iterable[ImageBoxes], skipped: SkipCounter
) -> Iterable[tuple[int, Crops]]:
    for item in items:
        if len(item.boxes) == 0:
            continue
        try:
            image = read_image(str(item.image_path))
        except ValueError as exc:
            skipped.add("unreadable images")
            log.warning("%s", exc)
            continue
        usable = _usable_boxes(item, image.shape[1], image.shape[0], skipped)
        if len(usable.boxes):
            yield item.image_id, pipeline.preprocess(image, usable.boxes, usable.scores)


def run_pipeline(
    pipeline: PosePipeline,
    items: Iterable[ImageBoxes],
    batch_size: int,
    skipped: SkipCounter | None = None,
    progress: Callable[[int], None] | None = None,
    category: int = PERSON_CATEGORY_ID,
) -> list[dict[str, Any]]:
    """Run the pipeline over images, batching crops of several images per model call; results
    are of the annotation file's ``category``."""
    skipped = skipped if skipped is not None else SkipCounter()
    results: list[dict[str, Any]] = []
    crops_seen = 0
    pending: list[tuple[int, Crops]] = []

    def flush() -> None:
        nonlocal crops_seen
        if not pending:
            return
        outputs = pipeline.infer(np.concatenate([c.batch for _, c in pending]))
        start = 0
        for image_id, crops in pending:
            out = outputs[start : start + len(crops.batch)]
            start += len(crops.batch)
            crops_seen += len(crops.batch)
            persons = pipeline.postprocess(out, crops, nms=True)
            results.extend(person_results(image_id, persons, category))
        if progress:
            progress(len(pending))
        pending.clear()

    for image_id, crops in _crops(pipeline, items, skipped):
        if pending and sum(len(c.batch) for _, c in pending) + len(crops.batch) > batch_size:
            flush()
        pending.append((image_id, crops))
    flush()
    suppressed = crops_seen - len(results)
    if suppressed:
        skipped.add(NMS_REMOVED, suppressed)
    return results


def detector_items(
    detector: PersonDetector, data: dict[str, Any], folder: Path, score_thre: float
) -> dict[int, ImageBoxes]:
    """Person boxes of every image of ``data`` found by ``detector`` (same code as the service
    and ``simplepose detect``), as evaluation items."""
    ids = {folder / img["file_name"]: img["id"] for img in data["images"]}
    records: list[dict[str, Any]] = []
    for path, found in detect_files(detector, ids):
        if not isinstance(found, ValueError):  # unreadable images are counted by run_pipeline
            records += coco_records(ids[path], found)
    return detection_records_boxes(records, data, folder, score_thre, detector.info.label)


def evaluate(
    model: HeatmapModel | str | Path,
    data_root: DataSource,
    split: str = "val2017",
    boxes: str | Path = "gt",
    decode: str | None = None,
    flip: bool | None = None,
    score_thre: float | None = None,
    batch_size: int | None = None,
    in_vis_thre: float | None = None,
    oks_thre: float | None = None,
    output: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    detector: PersonDetector | None = None,
    per_keypoint: bool = False,
) -> EvalResult:
    """COCO keypoint AP of ``model`` on ``split`` of a COCO root or dataset file, with the OKS
    sigmas of the model's keypoint set (which must be the data's).

    Args:
        model: a loaded model (``simplepose.runtime.model_loader.load_model``) or the path of a
            ``.ckpt`` / exported model directory to load.
        boxes: ``"gt"`` for ground-truth person boxes, ``"detector"`` for the boxes ``detector``
            finds, else a COCO detection-results file.
        score_thre: detection boxes scoring below this are not used.
        flip: flip test (always on for a flip-fused exported model).
        output: where to write the COCO results JSON (optional).
        per_keypoint: also compute the per-keypoint AP table (``training.keypoint_ap``).

    ``decode``, ``flip``, ``score_thre``, ``batch_size``, ``in_vis_thre`` and ``oks_thre`` left
    ``None`` come from the model's ``config.test``, as in ``predict`` and the service.
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(model, str | Path):
        from simplepose.runtime.model_loader import load_model

        model = load_model(model, flip=flip)
    pipeline = PosePipeline(
        model, decode=decode, flip=flip, in_vis_thre=in_vis_thre, oks_thre=oks_thre
    )
    test = model.info.config.test
    score_thre = test.image_thre if score_thre is None else score_thre
    data = load_annotations(data_root, split)
    keypoints = model.info.keypoints
    category = data_category(data_root, data, keypoints)
    folder = image_dir(data_root, split)
    if str(boxes) == "gt":
        items, boxes_desc = gt_boxes(data, folder, category), "ground-truth person boxes"
    elif str(boxes) == "detector":
        if detector is None:
            raise ValueError("boxes='detector' needs a detector (simplepose.detection)")
        items = detector_items(detector, data, folder, score_thre)
        boxes_desc = f"person detector {detector.info.label} (score >= {score_thre:g})"
    else:
        items = detection_boxes(boxes, data, folder, score_thre, category)
        boxes_desc = f"detections from {boxes} (score >= {score_thre:g})"
    skipped = SkipCounter()
    results = run_pipeline(
        pipeline, items.values(), batch_size or test.batch_size, skipped, progress, category
    )
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(results))
    stats, table = coco_eval(annotation_path(data_root, split), results, keypoints.sigma_array())
    rows = (
        per_keypoint_ap(data, results, keypoints.names, keypoints.sigma_array())
        if per_keypoint
        else []
    )
    return EvalResult(
        results=results,
        stats=stats,
        boxes=boxes_desc,
        summary=table,
        num_images=sum(1 for it in items.values() if len(it.boxes)),
        num_boxes=sum(len(it.boxes) for it in items.values()),
        skipped={k: n for k, n in skipped.counts.items() if k != NMS_REMOVED},
        num_suppressed=skipped.counts.get(NMS_REMOVED, 0),
        per_keypoint=rows,
    )
