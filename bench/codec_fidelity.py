"""How much accuracy does the heatmap codec itself cost? Measured on real COCO annotations.

Takes the ground-truth persons of a COCO split with their GT boxes, crops them with the core
geometry, encodes their keypoints into heatmaps with the sub-pixel (unbiased) encoder, decodes
them with each method, maps them back to the image and scores the result with pycocotools'
COCOeval. "ceiling" is the AP of the true positions clipped to the heatmap: what a perfect decoder
could reach, since some COCO keypoints lie outside the crop. Errors are measured in heatmap
pixels over the labelled joints inside the crop. Every person is scored 1 (GT boxes), so the APs
compare keypoint positions only, not person ranking.

    python bench/codec_fidelity.py --data ../shared/data/coco-mini [--preset res50_256x192]

Last line: {"ap": {...}, "mean_err": {...}, "max_err": {...}, ...}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from simplepose.config.presets import get_preset
from simplepose.pose.codec import DECODE_METHODS, HeatmapCodec
from simplepose.pose.geometry import (
    affine_matrices,
    box_to_center_scale,
    heatmap_to_image,
    transform_points,
)
from simplepose.pose.keypoints import PERSON_CATEGORY_ID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _coco import load_coco, person_ap  # noqa: E402
from _machine import machine  # noqa: E402


def load_gt_persons(coco: COCO) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Image ids, GT boxes (N, 4) and keypoints (N, K, 3) of non-crowd persons with keypoints."""
    image_ids, boxes, keypoints = [], [], []
    for ann in coco.loadAnns(coco.getAnnIds(catIds=[PERSON_CATEGORY_ID], iscrowd=False)):
        if ann.get("num_keypoints", 0) == 0:
            continue
        image_ids.append(ann["image_id"])
        boxes.append(ann["bbox"])
        keypoints.append(np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3))
    return image_ids, np.array(boxes), np.stack(keypoints)


def coco_ap(coco: COCO, image_ids: list[int], keypoints: np.ndarray, scores: np.ndarray) -> float:
    results = [
        {
            "image_id": i,
            "category_id": PERSON_CATEGORY_ID,
            "keypoints": k.ravel().tolist(),
            "score": float(s),
        }
        for i, k, s in zip(image_ids, keypoints, scores, strict=True)
    ]
    return person_ap(coco, results, "keypoints", image_ids)[0]


def measure(data: Path, split: str = "val2017", preset: str = "res50_256x192") -> dict:
    """Run the fidelity measurement; returns the result record printed by ``main``."""
    started = time.perf_counter()
    coco = load_coco(data, split)
    cfg = get_preset(preset)
    m = cfg.model
    image_ids, boxes, gt = load_gt_persons(coco)
    centers, scales = box_to_center_scale(
        boxes, m.input_size[0] / m.input_size[1], cfg.data.box_padding
    )
    labelled = gt[..., 2] > 0
    in_crop = transform_points(gt[..., :2], affine_matrices(centers, scales, 0.0, m.input_size))
    encoder = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma, unbiased=True)
    heatmaps, _ = encoder.encode(in_crop, labelled)

    true_hm = in_crop / encoder.stride
    w, h = m.heatmap_size
    inside = labelled & np.all((true_hm >= 0) & (true_hm <= [w - 1, h - 1]), axis=-1)
    box_scores = np.ones(len(boxes))

    ap, mean_err, max_err = {}, {}, {}
    for method in DECODE_METHODS:
        coords, maxvals = encoder.decode(heatmaps, method)
        xy = heatmap_to_image(coords, centers, scales, m.heatmap_size)
        kps = np.concatenate([xy, maxvals[..., None]], axis=-1)
        ap[method] = coco_ap(coco, image_ids, kps, box_scores)
        err = np.linalg.norm(coords - true_hm, axis=-1)[inside]
        mean_err[method], max_err[method] = float(err.mean()), float(err.max())

    clipped = np.clip(true_hm, 0, [w - 1, h - 1])
    xy = heatmap_to_image(clipped, centers, scales, m.heatmap_size)
    ceiling_kps = np.concatenate([xy, labelled[..., None].astype(np.float64)], axis=-1)
    ap["ceiling"] = coco_ap(coco, image_ids, ceiling_kps, box_scores)
    return {
        "ap": {k: round(v, 5) for k, v in ap.items()},
        "mean_err": {k: round(v, 5) for k, v in mean_err.items()},
        "max_err": {k: round(v, 5) for k, v in max_err.items()},
        "persons": len(boxes),
        "labelled_joints": int(labelled.sum()),
        "joints_outside_crop": int((labelled & ~inside).sum()),
        "preset": cfg.name,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--split", default="val2017")
    parser.add_argument("--preset", default="res50_256x192", help="input/heatmap size and sigma")
    args = parser.parse_args()
    try:
        result = measure(args.data, args.split, args.preset)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    for method in (*DECODE_METHODS, "ceiling"):
        line = f"{method:>8}: AP {result['ap'][method]:.4f}"
        if method in result["mean_err"]:
            line += f"  mean err {result['mean_err'][method]:.4f} px  max err {result['max_err'][method]:.4f} px"
        print(line)
    print(json.dumps({**result, "machine": machine()}))


if __name__ == "__main__":
    main()
