"""Smoke test of ``bench/finetune.py`` on the custom nine-point dataset with the tiny network:
both runs train, validate, stop at the target AP, and the JSON carries both step counts and the
machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from custom_keypoints import write_custom_dataset

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_finetune_bench_reports_both_step_counts(
    coco_mini: Path, tmp_path: Path, tiny_checkpoint: Path, tiny_config
) -> None:
    dataset = write_custom_dataset(coco_mini, tmp_path / "upper9")
    m = tiny_config.model
    cmd = [
        sys.executable, str(REPO / "bench" / "finetune.py"), "--dataset", str(dataset),
        "--init", str(tiny_checkpoint), "--batch-size", "42", "--max-steps", "4",
        "--eval-every", "2", "--target", "0", "--output", str(tmp_path / "runs"),
        f"model.input_size=[{m.input_size[0]},{m.input_size[1]}]",
        f"model.heatmap_size=[{m.heatmap_size[0]},{m.heatmap_size[1]}]",
        f"model.deconv_channels={m.deconv_channels}", "data.num_workers=1",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # 84 instances, batch 42: 2 steps per epoch; target AP 0 stops at the first validation
    assert result["finetuned_steps"] == result["scratch_steps"] == 2
    assert [s for s, _ in result["finetuned"]["curve"]] == [2]
    assert result["keypoints"] == 9 and result["instances"] == 84
    assert result["fewer_steps"] is False and "isa" in result["machine"]
    assert "final layer re-initialised" in done.stderr  # the COCO-17 head was not kept
