"""Per-keypoint AP: the ground truth scores 1 on every labelled joint, a joint the model misses
scores ~0 while the others stay at 1, and a joint the data never labels has no AP."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from simplepose.pose.keypoints import COCO17
from simplepose.training.coco import load_annotations
from simplepose.training.keypoint_ap import format_table, per_keypoint_ap, write_csv

KEYPOINT_NAMES, OKS_SIGMAS = COCO17.names, COCO17.sigma_array()
WRIST = KEYPOINT_NAMES.index("left_wrist")
NOSE = KEYPOINT_NAMES.index("nose")


@pytest.fixture(scope="module")
def val(coco_mini: Path) -> dict:
    return load_annotations(coco_mini, "val2017")


def _ground_truth_results(data: dict, shift: dict[int, float] | None = None) -> list[dict]:
    """The labelled persons as results (score 1), joint ``j`` moved right by ``shift[j]``
    times the person's box width; unlabelled joints just inside the box corner
    (COCOeval ignores a result that matches a person without the joint only inside its box)."""
    out = []
    for ann in data["annotations"]:
        if ann["iscrowd"] or ann["num_keypoints"] == 0:
            continue
        kps = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3).copy()
        x, y, w, h = ann["bbox"]
        kps[kps[:, 2] == 0, :2] = (x + 1, y + 1)
        for j, fraction in (shift or {}).items():
            kps[j, 0] += fraction * ann["bbox"][2]
        kps[:, 2] = 1.0
        out.append({"image_id": ann["image_id"], "category_id": 1,
                    "keypoints": kps.reshape(-1).tolist(), "score": 1.0})  # fmt: skip
    return out


def _labelled(data: dict, joint: int) -> int:
    return sum(a["keypoints"][3 * joint + 2] > 0 for a in data["annotations"] if not a["iscrowd"])


def test_ground_truth_scores_one_per_joint(val: dict) -> None:
    rows = per_keypoint_ap(val, _ground_truth_results(val), KEYPOINT_NAMES, OKS_SIGMAS)
    assert [r.name for r in rows] == list(KEYPOINT_NAMES)
    for j, row in enumerate(rows):
        assert row.labelled == _labelled(val, j) > 0
        # overlapping persons: a centre guess may take another person's joint, so not exactly 1
        # not exactly 1: COCOeval lets a result take any nearby person lacking the joint (their
        # OKS is 1 anywhere in a box twice their size), leaving its own result unmatched
        assert row.ap > 0.9 and row.ar == pytest.approx(1.0), row


def test_a_missed_joint_stands_out(val: dict) -> None:
    results = _ground_truth_results(val, shift={WRIST: 0.5})  # half a box width off
    rows = {r.name: r for r in per_keypoint_ap(val, results, KEYPOINT_NAMES, OKS_SIGMAS)}
    assert rows["left_wrist"].ap < 0.05
    assert rows["right_wrist"].ap > 0.9 and rows["nose"].ap > 0.9
    table = format_table(list(rows.values())).splitlines()
    assert table[1].startswith("left_wrist")  # worst first


def test_an_unlabelled_joint_has_no_ap(val: dict, tmp_path: Path) -> None:
    data = copy.deepcopy(val)
    for ann in data["annotations"]:
        ann["keypoints"][3 * NOSE + 2] = 0
    rows = per_keypoint_ap(data, _ground_truth_results(val), KEYPOINT_NAMES, OKS_SIGMAS)
    assert (rows[NOSE].labelled, rows[NOSE].ap) == (0, None)
    assert rows[WRIST].ap > 0.9
    assert format_table(rows).splitlines()[1].split() == ["nose", "0", "-", "-", "-", "-"]
    lines = write_csv(rows, tmp_path / "t.csv").read_text().splitlines()
    assert lines[1] == "nose,0,,,,"
