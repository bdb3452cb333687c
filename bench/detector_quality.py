"""What do a detector's boxes cost? Person-box AP and oracle keypoint AP on COCO val images.

For each detector (``none`` = whole image, ``hog``, and any ``--detector`` given: a registry name
found in the cache or an ONNX detector path, e.g. ``../shared/models/rtmdet-nano-person``) it
reports:

* box AP: pycocotools ``COCOeval(iouType="bbox")`` of its person boxes (category person);
* oracle keypoint AP: every detected box goes through the real ``PosePipeline`` (crop, decode,
  back-projection, rescoring with the detector's score, OKS NMS) with a perfect model: the
  heatmaps of the ground-truth person it overlaps most (IoU >= 0.3), encoded in that box's crop;
  boxes on nobody get empty heatmaps. Keypoint AP then isolates what the boxes cost.

``gt`` (all non-crowd ground-truth person boxes, score 1) is the ceiling of both.

    python bench/detector_quality.py --data ../shared/data/coco-mini \
        --detector ../shared/models/rtmdet-nano-person [--detector yolox-m-humanart]

Last line: {"detectors": {name: {"box_ap", "box_ap50", "oracle_kpt_ap", "images_per_s", ...}}}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO

from simplepose.config.model_info import ModelInfo
from simplepose.config.presets import get_preset
from simplepose.detection import Detections, load_detector
from simplepose.detection.coco_results import coco_records
from simplepose.pose.codec import HeatmapCodec
from simplepose.pose.geometry import affine_matrices, transform_points
from simplepose.pose.keypoints import PERSON_CATEGORY_ID
from simplepose.pose.pipeline import PosePipeline, read_image
from simplepose.video.tracker import box_iou

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _coco import load_coco, person_ap  # noqa: E402
from _machine import machine  # noqa: E402

MATCH_IOU = 0.3  # a box shows the GT person it overlaps most, if at least this much


class OracleModel:
    """A ``HeatmapModel`` that returns the heatmaps it was primed with (the perfect model)."""

    def __init__(self, info: ModelInfo):
        self.info = info
        self.next: np.ndarray | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        assert self.next is not None and len(self.next) == len(batch)
        out, self.next = self.next, None
        return out


def _gt(coco: COCO, image_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and keypoints (all 0 for persons without any) of the non-crowd persons."""
    ids = coco.getAnnIds(imgIds=[image_id], catIds=[PERSON_CATEGORY_ID], iscrowd=False)
    anns = coco.loadAnns(ids)
    boxes = np.array([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
    kps = np.array([a["keypoints"] for a in anns], np.float64).reshape(len(anns), 17, 3)
    return boxes, kps


def oracle_persons(
    pipeline: PosePipeline, oracle: OracleModel, codec: HeatmapCodec, image: np.ndarray,
    found: Detections, gt_boxes: np.ndarray, gt_kps: np.ndarray,
) -> list[tuple[np.ndarray, float]]:  # fmt: skip
    """Keypoints and scores of the persons the real pipeline reports for ``found``'s boxes."""
    if len(found) == 0:
        return []
    crops = pipeline.preprocess(image, found.boxes, found.scores)
    m = pipeline.info.model
    heatmaps = np.zeros((len(crops.boxes), m.num_joints, m.heatmap_size[1], m.heatmap_size[0]),
                        np.float32)  # fmt: skip
    if len(gt_boxes):
        iou = box_iou(crops.boxes, gt_boxes)
        for i, j in enumerate(iou.argmax(1)):
            if iou[i, j] >= MATCH_IOU:
                matrix = affine_matrices(crops.centers[i : i + 1], crops.scales[i : i + 1], 0.0,
                                         m.input_size)  # fmt: skip
                in_crop = transform_points(gt_kps[j : j + 1, :, :2], matrix)
                heatmaps[i] = codec.encode(in_crop, gt_kps[j : j + 1, :, 2] > 0)[0][0]
    oracle.next = heatmaps
    persons = pipeline.postprocess(pipeline.infer(crops.batch), crops, nms=True)
    return [(persons.keypoints[i], float(persons.scores[i])) for i in range(len(persons))]


def measure(data: Path, detectors: list[str], split: str, preset: str) -> dict[str, Any]:
    coco = load_coco(data, split)
    cfg = get_preset(preset)
    oracle = OracleModel(ModelInfo(config=cfg, flip_fused=True))
    pipeline = PosePipeline(oracle, decode="dark", flip=True)
    codec = HeatmapCodec(cfg.model.input_size, cfg.model.heatmap_size, cfg.model.sigma,
                         unbiased=True)  # fmt: skip
    image_ids = sorted(coco.getImgIds())
    images = {i: read_image(str(data / split / coco.imgs[i]["file_name"])) for i in image_ids}
    gts = {i: _gt(coco, i) for i in image_ids}
    out: dict[str, Any] = {}
    for name in ["gt", *detectors]:
        if name == "gt":
            found = {i: Detections(gts[i][0], np.ones(len(gts[i][0])), "ground truth")
                     for i in image_ids}  # fmt: skip
            seconds, label = 0.0, "ground-truth person boxes (ceiling)"
        else:
            try:
                detector = load_detector(name, device="CPU", offline=True)
            except ValueError as exc:
                out[name] = {"unavailable": str(exc)}
                continue
            label = detector.info.label
            start = time.perf_counter()
            found = {i: detector.detect(images[i]) for i in image_ids}
            seconds = time.perf_counter() - start if name != "none" else 0.0
        boxes = [r for i in image_ids for r in coco_records(i, found[i])]
        kpts = [
            {"image_id": i, "category_id": PERSON_CATEGORY_ID, "keypoints": k.ravel().tolist(),
             "score": s}
            for i in image_ids
            for k, s in oracle_persons(pipeline, oracle, codec, images[i], found[i], *gts[i])
        ]  # fmt: skip
        box_ap, box_ap50 = person_ap(coco, boxes, "bbox")
        kpt_ap, kpt_ap50 = person_ap(coco, kpts, "keypoints")
        out[name] = {
            "label": label,
            "box_ap": round(box_ap, 4),
            "box_ap50": round(box_ap50, 4),
            "oracle_kpt_ap": round(kpt_ap, 4),
            "oracle_kpt_ap50": round(kpt_ap50, 4),
            "boxes": len(boxes),
            "images_per_s": round(len(image_ids) / seconds, 2) if seconds else None,
        }
    return {
        "detectors": out,
        "images": len(image_ids),
        "gt_persons": int(sum(len(g[0]) for g in gts.values())),
        "gt_persons_with_keypoints": int(
            sum((g[1][..., 2] > 0).any(-1).sum() for g in gts.values())
        ),
        "split": split,
        "preset": cfg.name,
        "note": "images/s: one CPU process on a shared machine, noisy",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--split", default="val2017")
    parser.add_argument("--preset", default="res50_256x192", help="crop and heatmap sizes")
    parser.add_argument(
        "--detector", action="append", default=[],
        help="more detectors (registry name in the cache, or end2end.onnx path); repeatable",
    )  # fmt: skip
    args = parser.parse_args()
    try:
        result = measure(args.data, ["none", "hog", *args.detector], args.split, args.preset)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    for name, r in result["detectors"].items():
        if "unavailable" in r:
            print(f"{name:>20}: unavailable ({r['unavailable']})")
            continue
        print(f"{name:>20}: box AP {r['box_ap']:.4f} (AP50 {r['box_ap50']:.4f})  oracle keypoint "
              f"AP {r['oracle_kpt_ap']:.4f}  {r['boxes']} boxes  {r['label']}")  # fmt: skip
    print(json.dumps({**result, "machine": machine()}))


if __name__ == "__main__":
    main()
