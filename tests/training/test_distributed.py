"""Data parallel on CPU: ``simplepose train --devices 2`` runs two msrun workers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from localhost import free_port
from simplepose.training.run_dir import read_metrics
from train_cli import train_cli_command

pytestmark = pytest.mark.slow
TIMEOUT_S = 300


def test_two_workers_share_data_and_stay_identical(
    small_root: Path, tmp_path: Path, train_config
) -> None:
    run = tmp_path / "run"
    cmd = train_cli_command(
        small_root, run, train_config, 2, 1,
        "--devices", "2", "--device", "CPU", "--master-port", str(free_port()),
    )  # fmt: skip
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


def test_signal_to_one_worker_stops_both_at_the_same_step(
    small_root: Path, tmp_path: Path, train_config
) -> None:
    """SIGTERM reaching rank 1 only: both ranks agree to stop after the same step (no rank is
    left waiting in the all-reduce) and rank 0 writes a resumable checkpoint."""
    import signal
    import time

    from simplepose.network.checkpoint import build_network

    run = tmp_path / "run"
    cmd = train_cli_command(
        small_root, run, train_config, 1, 50,
        "--devices", "2", "--device", "CPU", "--master-port", str(free_port()),
    )  # fmt: skip
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + TIMEOUT_S
        rank1 = run / "metrics_rank1.jsonl"
        while time.time() < deadline and proc.poll() is None:
            records = read_metrics(rank1)
            if any(r["kind"] == "step" for r in records):
                os.kill(records[0]["pid"], signal.SIGTERM)
                break
            time.sleep(0.05)
        proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    stops = [
        [r for r in read_metrics(run / name) if r["kind"] == "stop"]
        for name in ("metrics.jsonl", "metrics_rank1.jsonl")
    ]
    assert [len(s) for s in stops] == [1, 1], stops
    assert stops[1][0]["reason"] == "SIGTERM"
    assert stops[0][0]["reason"] == "stop requested on another rank"
    assert stops[0][0]["state"] == stops[1][0]["state"]  # same epoch, step, global step
    _, _, meta = build_network(run / "last.ckpt")
    assert meta["global_step"] == json.loads(stops[0][0]["state"])["global_step"]
