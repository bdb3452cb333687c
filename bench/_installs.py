"""The base install against the full one: venv size and a new process's time to its first
``PoseEstimator(onnx_dir)(image)`` answer (``bench/first_answer.py --installs``).

Each install is a fresh ``python -m venv`` with ``pip install <repo>[extras]`` (pip's local
index and cache make this minutes, not a download). The timed process imports nothing but
``simplepose``; it reports the import time, the time from import to the first answer (resolve,
load with ONNX Runtime, one image) and whether MindSpore was loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _machine import machine

REPO = Path(__file__).resolve().parents[1]
KINDS = {"base": "", "full": "[mindspore,serve,video,eval]"}
FIRST_ANSWER = """
import json, sys, time
start = time.perf_counter()
from simplepose import PoseEstimator
imported = time.perf_counter()
import numpy as np
estimator = PoseEstimator(sys.argv[1], device="CPU", detector="none")
poses = estimator(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8))
answered = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_answer_after_import_s": answered - imported,
                  "persons": len(poses), "backend": estimator.model.backend,
                  "mindspore_loaded": "mindspore" in sys.modules}))
"""


def venv_bytes(venv: Path) -> int:
    """Bytes of the files in ``venv`` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(venv):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def install(venv: Path, extras: str) -> float:
    """A fresh venv at ``venv`` with ``<repo><extras>``; returns the seconds it took."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, f"{REPO}{extras}"], check=True, timeout=1800, capture_output=True)
    return time.perf_counter() - start


def first_answer(venv: Path, model: Path, runs: int) -> list[dict[str, Any]]:
    """``runs`` new processes of ``venv``'s Python, each timing its first answer (from ``/``, so
    the checkout cannot shadow the installed package)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIMPLEPOSE_", "ONEDNN_", "PYTHON"))}  # fmt: skip
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", FIRST_ANSWER, str(model)], cwd="/", env=env,
            capture_output=True, text=True, timeout=600, check=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def measure(name: str, venv: Path, model: Path, runs: int, installed_s: float | None) -> dict:
    times = first_answer(venv, model, runs)
    after = sorted(t["first_answer_after_import_s"] for t in times)
    return {
        "install": name,
        "venv": str(venv),
        "venv_mb": round(venv_bytes(venv) / 2**20, 1),
        "install_s": None if installed_s is None else round(installed_s, 1),
        "import_s_first": round(times[0]["import_s"], 2),
        "first_answer_after_import_s_first": round(times[0]["first_answer_after_import_s"], 2),
        "first_answer_after_import_s_median": round(after[len(after) // 2], 2),
        "backend": times[0]["backend"],
        "mindspore_loaded": any(t["mindspore_loaded"] for t in times),
    }


def compare(model: Path, workdir: Path, runs: int, venvs: dict[str, Path]) -> dict[str, Any]:
    """Measure each install of ``KINDS`` (a venv of ``venvs`` is used as it is, else made)."""
    load = os.getloadavg()[0]
    rows = {}
    for name, extras in KINDS.items():
        if name in venvs:
            rows[name] = measure(name, venvs[name], model, runs, None)
            continue
        venv = workdir / f"venv-{name}"
        rows[name] = measure(name, venv, model, runs, install(venv, extras))
    result: dict[str, Any] = {"machine": machine(), "load_avg_1min_before": round(load, 2),
                              "model": str(model), "installs": list(rows.values())}  # fmt: skip
    if "base" in rows and "full" in rows:
        result["size_ratio_base_to_full"] = round(
            rows["base"]["venv_mb"] / rows["full"]["venv_mb"], 3
        )
    result["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    return result
