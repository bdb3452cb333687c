"""Time from ``make serve`` to the first ``POST /keypoints`` answer, as a new user meets it.

Runs ``make serve`` in the repository with an empty cache directory (so the default model
cannot be found offline and the demo model is built from scratch: training, export, load,
warm-up) and posts one of the demo images as soon as the port answers. The virtual environment
must exist already (``make venv``); that is the "environment existing" case of the README.

    python bench/first_answer.py            # fresh cache each run
    python bench/first_answer.py --runs 3

``--installs``: the base install (``pip install simplepose``: ONNX inference, no MindSpore)
against the full one (``[mindspore,serve,video,eval]``), each a fresh venv: its size and a new
process's time to the first ``PoseEstimator(onnx_dir)(image)`` answer (``bench/_installs.py``).
The ONNX model is a random-weight ResNet-50 256x192 exported with buckets 1,2,4 (same cost as
the trained one), unless ``--model DIR`` names one.

    python bench/first_answer.py --installs
    python bench/first_answer.py --installs --workdir /tmp/fa        # keeps venvs and model
    python bench/first_answer.py --installs --model /tmp/fa/r50-onnx --venv base=/tmp/fa/venv-base

Numbers on a machine shared with other jobs are noisy; the load average is reported with them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _installs import compare  # noqa: E402
from _machine import machine  # noqa: E402
from _service import free_port, preset_random_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO / "serving" / "demo_data" / "train2017" / "000000489520.jpg"
TIMEOUT_S = 900


def one_run(log_dir: Path, demo_steps: int | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="first-answer-cache-") as cache:
        return _one_run(log_dir, Path(cache), demo_steps)


def _one_run(log_dir: Path, cache: Path, demo_steps: int | None) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    env.update(SIMPLEPOSE_CACHE_DIR=str(cache), SIMPLEPOSE_OFFLINE="1", SIMPLEPOSE_PORT=str(port))
    if demo_steps is not None:
        env["SIMPLEPOSE_DEMO_TRAIN_STEPS"] = str(demo_steps)
    log = (log_dir / f"serve-{port}.log").open("w")
    start = time.monotonic()
    # A new process group, so the SIGTERM reaches the server that make started.
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "serve"], cwd=REPO, env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        listening = None
        while time.monotonic() - start < TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError(f"make serve exited {proc.returncode}; see {log.name}")
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/keypoints",
                    files={"image": (IMAGE.name, IMAGE.read_bytes(), "image/jpeg")},
                    timeout=60,
                )
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            listening = listening or time.monotonic()
            if response.status_code == 503:  # listening, the model still loading/building
                time.sleep(0.2)
                continue
            response.raise_for_status()
            answer = time.monotonic() - start
            body = response.json()
            if not body["model"]["demo"]:
                raise RuntimeError("expected the demo model on an empty cache")
            return {
                "first_answer_s": round(answer, 1),
                "port_answered_s": round(listening - start, 1),
                "persons": len(body["persons"]),
            }
        raise RuntimeError(f"no answer in {TIMEOUT_S} s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        log.close()


def onnx_model(workdir: Path) -> Path:
    """A random-weight ResNet-50 exported as ONNX buckets (needs MindSpore: this interpreter)."""
    from simplepose.export.exporter import export_model

    model = workdir / "r50-onnx"
    export_model(preset_random_checkpoint(workdir), model, flip=True, fmt="onnx",
                 batch_sizes=(1, 2, 4))  # fmt: skip
    return model


def installs(args: argparse.Namespace) -> None:
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        _installs(args, args.workdir)
        return
    # the venvs take GBs: gone after the run unless --workdir keeps them for --venv reuse
    with tempfile.TemporaryDirectory(prefix="first-answer-installs-") as workdir:
        _installs(args, Path(workdir))


def _installs(args: argparse.Namespace, workdir: Path) -> None:
    venvs = dict(item.split("=", 1) for item in args.venv)
    model = args.model or onnx_model(workdir)
    result = compare(model, workdir, args.runs, {k: Path(v) for k, v in venvs.items()})
    for row in result["installs"]:
        print(f"{row['install']}: {row['venv_mb']} MB, first answer "
              f"{row['first_answer_after_import_s_first']} s after import "
              f"(import {row['import_s_first']} s, mindspore loaded: {row['mindspore_loaded']})")  # fmt: skip
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--installs", action="store_true", help="base vs full install")
    parser.add_argument("--model", type=Path, help="--installs: the ONNX model directory")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="--installs: keep the venvs and model here (default: removed after)",
    )
    parser.add_argument("--venv", action="append", default=[], metavar="KIND=PATH",
                        help="--installs: measure this existing venv (base or full)")  # fmt: skip
    parser.add_argument(
        "--demo-steps", type=int, help="demo training steps (default: the service's)"
    )
    args = parser.parse_args()
    if args.installs:
        installs(args)
        return
    log_dir = Path(tempfile.mkdtemp(prefix="first-answer-logs-"))
    runs = []
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        run = one_run(log_dir, args.demo_steps)
        run["load_avg_1min_before"] = round(load, 2)
        runs.append(run)
        print(f"first answer after {run['first_answer_s']} s (load average {load:.2f})")
    times = sorted(r["first_answer_s"] for r in runs)
    print(
        json.dumps(
            {
                "runs": runs,
                "median_s": times[len(times) // 2],
                "logs": str(log_dir),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
