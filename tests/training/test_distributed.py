"""Data parallel on CPU: ``simplepose train --devices 2`` runs two msrun workers."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from localhost import free_port
from train_cli import train_cli_command

from simplepose.training.run_dir import read_metrics

pytestmark = pytest.mark.slow
TIMEOUT_S = 300
ENV = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
NODE_LOSS_TIMEOUT_S = 150  # msrun notices a lost node in ~40 s here
SECOND_HOST_MSRUN = Path(__file__).with_name("second_host_msrun.py")


def _logs(run: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted((run / "msrun_logs").rglob("*.log")))


def _rank_metrics(run: Path) -> list[list[dict]]:
    return [read_metrics(run / name) for name in ("metrics.jsonl", "metrics_rank1.jsonl")]


@pytest.fixture(scope="module")
def two_worker_run(
    small_root: Path, tmp_path_factory: pytest.TempPathFactory, train_config
) -> Path:
    """One epoch of ``simplepose train --devices 2`` on one node (batch 2 per worker)."""
    run = tmp_path_factory.mktemp("two_workers") / "run"
    cmd = train_cli_command(
        small_root, run, train_config, 2, 1,
        "--devices", "2", "--device", "CPU", "--master-port", str(free_port()),
    )  # fmt: skip
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:] + _logs(run)
    return run


def test_two_workers_share_data_and_stay_identical(two_worker_run: Path) -> None:
    run = two_worker_run
    ranks = _rank_metrics(run)
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
    import time

    from simplepose.network.checkpoint import build_network

    run = tmp_path / "run"
    cmd = train_cli_command(
        small_root, run, train_config, 1, 50,
        "--devices", "2", "--device", "CPU", "--master-port", str(free_port()),
    )  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


# ---------------------------------------------------------------- two nodes on one machine


def _start_nodes(
    root: Path, run: Path, config, epochs: int, port: int, *extra: str
) -> list[subprocess.Popen]:
    """``simplepose train --nodes 2`` as node 0 and node 1 (one worker each, master on
    127.0.0.1). Node 1 runs the exact msrun command the CLI prints for it (``--print-command``),
    through msrun's own code with its is-this-the-master check answered as on a second host."""

    def node(rank: int, *more: str) -> list[str]:
        return train_cli_command(
            root, run, config, 2, epochs, "--devices", "1", "--device", "CPU", "--nodes", "2",
            "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port", str(port),
            *extra, *more,
        )  # fmt: skip

    printed = subprocess.run(
        node(1, "--print-command"), env=ENV, capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    path, _, command = printed.partition(" ")
    msrun, *msrun_args = shlex.split(command)
    assert Path(msrun).name == "msrun" and "--node_rank=1" in msrun_args
    assert "--worker_num=2" in msrun_args and "--local_worker_num=1" in msrun_args
    env1 = {**ENV, "PATH": path.removeprefix("PATH=").replace("$PATH", os.environ["PATH"])}
    # each "host" is a session of its own, so a test can take one away whole
    node0 = subprocess.Popen(
        node(0),
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    node1 = subprocess.Popen(
        [sys.executable, str(SECOND_HOST_MSRUN), *msrun_args],
        env=env1,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return [node0, node1]


def _kill_host(proc: subprocess.Popen, *workers: int) -> None:
    """SIGKILL a simulated host: the launcher's session and the msrun workers (msrun starts
    them in sessions of their own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _finish(procs: list[subprocess.Popen], timeout: float) -> list[tuple[int, str]]:
    results = []
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            results.append((proc.returncode, err))
    finally:
        for proc in procs:
            _kill_host(proc)
    return results


def test_two_nodes_train_like_one_node_with_two_workers(
    small_root: Path, tmp_path: Path, train_config, two_worker_run: Path
) -> None:
    run = tmp_path / "run"
    results = _finish(_start_nodes(small_root, run, train_config, 1, free_port()), TIMEOUT_S)
    assert [code for code, _ in results] == [0, 0], results[0][1][-3000:] + _logs(run)
    nodes, single = _rank_metrics(run), _rank_metrics(two_worker_run)
    # both ranks joined one job of two
    starts = [[m for m in r if m["kind"] == "start"][0] for r in nodes]
    assert [(s["rank"], s["world"]) for s in starts] == [(0, 2), (1, 2)]
    # gradients averaged across the nodes: identical parameters on both ranks...
    epochs = [[m for m in r if m["kind"] == "epoch"][0] for r in nodes]
    assert epochs[0]["params_sha256"] == epochs[1]["params_sha256"]
    # ...and the same training as one node with two workers and the same seed
    for rank in (0, 1):
        losses = [m["loss"] for m in nodes[rank] if m["kind"] == "step"]
        reference = [m["loss"] for m in single[rank] if m["kind"] == "step"]
        assert losses == pytest.approx(reference, rel=1e-5, abs=1e-7)
    reference_epoch = [m for m in single[0] if m["kind"] == "epoch"][0]
    assert epochs[0]["params_sha256"] == reference_epoch["params_sha256"]


def test_losing_a_node_stops_the_other_and_a_relaunch_resumes(
    small_root: Path, tmp_path: Path, train_config
) -> None:
    import time

    from simplepose.network.checkpoint import build_network

    run, epochs = tmp_path / "run", 6
    node0, node1 = _start_nodes(small_root, run, train_config, epochs, free_port(), "--auto-resume")
    rank1 = run / "metrics_rank1.jsonl"
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline and node0.poll() is None:
        records = read_metrics(rank1)
        if sum(r["kind"] == "epoch" for r in records) >= 2:  # a checkpoint exists by now
            break
        time.sleep(0.2)
    _kill_host(node1, records[0]["pid"])  # the whole second host goes away
    killed = time.time()
    (code, err), _ = _finish([node0, node1], timeout=NODE_LOSS_TIMEOUT_S)
    assert time.time() - killed < NODE_LOSS_TIMEOUT_S
    assert code not in (0, 130)
    assert "the distributed job failed" in err and "--auto-resume" in err, err[-2000:]
    _, _, meta = build_network(run / "last.ckpt")
    saved_epoch = meta["epoch"]
    assert 1 <= saved_epoch < epochs

    # the same two commands again (as a rescheduled pod would run them): resume, then finish
    results = _finish(
        _start_nodes(small_root, run, train_config, epochs, free_port(), "--auto-resume"), TIMEOUT_S
    )
    assert [c for c, _ in results] == [0, 0], results[0][1][-3000:] + _logs(run)
    starts = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "start"]
    assert [s["resume"] for s in starts] == [False, True]
    assert json.loads(starts[-1]["state"])["epoch"] == saved_epoch
    _, _, meta = build_network(run / "last.ckpt")
    assert meta["epoch"] == epochs
