"""Evaluation: perfect heatmaps score near AP 1; stats equal COCOeval run by hand."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from simplepose.cli import main
from simplepose.config.loading import load_config
from simplepose.config.model_info import ModelInfo
from simplepose.config.presets import Config
from simplepose.pose.codec import HeatmapCodec
from simplepose.pose.geometry import (
    affine_matrices,
    box_to_center_scale,
    clip_boxes,
    transform_points,
)
from simplepose.training.coco import gt_boxes, image_dir, load_annotations
from simplepose.training.evaluate import STAT_NAMES, evaluate


def coco_eval_by_hand(annotation_file: Path, results_file: Path) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotation_file))
        ev = COCOeval(gt, gt.loadRes(str(results_file)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


class OracleModel:
    """Returns the Gaussian target heatmaps of the ground truth, crop by crop, in the order
    ``evaluate`` visits the ground-truth boxes. A correct evaluation path must score ~1."""

    def __init__(
        self,
        root: Path,
        split: str,
        config: Config,
        noise_px: float = 0.0,
        unbiased: bool = True,
    ):
        self.info = ModelInfo(config=config, flip_fused=False)
        m = config.model
        data = load_annotations(root, split)
        items = gt_boxes(data, image_dir(root, split))
        joints = {}
        for ann in data["annotations"]:
            joints.setdefault(ann["image_id"], []).append(ann)
        # unbiased (sub-pixel) targets: DARK recovers their centre exactly
        codec = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma, unbiased=unbiased)
        rng = np.random.default_rng(0)
        images = {img["id"]: img for img in data["images"]}
        self.queue: list[np.ndarray] = []
        for image_id, item in items.items():
            anns = [a for a in joints.get(image_id, []) if not a["iscrowd"] and a["num_keypoints"]]
            img = images[image_id]
            for ann, box in zip(anns, item.boxes, strict=True):
                clipped = clip_boxes(box, img["width"], img["height"])
                c, s = box_to_center_scale(
                    clipped, m.input_size[0] / m.input_size[1], config.data.box_padding
                )
                kps = np.asarray(ann["keypoints"], float).reshape(17, 3)
                xy = transform_points(kps[None, :, :2], affine_matrices(c, s, 0.0, m.input_size))
                xy += rng.normal(0, noise_px, xy.shape)
                hm, _ = codec.encode(xy, kps[None, :, 2])
                self.queue.append(hm[0])
        self.calls = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        picks = [(self.calls + i) % len(self.queue) for i in range(len(batch))]
        self.calls += len(batch)
        return np.stack([self.queue[i] for i in picks])


@pytest.fixture(scope="module")
def oracle_config() -> Config:
    return load_config("res18_128x96")


def test_perfect_heatmaps_score_near_one(coco_mini: Path, tmp_path: Path, oracle_config) -> None:
    model = OracleModel(coco_mini, "val2017", oracle_config)
    out = tmp_path / "results.json"
    result = evaluate(model, coco_mini, "val2017", boxes="gt", flip=False, batch_size=7, output=out)
    assert model.calls == len(model.queue) == 68  # every GT person with keypoints, once
    assert result.num_boxes == 68 and len(result.results) == 68
    assert result.boxes == "ground-truth person boxes"
    assert result.stats["AP"] > 0.98, result.stats
    by_hand = coco_eval_by_hand(coco_mini / "annotations/person_keypoints_val2017.json", out)
    np.testing.assert_allclose([result.stats[k] for k in STAT_NAMES], by_hand)

    # the reference (rounded-centre) targets cap even a perfect model at 128x96
    rounded = OracleModel(coco_mini, "val2017", oracle_config, unbiased=False)
    capped = evaluate(rounded, coco_mini, "val2017", boxes="gt", flip=False)
    assert 0.85 < capped.stats["AP"] < 0.95, capped.stats

    noisy = OracleModel(coco_mini, "val2017", oracle_config, noise_px=4.0)
    worse = evaluate(noisy, coco_mini, "val2017", boxes="gt", flip=False)
    assert worse.stats["AP"] < result.stats["AP"] - 0.1  # the metric sees localisation errors


def test_detection_boxes_and_score_threshold(
    coco_mini: Path, tmp_path: Path, oracle_config
) -> None:
    data = load_annotations(coco_mini, "val2017")
    dets = [
        {"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.5 + i % 2 / 4}
        for i, a in enumerate(data["annotations"])
        if not a["iscrowd"] and a["num_keypoints"]
    ]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    model = OracleModel(coco_mini, "val2017", oracle_config)
    result = evaluate(model, coco_mini, "val2017", boxes=path, flip=False)
    assert result.num_boxes == 68 and "detections from" in result.boxes
    assert result.stats["AP"] > 0.98
    model = OracleModel(coco_mini, "val2017", oracle_config)  # (heatmaps no longer match)
    fewer = evaluate(model, coco_mini, "val2017", boxes=path, flip=False, score_thre=0.6)
    assert fewer.num_boxes == sum(d["score"] >= 0.6 for d in dets) < 68
    assert "score >= 0.6" in fewer.boxes


@pytest.mark.slow
def test_cli_evaluate_checkpoint_matches_cocoeval(
    coco_mini: Path, tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "res.json"
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(tiny_checkpoint),
            "--data",
            str(coco_mini),
            "--device",
            "CPU",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "boxes: ground-truth person boxes" in text
    assert "flip test: on" in text
    stats = json.loads(next(line for line in text.splitlines() if line.startswith("{")))
    results = json.loads(out.read_text())
    removed = int(re.search(r"(\d+) removed by OKS NMS", text).group(1))
    assert "68 person boxes" in text and len(results) == 68 - removed  # none dropped silently
    by_hand = coco_eval_by_hand(coco_mini / "annotations/person_keypoints_val2017.json", out)
    np.testing.assert_allclose([stats[k] for k in STAT_NAMES], by_hand, atol=5e-5)
    assert re.search(r"Average Precision\s+\(AP\) @\[ IoU=0.50:0.95", text)
    # the per-keypoint table: printed, and saved beside --output with one row per joint
    assert "per keypoint (OKS of one joint; worst first)" in text and "left_wrist" in text
    rows = (tmp_path / "res_keypoints.csv").read_text().splitlines()
    assert rows[0] == "keypoint,labelled,AP,AP50,AP75,AR" and len(rows) == 18
