"""bench/fuzz_video.py runs end to end at a tiny size: a real service process, every transport,
the flood, and the findings it must report (no 5xx, no socket, no file outside the upload)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz_video.py"


@pytest.mark.slow  # a bench script with a real service process
@pytest.mark.timeout(900)
def test_fuzz_video_smoke(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("fuzz_video_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--cases", "40", "--flood-messages", "2", "--flood-mb", "1", "--workdir",
            str(tmp_path), "--model", str(tiny_checkpoint)]  # fmt: skip
    result = module.main(argv)
    assert result["cases"] == 40 and result["service_alive"]
    transports = {key.split()[0] for key in result["outcomes"]}
    assert transports == {"http", "ws", "wstext"}
    assert result["server_errors_5xx"] == 0, result["server_error_cases"]
    assert result["sockets_opened_psutil"] == [] and result["files_outside_upload_psutil"] == []
    if result["strace"] is not None:
        assert result["strace"]["socket_calls"] == 0 and result["strace"]["file_opens"] == 0
        assert result["strace"]["canary_opened"] == 0
    assert "close:1011" not in result["flood"]["answers"] and result["flood"]["answers"]
    assert result["machine"]["logical_cpus"] >= 1
    assert capsys.readouterr().out.strip().startswith("{")
