"""bench/hostile_uploads.py runs (small limits) and every crafted structure bomb is refused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "hostile_uploads.py"


@pytest.mark.slow  # a bench script
def test_hostile_uploads_bench_smoke(capsys) -> None:
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("hostile_uploads_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--max-mb", "1", "--skip-accepted"])
    hostile = result["hostile"]["all"]
    for name in ("png_empty_chunks_before_pixels", "jpeg_empty_segments_before_scan",
                 "jpeg_fill_bytes_before_scan", "jpeg_400_scans"):  # fmt: skip
        assert hostile[name]["answer"] == "400 invalid_image", name
    assert hostile["bmp_side_over_opencv"]["answer"] == "413 too_many_pixels"
    assert result["machine"]["logical_cpus"] >= 1 and "amx_int8" in result["machine"]["isa"]
    assert capsys.readouterr().out.strip().startswith("{")
