"""Keypoint sets as data: derivation, contradictions, and the way a set travels (config,
model.json) with files saved without one reading as COCO-17."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simplepose.config.loading import config_from_dict, load_config
from simplepose.config.model_info import ModelInfo
from simplepose.pose.keypoints import COCO17, KeypointSet, KeypointSetError, derive_flip_pairs

HAND = {
    "name": "mitt",
    "category": "hand",
    "names": ["wrist", "thumb_a", "thumb_b", "left_tip", "right_tip"],
    "skeleton": [["wrist", "thumb_a"], [1, 2], ["wrist", "left_tip"], ["wrist", "right_tip"]],
    "sigmas": [0.05, 0.03, 0.03, 0.02, 0.02],
}


def test_flip_pairs_come_from_left_right_names() -> None:
    assert derive_flip_pairs(["nose", "right_eye", "left_eye", "left_lonely"]) == ((2, 1),)
    hand = KeypointSet.from_dict(HAND)
    assert hand.flip_pairs == ((3, 4),)
    assert hand.flip_index().tolist() == [0, 1, 2, 4, 3]
    assert hand.skeleton == ((0, 1), (1, 2), (0, 3), (0, 4))
    assert hand.upper_body == (0, 1, 2, 3, 4) and hand.lower_body == ()
    assert hand.keypoint_color(3) != hand.keypoint_color(4)  # left and right sides differ


def test_given_pairs_may_add_pairs_the_names_cannot_say() -> None:
    hand = KeypointSet.from_dict({**HAND, "flip_pairs": [["left_tip", "right_tip"], [1, 2]]})
    assert hand.flip_index().tolist() == [0, 2, 1, 4, 3]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"flip_pairs": [["left_tip", "thumb_a"]]}, "left_tip must swap with right_tip"),
        ({"flip_pairs": [[3, 4], [4, 1]]}, "right_tip is in two flip pairs"),
        ({"flip_pairs": [[3, 3]]}, "joins a joint to itself"),
        ({"names": ["w", "a", "a", "left_tip", "right_tip"], "skeleton": []}, "duplicate keypoint"),
        ({"sigmas": [0.1] * 4}, "4 OKS sigmas for 5 keypoints"),
        ({"sigmas": [0.1, 0.1, 0.1, 0.1, -1]}, "must be positive"),
        ({"skeleton": [[0, 9]]}, "outside 0..4"),
        ({"colors": [[0, 0, 0]] * 4}, "4 colours for 5 keypoints"),
        ({"colors": [[0, 0, 300]] * 5}, "values 0..255"),
        ({"upper_body": [0, 0]}, "distinct joints"),
    ],
)
def test_contradictions_are_errors(change: dict, message: str) -> None:
    with pytest.raises(KeypointSetError, match=message):
        KeypointSet.from_dict({**HAND, **change})


@pytest.mark.parametrize(
    "change, message",
    [
        ({"skeleton": [["wrist", "elbow"]]}, "'elbow' is not one of the names"),
        ({"names": "wrist"}, "must be a list"),
        ({"names": list(range(5))}, "list of strings"),
        ({"names": ["x"] * 5000}, "at most"),
        ({"sigmas": ["a"] * 5}, "must be a number"),
        ({"wings": 2}, "unknown keys"),
        ({"flip_pairs": [[1, 2, 3]]}, "a pair"),
    ],
)
def test_malformed_sets_are_clear_errors(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeypointSet.from_dict({**HAND, **change})


def test_a_set_travels_in_the_config_and_num_joints_follows() -> None:
    cfg = load_config("res18_128x96", extra={"keypoints": HAND})
    assert cfg.model.num_joints == 5 and cfg.keypoints.name == "mitt"
    saved = cfg.to_dict()
    assert saved["keypoints"]["flip_pairs"] == [[3, 4]]
    assert config_from_dict(json.loads(json.dumps(saved))) == cfg
    assert load_config("res18_128x96").with_keypoints(cfg.keypoints) == cfg
    with pytest.raises(ValueError, match="num_joints 17 != 5"):
        load_config("res18_128x96", extra={"keypoints": HAND, "model": {"num_joints": 17}})


def test_files_without_a_set_read_as_coco17(tmp_path) -> None:
    cfg = load_config("res18_128x96")
    old = cfg.to_dict()
    del old["keypoints"]
    assert config_from_dict(old).keypoints == COCO17
    info = ModelInfo(config=cfg).to_dict()
    del info["config"]["keypoints"]
    (tmp_path / "model.json").write_text(json.dumps(info))
    loaded = ModelInfo.load(tmp_path)
    assert loaded.keypoints == COCO17 and loaded.keypoint_names == COCO17.names
    np.testing.assert_array_equal(loaded.keypoints.sigma_array(), COCO17.sigma_array())


def test_model_json_flat_copies_must_agree_with_the_config(tmp_path) -> None:
    cfg = load_config("res18_128x96", extra={"keypoints": HAND})
    data = ModelInfo(config=cfg).to_dict()
    assert data["keypoint_names"] == HAND["names"] and data["skeleton"][1] == [1, 2]
    data["flip_pairs"] = [[1, 2]]
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="flip_pairs contradicts config.keypoints"):
        ModelInfo.load(tmp_path)


def test_a_checkpoint_keeps_its_keypoint_set_under_a_preset() -> None:
    from simplepose.config.presets import reconcile_with_checkpoint

    saved = load_config("res18_128x96", extra={"keypoints": HAND})
    given = load_config("res18_128x96", ["test.oks_thre=0.5"])
    run = reconcile_with_checkpoint(saved, given, "hand.ckpt")
    assert run.keypoints == saved.keypoints and run.test.oks_thre == 0.5
    other = saved.with_keypoints(KeypointSet.from_dict({**HAND, "name": "other"}))
    with pytest.raises(ValueError, match="trained on 'mitt'"):
        reconcile_with_checkpoint(saved, other, "hand.ckpt")
