"""Hostile COCO annotation files: paths that leave the image folder, missing fields, wrong
types and deep nesting are ``ValueError`` s naming the file (the CLI prints them, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simplepose.training.coco import load_annotations

GOOD_IMAGE = {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}
GOOD_ANN = {"image_id": 1, "bbox": [1, 2, 3, 4], "keypoints": [0] * 51}


def root_with(tmp_path: Path, text: str) -> Path:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val").mkdir()
    (tmp_path / "annotations" / "person_keypoints_val.json").write_text(text)
    return tmp_path


def coco(images=(GOOD_IMAGE,), annotations=(GOOD_ANN,)) -> str:
    return json.dumps({"images": list(images), "annotations": list(annotations)})


def test_good_file_loads(tmp_path):
    data = load_annotations(root_with(tmp_path, coco()), "val")
    assert data["images"][0]["file_name"] == "a.jpg"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (coco(images=[{**GOOD_IMAGE, "file_name": "/etc/passwd"}]), "inside the image folder"),
        (coco(images=[{**GOOD_IMAGE, "file_name": "../../secret.jpg"}]), "inside the image"),
        (coco(images=[{**GOOD_IMAGE, "file_name": "sub/../../x.jpg"}]), "inside the image"),
        (coco(images=[{**GOOD_IMAGE, "file_name": "..\\\\x.jpg"}]), "inside the image"),
        (coco(images=[{**GOOD_IMAGE, "file_name": "C:/x.jpg"}]), "inside the image"),
        (coco(images=[{**GOOD_IMAGE, "file_name": "a\u0000.jpg"}]), "inside the image"),
        (coco(images=[{**GOOD_IMAGE, "file_name": 7}]), "inside the image"),
        (coco(images=[{"id": 1, "width": 64, "height": 48}]), "needs file_name"),
        (coco(images=[{**GOOD_IMAGE, "width": "64"}]), "must be integers"),
        (coco(images=["a.jpg"]), r"images\[0\] needs"),
        (coco(annotations=[{"bbox": [1, 2, 3, 4]}]), r"annotations\[0\] needs image_id"),
        (coco(annotations=[{"image_id": 1, "bbox": "1,2,3,4"}]), "must be lists"),
        (json.dumps({"images": {}, "annotations": []}), "is not a COCO annotation file"),
        (json.dumps([1, 2]), "expected a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"images": [], "annotations": [], "n": ' + "9" * 5000 + "}", "not valid JSON"),
    ],
    ids=["absolute", "climbs", "climbs_inside", "backslash", "drive", "nul", "not_str",
         "no_file_name", "width_str", "image_not_dict", "no_image_id", "bbox_str",
         "images_not_list", "top_list", "deep", "5000_digits"],
)  # fmt: skip
def test_hostile_annotation_files_are_clear_errors(tmp_path, text, reason):
    root = root_with(tmp_path, text)
    with pytest.raises(ValueError, match=reason) as exc:
        load_annotations(root, "val")
    assert "person_keypoints_val.json" in str(exc.value)
