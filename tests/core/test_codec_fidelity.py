"""The codec's accuracy limit on real COCO annotations (bench/codec_fidelity.py), as a regression test."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "codec_fidelity.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("codec_fidelity", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("preset", ["res50_256x192", "res50_384x288"])
def test_dark_reaches_the_ceiling_on_coco_mini(coco_mini, preset):
    result = load_bench().measure(coco_mini, "val2017", preset)
    ap, mean_err, max_err = result["ap"], result["mean_err"], result["max_err"]
    assert result["persons"] == 68
    assert ap["dark"] >= ap["ceiling"] - 0.001
    assert mean_err["dark"] <= 0.02
    assert max_err["dark"] <= max_err["quarter"]
    assert ap["argmax"] <= ap["quarter"] <= ap["dark"]
    assert mean_err["argmax"] > mean_err["quarter"] > mean_err["dark"]
    assert 0.98 < ap["ceiling"] < 1.0  # some labelled joints lie outside the crop
    assert result["joints_outside_crop"] > 0


def test_bench_reports_missing_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotation file"):
        load_bench().measure(tmp_path)
