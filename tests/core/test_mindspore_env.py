"""MindSpore's environment defaults are set when MindSpore loads, never before (other libraries
in the process, e.g. PyTorch or OpenVINO, keep their oneDNN ISA)."""

from __future__ import annotations

import os
import subprocess
import sys

ENV = "import os, json; print(json.dumps({k: os.environ.get(k) for k in ('ONEDNN_MAX_CPU_ISA', 'GLOG_v')}))"


def _env_after(code: str, **extra: str) -> dict:
    import json

    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "GLOG_v")}
    env.update(extra)
    out = subprocess.run([sys.executable, "-c", f"{code}\n{ENV}"], env=env, check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_simplepose_and_onnx_paths_leave_the_environment_alone() -> None:
    code = "import simplepose, simplepose.runtime.onnx_model, simplepose.detection, sys\nassert 'mindspore' not in sys.modules"
    assert _env_after(code) == {"ONEDNN_MAX_CPU_ISA": None, "GLOG_v": None}


def test_loading_mindspore_sets_the_cap_and_log_level_and_user_values_win() -> None:
    # mindspore imported by a module of ours and directly, after simplepose: both are caught
    assert _env_after("import simplepose.runtime.device") == {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "GLOG_v": "3",
    }
    assert _env_after("import simplepose\nimport mindspore") == {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "GLOG_v": "3",
    }
    user = _env_after(
        "import simplepose.network.pose_net", ONEDNN_MAX_CPU_ISA="AVX512_CORE", GLOG_v="1"
    )
    assert user == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "GLOG_v": "1"}
