"""Fixtures of the training tests: small COCO roots built from coco-mini, a fast config."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from simplepose.config.loading import load_config
from simplepose.config.presets import Config


def make_root(
    source: Path, dest: Path, split: str, num_persons: int, persons_per_image: int = 99
) -> Path:
    """A COCO root at ``dest`` with the first images of ``source``'s ``split`` holding
    ``num_persons`` persons with keypoints (images are symlinks; ``source`` stays untouched)."""
    data = json.loads((source / "annotations" / f"person_keypoints_{split}.json").read_text())
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        if not ann["iscrowd"] and ann["num_keypoints"] > 0:
            by_image.setdefault(ann["image_id"], []).append(ann)
    keep_images, keep_anns = [], []
    for img in data["images"]:
        anns = by_image.get(img["id"], [])[:persons_per_image]
        if not anns or len(keep_anns) >= num_persons:
            continue
        anns = anns[: num_persons - len(keep_anns)]
        keep_images.append(img)
        keep_anns += anns
    (dest / "annotations").mkdir(parents=True, exist_ok=True)
    (dest / split).mkdir(exist_ok=True)
    for img in keep_images:
        link = dest / split / img["file_name"]
        if not link.exists():
            os.symlink(source / split / img["file_name"], link)
    out = {**data, "images": keep_images, "annotations": keep_anns}
    (dest / "annotations" / f"person_keypoints_{split}.json").write_text(json.dumps(out))
    return dest


@pytest.fixture(scope="session")
def small_root(coco_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 real persons of coco-mini train2017 (one per image), plus 8 of val2017."""
    root = tmp_path_factory.mktemp("small_coco")
    make_root(coco_mini, root, "train2017", 8, persons_per_image=1)
    make_root(coco_mini, root, "val2017", 8, persons_per_image=1)
    return root


@pytest.fixture(scope="session")
def train_config(tiny_config: Config) -> Config:
    """The tiny network with a short, augmentation-free recipe (batch 4)."""
    return load_config(
        "res18_128x96",
        [
            f"model.input_size={list(tiny_config.model.input_size)}",
            f"model.heatmap_size={list(tiny_config.model.heatmap_size)}",
            f"model.deconv_channels={tiny_config.model.deconv_channels}",
            "train.batch_size=4",
            "train.epochs=3",
            "train.lr_steps=[1,2]",
            "train.log_every=1",
            "data.scale_factor=0.0",
            "data.rotation_prob=0.0",
            "data.flip_prob=0.0",
            "data.num_workers=1",
        ],
    )
