"""Data parallel on CPU: ``simplepose train --devices 2`` runs two msrun workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from training.run_dir import read_metrics

pytestmark = pytest.mark.slow
TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_share_data_and_stay_identical(
    small_root: Path, tmp_path: Path, train_config
) -> None:
    run = tmp_path / "run"
    m = train_config.model
    cmd = [
        str(Path(sys.executable).with_name("simplepose")),
        "train", "--devices", "2", "--device", "CPU", "--master-port", str(_free_port()),
        "--config", "res18_128x96", "--data", str(small_root), "--output", str(run),
        f"model.input_size={list(m.input_size)}".replace(" ", ""),
        f"model.heatmap_size={list(m.heatmap_size)}".replace(" ", ""),
        f"model.deconv_channels={m.deconv_channels}",
        "train.batch_size=2", "train.epochs=1", "train.log_every=1", "data.num_workers=1",
    ]  # fmt: skip
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((run / "msrun_logs").glob("*.log")))
    assert proc.returncode == 0, proc.stderr[-3000:] + logs

    ranks = [read_metrics(run / name) for name in ("metrics.jsonl", "metrics_rank1.jsonl")]
    starts = [[m for m in r if m["kind"] == "start"][0] for r in ranks]
    assert [s["rank"] for s in starts] == [0, 1] and all(s["world"] == 2 for s in starts)
    epochs = [[m for m in r if m["kind"] == "epoch"][0] for r in ranks]
    # 8 persons, batch 2 per rank: 2 steps each, 4 samples each, every sample once in all
    assert [e["global_step"] for e in epochs] == [2, 2]
    assert sum(e["samples"] for e in epochs) == 8
    # different data per rank (different losses), same averaged update (same parameters)
    steps = [[m for m in r if m["kind"] == "step"] for r in ranks]
    assert steps[0][0]["loss"] != steps[1][0]["loss"]
    assert epochs[0]["params_sha256"] == epochs[1]["params_sha256"]
    # only rank 0 writes checkpoints
    assert (run / "last.ckpt").is_file() and (run / "config.yaml").is_file()
