from pathlib import Path

import numpy as np
import pytest

from simplepose.config.loading import config_from_dict, load_config, parse_overrides
from simplepose.config.presets import PRESETS, get_preset
from simplepose.pose.keypoints import COCO17


def test_presets_cover_all_depths_and_sizes():
    for depth in (18, 34, 50, 101, 152):
        small, large = get_preset(f"res{depth}_256x192"), get_preset(f"res{depth}_384x288")
        assert small.model.input_size == (192, 256) and small.model.heatmap_size == (48, 64)
        assert large.model.input_size == (288, 384) and large.model.heatmap_size == (72, 96)
        assert small.model.depth == depth
    seed = get_preset("res50_256x192")
    assert seed.train.lr == 1e-3 and seed.train.lr_steps == (90, 120) and seed.train.epochs == 140
    assert seed.model.std == (0.229, 0.224, 0.225)
    assert seed.test.in_vis_thre == 0.2 and seed.test.oks_thre == 0.9
    for cfg in PRESETS.values():
        cfg.validate()


def test_unknown_preset_lists_choices():
    with pytest.raises(ValueError, match="res50_256x192"):
        get_preset("res51_256x192")


def test_cli_and_yaml_overrides(tmp_path):
    cfg = load_config(
        "res50_256x192", ["train.lr=0.01", "train.lr_steps=[5,8]", "test.flip_test=false"]
    )
    assert cfg.train.lr == 0.01 and cfg.train.lr_steps == (5, 8) and cfg.test.flip_test is False
    path = tmp_path / "mine.yaml"
    path.write_text("preset: res18_256x192\nmodel:\n  channel_order: BGR\ntrain:\n  epochs: 3\n")
    cfg = load_config(path, ["train.batch_size=4"])
    assert (cfg.name, cfg.model.depth, cfg.model.channel_order) == ("mine", 18, "BGR")
    assert (cfg.train.epochs, cfg.train.batch_size) == (3, 4)
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "unknown config key 'train.lrr'"),
        ("train.lr=fast", "expects a number"),
        ("model.depth=42", "model.depth must be one of"),
        ("model.input_size=[100,128]", "multiples of 32"),
        ("model.channel_order=RBG", "channel_order"),
        ("test.decode=mean", "test.decode must be one of"),
        ("train.amp_level=O4", "amp_level"),
        ("train.batch_size=0", "batch_size"),
        ("train", "section.key=value"),
    ],
)
def test_bad_overrides_raise_clear_errors(override, message):
    with pytest.raises(ValueError, match=message):
        load_config("res50_256x192", [override])


def test_parse_overrides_nests():
    assert parse_overrides(["a.b=1", "a.c=[1,2]"]) == {"a": {"b": 1, "c": [1, 2]}}


def test_keypoint_metadata_consistent():
    assert COCO17.num_keypoints == 17 == len(COCO17.sigmas)
    pairs = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
    assert COCO17.flip_pairs == pairs
    idx = COCO17.flip_index()
    np.testing.assert_array_equal(idx[idx], np.arange(17))
    assert len(COCO17.skeleton) == 19
    assert COCO17.lower_body == tuple(range(11, 17))


def test_shipped_yaml_configs_load():
    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert configs, "configs/ ships example YAML configs"
    for path in configs:
        cfg = load_config(path)
        assert cfg.name == path.stem
    seed = load_config(configs[[p.stem for p in configs].index("seed_res50_256x192_ascend")])
    assert seed.train.amp_level == "O2" and seed.model.depth == 50


def test_saved_configs_with_retired_keys_still_load() -> None:
    from simplepose.config.loading import config_from_dict
    from simplepose.config.presets import Config

    saved = Config().to_dict()
    saved["test"]["bbox_thre"] = 1.0  # written by older versions, never read
    assert config_from_dict(saved) == Config()
    saved["test"]["bogus"] = 1.0
    with pytest.raises(ValueError, match="unknown config key 'test.bogus'"):
        config_from_dict(saved)
