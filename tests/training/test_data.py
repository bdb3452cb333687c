"""COCO reading, augmentation, targets, sharding and bad-data handling."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simplepose.config.loading import load_config
from simplepose.config.model_info import ModelInfo
from simplepose.pose.codec import HeatmapCodec
from simplepose.pose.geometry import affine_matrices, transform_points
from simplepose.pose.keypoints import COCO17
from simplepose.pose.pipeline import PosePipeline, normalise_crops
from simplepose.training.augment import augment, flip_sample
from simplepose.training.coco import SkipCounter, person_samples
from simplepose.training.dataset import (
    PoseSource,
    Shard,
    build_dataset,
    epoch_indices,
    steps_per_epoch,
)


def test_coco_mini_train_persons(coco_mini: Path) -> None:
    cfg = load_config("res18_128x96")
    skipped = SkipCounter()
    samples = person_samples(coco_mini, "train2017", cfg, skipped)
    assert len(samples) == 86  # README of coco-mini: 86 persons with keypoints
    assert skipped.total == 0
    s = samples[0]
    # center is the box center; scale has the input aspect ratio, padded by 1.25
    np.testing.assert_allclose(s.center, s.box[:2] + s.box[2:] / 2)
    np.testing.assert_allclose(s.scale[0] / s.scale[1], 96 / 128)
    assert min(s.scale * 200 / s.box[2:]) == pytest.approx(1.25)  # the side not grown


def test_normalise_matches_pipeline(train_config) -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, 64, 48, 3), dtype=np.uint8)
    for order in ("RGB", "BGR"):
        cfg = load_config("res18_128x96", [f"model.channel_order={order}"])

        class _Model:
            info = ModelInfo(config=cfg, flip_fused=False)

        ours = normalise_crops(crops, cfg.model)
        np.testing.assert_array_equal(ours, PosePipeline(_Model(), flip=False).normalise(crops))
        first = 2 if order == "RGB" else 0  # BGR pixel index feeding input channel 0
        expected = (crops[..., first] - 0.485 * 255) / (0.229 * 255)
        np.testing.assert_allclose(ours[:, 0], expected, rtol=1e-5)


def test_sample_targets_follow_codec(coco_mini: Path, train_config) -> None:
    samples = person_samples(coco_mini, "train2017", train_config)
    source = PoseSource(samples, train_config, train=False)
    image, target, weight, index = source[3]
    m = train_config.model
    assert image.shape == (3, m.input_size[1], m.input_size[0]) and image.dtype == np.float32
    assert target.shape == (17, m.heatmap_size[1], m.heatmap_size[0])
    s = samples[3]
    mats = affine_matrices(s.center[None], s.scale[None], 0.0, m.input_size)
    joints = transform_points(s.joints[None, :, :2], mats)
    codec = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma)
    want_t, want_w = codec.encode(joints, s.joints[None, :, 2])
    np.testing.assert_array_equal(target, want_t[0])
    np.testing.assert_array_equal(weight, want_w[0])
    assert int(index) == 3
    np.testing.assert_array_equal(weight > 0, s.joints[:, 2] > 0)  # all labelled joints inside

    unbiased = replace(train_config, data=replace(train_config.data, unbiased_targets=True))
    _, target_u, _, _ = PoseSource(samples, unbiased, train=False)[3]
    want_u, _ = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma, unbiased=True).encode(
        joints, s.joints[None, :, 2]
    )
    np.testing.assert_array_equal(target_u, want_u[0])
    assert not np.array_equal(target_u, target)


def test_flip_mirrors_and_swaps_pairs() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    joints = rng.uniform(0, 39, (17, 2))
    visible = (np.arange(17) % 3 != 0).astype(float)
    flipped, fj, fv, fc = flip_sample(image, joints, visible, np.array([20.0, 15.0]), COCO17)
    idx = COCO17.flip_index()
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    np.testing.assert_allclose(fj[:, 0], 59 - joints[idx, 0])
    np.testing.assert_allclose(fj[:, 1], joints[idx, 1])
    np.testing.assert_array_equal(fv, visible[idx])
    np.testing.assert_allclose(fc, [39.0, 15.0])
    # pixel under a joint is the same before and after (integer joints)
    j = np.round(joints).astype(int)
    fj_int = np.round(fj).astype(int)
    np.testing.assert_array_equal(image[j[idx, 1], j[idx, 0]], flipped[fj_int[:, 1], fj_int[:, 0]])


def test_augment_keeps_joints_on_their_pixels() -> None:
    """A bright dot at a joint stays under the transformed joint after scale/rotation/flip."""
    cfg = load_config("res18_128x96", ["data.rotation_prob=1.0", "data.flip_prob=0.5"])
    image = np.zeros((200, 160, 3), np.uint8)
    joints = np.tile([[80.0, 100.0]], (17, 1))
    image[95:106, 75:86] = 255
    for seed in range(6):
        crop, pts, vis = augment(
            image,
            joints,
            np.ones(17),
            np.array([80.0, 100.0]),
            np.array([0.6, 0.8]),
            (96, 128),
            cfg.data,
            np.random.default_rng(seed),
            cfg.keypoints,
        )
        x, y = np.round(pts[0]).astype(int)
        assert crop[y, x].min() == 255, seed


def test_epoch_shards_are_disjoint_and_complete() -> None:
    n, bs = 40, 4
    shards = [epoch_indices(n, 3, 7, Shard(r, 2), bs) for r in range(2)]
    assert steps_per_epoch(n, bs, Shard(0, 2)) == 5
    assert all(len(s) == 20 for s in shards)
    assert sorted(np.concatenate(shards).tolist()) == list(range(n))
    again = epoch_indices(n, 3, 7, Shard(0, 2), bs)
    np.testing.assert_array_equal(shards[0], again)  # deterministic (exact resume)
    assert not np.array_equal(shards[0], epoch_indices(n, 4, 7, Shard(0, 2), bs))
    with pytest.raises(ValueError, match="rank 2 of 2"):
        Shard(2, 2)


def test_dataset_pipeline_reads_its_shard(small_root: Path, train_config) -> None:
    """Each rank's GeneratorDataset yields exactly its indices; together: every sample once."""
    samples = person_samples(small_root, "train2017", train_config)
    assert len(samples) == 8
    seen = []
    for rank in range(2):
        source = PoseSource(samples, train_config, train=True, epoch=0)
        indices = epoch_indices(8, 0, 1, Shard(rank, 2), 2)
        batches = list(
            build_dataset(source, indices, 2, 2).create_tuple_iterator(output_numpy=True)
        )
        assert len(batches) == 2
        assert all(b[0].shape == (2, 3, 96, 64) for b in batches)
        got = [int(i) for b in batches for i in b[3]]
        assert got == indices.tolist()
        seen += got
    assert sorted(seen) == list(range(8))


def test_bad_data_is_skipped_and_counted(small_root: Path, tmp_path: Path, train_config) -> None:
    root = tmp_path / "bad"
    shutil.copytree(small_root / "annotations", root / "annotations")
    (root / "train2017").mkdir()
    data = json.loads((root / "annotations" / "person_keypoints_train2017.json").read_text())
    files = [img["file_name"] for img in data["images"]]
    for name in files[2:]:
        (root / "train2017" / name).symlink_to((small_root / "train2017" / name).resolve())
    (root / "train2017" / files[0]).write_bytes(b"not a jpeg")  # unreadable
    # files[1] is missing; one annotation gets a box outside its image
    data["annotations"][2]["bbox"] = [5000.0, 5000.0, 10.0, 10.0]
    (root / "annotations" / "person_keypoints_train2017.json").write_text(json.dumps(data))

    skipped = SkipCounter()
    samples = person_samples(root, "train2017", train_config, skipped)
    assert len(samples) == 6
    assert skipped.counts == {
        "persons with a missing image file": 1,
        "persons with a box outside the image": 1,
    }
    source = PoseSource(samples, train_config, train=True, skipped=skipped)
    indices = epoch_indices(len(samples), 0, 1, Shard(), 2)
    got = [
        int(i)
        for b in build_dataset(source, indices, 2, 1).create_tuple_iterator(output_numpy=True)
        for i in b[3]
    ]
    assert len(got) == 6 and 0 not in got  # the unreadable one was replaced, not crashed on
    assert skipped.counts["unreadable images"] == 1
    assert skipped.total == 3
