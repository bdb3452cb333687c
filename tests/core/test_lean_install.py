"""The base install (``pip install simplepose``, no extras) serves an exported ONNX model: the
Python API and ``simplepose predict`` answer, MindSpore is neither installed nor imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 600
PREDICT = """
import json, sys
import numpy as np
from simplepose import PoseEstimator
from simplepose.cli import main
estimator = PoseEstimator(sys.argv[1], detector="none")
poses = estimator(np.random.default_rng(0).integers(0, 255, (96, 64, 3), dtype=np.uint8))
code = main(["predict", sys.argv[2], "--model", sys.argv[1], "--detector", "none",
             "--output", sys.argv[3]])
print(json.dumps({"persons": len(poses), "backend": estimator.model.backend, "code": code,
                  "mindspore": "mindspore" in sys.modules, "fastapi": "fastapi" in sys.modules}))
"""


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_the_base_install_runs_an_onnx_model_without_mindspore(tiny_onnx_dir, tmp_path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMPLEPOSE_", "PYTHON"))}
    env["HOME"] = str(tmp_path)  # an empty hub cache: nothing found by accident
    try:
        subprocess.run([python, "-m", "pip", "install", "--quiet", str(REPO)], check=True,
                       timeout=INSTALL_TIMEOUT_S, capture_output=True, env=env)  # fmt: skip
        probe = "import importlib.util as u; print([m for m in ('mindspore', 'fastapi', 'av', 'pycocotools') if u.find_spec(m)])"
        assert subprocess.run([python, "-c", probe], capture_output=True, text=True,
                              cwd="/", env=env, check=True).stdout.strip() == "[]"  # fmt: skip
        import cv2
        import numpy as np

        image = tmp_path / "photo.png"
        cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 255, (96, 64, 3), np.uint8))
        out = tmp_path / "r.json"
        run = subprocess.run([python, "-c", PREDICT, str(tiny_onnx_dir), str(image), str(out)],
                             capture_output=True, text=True, cwd="/", env=env, timeout=300)  # fmt: skip
        assert run.returncode == 0, run.stderr
        got = json.loads(run.stdout.strip().splitlines()[-1])
        assert got == {"persons": 1, "backend": "onnxruntime", "code": 0, "mindspore": False,
                       "fastapi": False}  # fmt: skip
        assert len(json.loads(out.read_text())["images"][0]["persons"]) == 1
        # what needs MindSpore says so in one line, instead of an ImportError
        no_model = subprocess.run([str(venv / "bin" / "simplepose"), "predict", str(image),
                                   "--model", "mmpose1-res50-256x192", "--offline"],
                                  capture_output=True, text=True, cwd="/", env=env, timeout=120)  # fmt: skip
        assert no_model.returncode == 2 and "Traceback" not in no_model.stderr
        assert "weights get mmpose1-res50-256x192" in no_model.stderr
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def test_the_install_bench_runs(tiny_onnx_dir) -> None:
    """``bench/first_answer.py --installs`` on existing venvs (this one for both: a smoke run)."""
    venv = Path(sys.prefix)
    args = [sys.executable, str(REPO / "bench" / "first_answer.py"), "--installs", "--model",
            str(tiny_onnx_dir), "--venv", f"base={venv}", "--venv", f"full={venv}"]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["install"] for r in result["installs"]] == ["base", "full"]
    assert result["size_ratio_base_to_full"] == 1.0 and result["machine"]["usable_cpus"] >= 1
    assert "amx_int8" in result["machine"]["isa"]  # the ISA table names AMX, present or not
    for row in result["installs"]:
        assert row["backend"] == "onnxruntime" and row["mindspore_loaded"] is False
        assert row["first_answer_after_import_s_first"] > 0 and row["venv_mb"] > 0
