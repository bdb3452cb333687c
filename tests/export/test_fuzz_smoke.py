"""A small bounded run of bench/fuzz_checkpoint.py (the full 5,000-case run is a benchmark):
mutated checkpoints and generated opcode streams, each read in a forked, memory-capped child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FUZZER = Path(__file__).resolve().parents[2] / "bench" / "fuzz_checkpoint.py"


@pytest.mark.slow
def test_fuzzer_smoke_run_has_no_crash_and_no_unmapped_exception() -> None:
    run = subprocess.run(
        [sys.executable, str(FUZZER), "--cases", "150", "--seed", "3"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    stats = json.loads(run.stdout.strip().splitlines()[-1])
    assert stats["cases"] == 150
    assert stats["crashes"] == 0 and stats["unmapped_exceptions"] == 0, run.stderr[-2000:]
    assert stats["max_rss_mb"] < 4 * stats["max_file_bytes"] / 2**20 + 200
