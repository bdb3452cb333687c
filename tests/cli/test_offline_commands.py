"""``predict`` and ``detect`` are offline commands: they import neither FastAPI nor the service's
settings (so service-only variables cannot break them), and an exported ONNX model runs without
MindSpore, in the command and in ``PoseEstimator``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

SERVICE_ONLY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "simplepose.serving.settings",
    "pydantic_settings",
)
CHECK = """
import json, sys
from simplepose.cli import main
code = main({args!r})
loaded = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"code": code, "loaded": loaded}}))
"""


def _run(args: list[str], heavy: tuple[str, ...], **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    environ.update(env)
    code = CHECK.format(args=args, heavy=heavy)
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _image(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), rng.integers(0, 255, (96, 64, 3), dtype=np.uint8))
    return path


def test_predict_of_an_onnx_model_loads_neither_the_service_nor_mindspore(tiny_onnx_dir, tmp_path):
    image, out = _image(tmp_path), tmp_path / "r.json"
    args = ["predict", str(image), "--model", str(tiny_onnx_dir), "--detector", "none",
            "--output", str(out)]  # fmt: skip
    # a service-only setting that would fail the service's validation is not predict's business
    got = _run(args, (*SERVICE_ONLY, "mindspore"), SIMPLEPOSE_RATE_LIMIT_PERSONS_BURST="1")
    assert got == {"code": 0, "loaded": []}
    result = json.loads(out.read_text())
    assert result["model"]["runtime"] == "onnxruntime" and result["model"]["origin"] == "path"
    assert len(result["images"][0]["persons"]) == 1


def test_detect_and_help_stay_offline(tmp_path):
    image = _image(tmp_path)
    args = ["detect", str(image), "--detector", "hog", "--output", str(tmp_path / "d.json")]
    assert _run(args, (*SERVICE_ONLY, "mindspore")) == {"code": 0, "loaded": []}


def _serve_error(tmp_path: Path, **variables: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    env.update(variables)
    args = [sys.executable, "-m", "simplepose.cli", "serve", "--model", str(tmp_path)]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    return out.stderr.strip().splitlines()[-1]


def test_service_setting_errors_name_the_variable(tmp_path):
    line = _serve_error(tmp_path, SIMPLEPOSE_PORT="0")
    assert line.endswith(
        "error: port (SIMPLEPOSE_PORT): Input should be greater than or equal to 1"
    )
    line = _serve_error(tmp_path, SIMPLEPOSE_RATE_LIMIT_PERSONS_BURST="1")
    assert line.startswith("simplepose serve: error: rate_limit_persons_burst ")
    assert "(SIMPLEPOSE_RATE_LIMIT_PERSONS_BURST=1) must be at least max_boxes" in line
    assert "error: :" not in line  # the check across fields has no field name of its own
