"""Logs a user can trust, exit codes as documented (docs/cli.md).

Each command of a normal session runs as the user runs it (the ``simplepose`` executable, a
tiny network, the demo images in ``serving/demo_data``): train, resume, evaluate, export,
convert, predict, serve. None may print a WARNING/ERROR line or a Python warning that is not
about the user's situation; the exit codes are the documented ones, also after SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from localhost import free_port, wait_ready

REPO = Path(__file__).resolve().parents[2]
DEMO_DATA = REPO / "serving" / "demo_data"
IMAGE = DEMO_DATA / "train2017" / "000000370162.jpg"
SIMPLEPOSE = str(Path(sys.executable).with_name("simplepose"))
TINY = ["model.input_size=[64,96]", "model.heatmap_size=[16,24]", "model.deconv_channels=32"]
# MindSpore's "[WARNING] ME(...)", logging's "WARNING name:", Python's "XxxWarning: ...".
UNEXPECTED = re.compile(r"\b(WARNING|WARN|ERROR|CRITICAL|FATAL)\b|\w+Warning: |Traceback")
EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
TIMEOUT_S = 300
# Where the default detector cannot be fetched (no network here) that is said, as a warning.
DETECTOR_FALLBACK = (
    r"PERSON DETECTOR: none \(whole image is one person\): FALLBACK",
    r"person detector: falling back to none: ",
)


def clean_env() -> dict[str, str]:
    """The user's environment: no SIMPLEPOSE_* or GLOG_* settings from the test session."""
    drop = ("SIMPLEPOSE_", "GLOG_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run(*args: str, expect: int = EXIT_OK, allowed: tuple[str, ...] = ()) -> str:
    """Run ``simplepose ARGS``; check the exit code and that every WARNING/ERROR line matches
    one of the ``allowed`` patterns. Returns stdout + stderr."""
    proc = subprocess.run(
        [SIMPLEPOSE, *args], env=clean_env(), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == expect, f"exit {proc.returncode}, expected {expect}:\n{output}"
    check_lines(output, allowed)
    return output


def check_lines(output: str, allowed: tuple[str, ...] = ()) -> None:
    bad = [
        line
        for line in output.splitlines()
        if UNEXPECTED.search(line) and not any(re.search(a, line) for a in allowed)
    ]
    assert not bad, "unexpected warnings/errors:\n" + "\n".join(bad)


def catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a SIGTERM handler installed (Linux: SigCgt in its status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt")), 16
    )
    return bool(caught >> (signal.SIGTERM - 1) & 1)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run trained for 2 steps, stopped by --max-steps, resumed for its second epoch,
    evaluated and exported, each checked as it runs."""
    work = tmp_path_factory.mktemp("session")
    run_dir, model = work / "run", work / "model"
    # 23 persons, batch 8: 2 steps per epoch
    train = ["--data", str(DEMO_DATA), "--train-split", "train2017"]
    run("train", "--config", "res18_128x96", *train, "--output", str(run_dir), "--max-steps", "2",
        *TINY, "train.batch_size=8", "train.epochs=2", "data.num_workers=1")  # fmt: skip
    out = run("train", "--resume", str(run_dir), *train)
    assert "finished: epoch 2/2, global step 4" in out, out
    out = run("evaluate", "--checkpoint", str(run_dir / "last.ckpt"), "--data", str(DEMO_DATA),
              "--split", "train2017")  # fmt: skip
    assert "AP" in out
    run("export", "--checkpoint", str(run_dir / "last.ckpt"), "--output", str(model))
    return {"run": run_dir, "model": model, "work": work}


@pytest.mark.slow
def test_train_resume_evaluate_export_print_no_warnings(session) -> None:
    assert (session["model"] / "model.json").is_file()
    assert (session["run"] / "last_state.ckpt").is_file()


@pytest.mark.slow
def test_convert_and_predict_print_no_warnings(session) -> None:
    torch = pytest.importorskip("torch")
    from simplepose.network.checkpoint import read_checkpoint

    # The trained network as an MSRA-layout PyTorch file: same names, BatchNorm fields renamed.
    params, _ = read_checkpoint(session["run"] / "last.ckpt")
    renames = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
               "moving_variance": "running_var"}  # fmt: skip
    state = {}
    for name, value in params.items():
        module, field = name.rsplit(".", 1)
        state[f"{module}.{renames.get(field, field)}"] = torch.from_numpy(value.asnumpy())
    pth = session["work"] / "pose_resnet_18.pth"
    torch.save(state, pth)
    ckpt = session["work"] / "converted.ckpt"
    config = ["--config", "res18_128x96"]
    # The file's own shapes say 64x96-input-agnostic ResNet-18 with a 32-channel head; the
    # preset names the input size.
    out = run("convert", str(pth), "--output", str(ckpt), *config)
    assert ckpt.is_file(), out
    result = session["work"] / "predicted.json"
    run("predict", str(IMAGE), "--model", str(session["model"]), "--output", str(result),
        allowed=DETECTOR_FALLBACK)  # fmt: skip
    assert result.is_file()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_cleanly(session, sig) -> None:
    """SIGTERM (a service's normal stop) and Ctrl-C both drain the requests in flight: 0."""
    port, log_path = free_port(), session["work"] / f"serve-{sig.name}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [SIMPLEPOSE, "serve", "--model", str(session["model"]), "--port", str(port)],
            env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc, log_path, TIMEOUT_S)
            files = {"image": (IMAGE.name, IMAGE.read_bytes(), "image/jpeg")}
            answer = httpx.post(f"{base}/keypoints", files=files, timeout=60)
            assert answer.status_code == 200, answer.text
            proc.send_signal(sig)
            proc.wait(timeout=60)
        finally:
            proc.kill()
    output = log_path.read_text()
    assert proc.returncode == EXIT_OK, output
    assert "inference executor drained" in output
    # about the user's situation: the default detector could not be fetched here (no network),
    # so the whole image is one person, said once by the loader and once in the banner
    check_lines(output, allowed=DETECTOR_FALLBACK)


@pytest.mark.slow
def test_sigterm_exits_130_at_start_up_and_during_training(session) -> None:
    """SIGTERM while a command starts (MindSpore still loading) is an interruption like Ctrl-C
    (130, one line), not a kill (143); during training it checkpoints first, then 130."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen(
            [SIMPLEPOSE, "evaluate", "--checkpoint", str(session["run"] / "last.ckpt"),
             "--data", str(DEMO_DATA), "--split", "train2017"],
            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        # The command has started (its SIGTERM handler is in place: Python alone has none);
        # it is now importing NumPy/OpenCV/MindSpore and reading the data.
        deadline = time.monotonic() + TIMEOUT_S
        while not catches_sigterm(proc.pid) and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == EXIT_INTERRUPTED, output
        assert f"interrupted ({sig.name})" in output and "Traceback" not in output

    run_dir = session["work"] / "long"
    proc = subprocess.Popen(
        [SIMPLEPOSE, "train", "--config", "res18_128x96", "--data", str(DEMO_DATA),
         "--output", str(run_dir), *TINY, "train.batch_size=8", "train.epochs=1000",
         "train.log_every=1", "data.num_workers=1"],
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        if metrics.is_file() and '"step"' in metrics.read_text():
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == EXIT_INTERRUPTED, output
    assert "stopped: epoch" in output and (run_dir / "last.ckpt").is_file()
    # the stop is the user's own doing: reported, and the only warning lines are about it
    check_lines(output, allowed=(r"SIGTERM: stopping after this step", r"stopped \(SIGTERM\)"))


def test_user_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    out = run("export", "--checkpoint", str(tmp_path / "missing.ckpt"), "--output",
              str(tmp_path / "m"), expect=EXIT_USAGE, allowed=(r"^simplepose export: error:",))  # fmt: skip
    assert out.strip().splitlines()[-1].startswith("simplepose export: error:")
    assert "Traceback" not in out


def test_mindspore_log_level_is_only_a_default() -> None:
    """GLOG_v=3 (MindSpore's ERROR) once MindSpore loads, unless the user set GLOG_v."""
    code = "import simplepose, mindspore, os; print(os.environ['GLOG_v'])"
    env = clean_env()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "3"
    env["GLOG_v"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "1"
