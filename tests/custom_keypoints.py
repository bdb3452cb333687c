"""A custom keypoint dataset made from coco-mini, for the tests and benches of own keypoints.

Nine upper-body points of coco-mini's persons, under new names, in another order than COCO's,
with their own flip pairs (one pair, the eyes, is not derivable from the names), sigmas and
category ("worker", id 3). Images are not copied: each split's image folder is a symlink to
coco-mini's.

    from custom_keypoints import write_custom_dataset
    yaml_path = write_custom_dataset(coco_mini, tmp_path / "upper9")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

# new name -> COCO-17 index it is taken from
SOURCE: dict[str, int] = {
    "crown": 0,  # COCO nose
    "right_wrist_pt": 10,
    "left_wrist_pt": 9,
    "right_elbow_pt": 8,
    "left_elbow_pt": 7,
    "right_shoulder_pt": 6,
    "left_shoulder_pt": 5,
    "eye_port": 1,  # left eye: port is the left side, a name the left_/right_ rule cannot read
    "eye_starboard": 2,
}
NAMES = tuple(SOURCE)
FLIP_PAIRS = (
    ("left_wrist_pt", "right_wrist_pt"),
    ("left_elbow_pt", "right_elbow_pt"),
    ("left_shoulder_pt", "right_shoulder_pt"),
    ("eye_port", "eye_starboard"),
)
SKELETON = (
    ("crown", "eye_port"),
    ("crown", "eye_starboard"),
    ("left_shoulder_pt", "right_shoulder_pt"),
    ("left_shoulder_pt", "left_elbow_pt"),
    ("left_elbow_pt", "left_wrist_pt"),
    ("right_shoulder_pt", "right_elbow_pt"),
    ("right_elbow_pt", "right_wrist_pt"),
)
SIGMAS = (0.03, 0.065, 0.065, 0.075, 0.075, 0.08, 0.08, 0.028, 0.028)
CATEGORY, CATEGORY_ID = "worker", 3
SPLITS = {"train": "train2017", "val": "val2017"}  # our split -> coco-mini split
YAML_NAME = "upper9.yaml"


def keypoints_section() -> dict[str, Any]:
    return {
        "category": CATEGORY,
        "names": list(NAMES),
        "flip_pairs": [list(p) for p in FLIP_PAIRS],
        "skeleton": [list(limb) for limb in SKELETON],
        "sigmas": list(SIGMAS),
    }


def convert_annotations(coco: dict[str, Any]) -> dict[str, Any]:
    """coco-mini's person annotations as the nine-point ``worker`` category."""
    index = [SOURCE[n] for n in NAMES]
    annotations = []
    for ann in coco["annotations"]:
        if ann.get("category_id") != 1:
            continue
        kps = ann.get("keypoints") or [0] * 51
        new = [v for j in index for v in kps[3 * j : 3 * j + 3]]
        annotations.append(
            {
                **{k: v for k, v in ann.items() if k != "segmentation"},
                "category_id": CATEGORY_ID,
                "keypoints": new,
                "num_keypoints": sum(1 for v in new[2::3] if v > 0),
            }
        )
    name_index = {n: i + 1 for i, n in enumerate(NAMES)}  # the file format is 1-based
    category = {
        "id": CATEGORY_ID,
        "name": CATEGORY,
        "supercategory": "person",
        "keypoints": list(NAMES),
        "skeleton": [[name_index[a], name_index[b]] for a, b in SKELETON],
    }
    return {"images": coco["images"], "annotations": annotations, "categories": [category]}


def write_custom_dataset(coco_root: Path, out: Path) -> Path:
    """Write the dataset under ``out`` (annotations/, images/ symlinks, upper9.yaml); returns
    the dataset file's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    description: dict[str, Any] = {"name": "upper9"}
    for split, source in SPLITS.items():
        coco = json.loads(
            (coco_root / "annotations" / f"person_keypoints_{source}.json").read_text()
        )
        ann_file = out / "annotations" / f"{split}.json"
        ann_file.write_text(json.dumps(convert_annotations(coco)))
        link = out / "images" / split
        if not link.exists():
            link.symlink_to((coco_root / source).resolve(), target_is_directory=True)
        description[split] = {
            "annotations": f"annotations/{split}.json",
            "images": f"images/{split}",
        }
    description["keypoints"] = keypoints_section()
    path = out / YAML_NAME
    path.write_text(yaml.safe_dump(description, sort_keys=False))
    return path
