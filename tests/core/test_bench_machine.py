"""Every bench's JSON names the machine it ran on (bench/_machine.py): CPU model, cores, SMT,
ISA flags including AMX, load average. A figure without its machine cannot be compared."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_machine_module():
    spec = importlib.util.spec_from_file_location("_machine", BENCH / "_machine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_machine_reports_cpu_cores_smt_isa_and_load() -> None:
    bench_machine = load_machine_module()
    facts = bench_machine.machine()
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo: not Linux")
    assert isinstance(facts["cpu_model"], str) and facts["cpu_model"]
    assert 1 <= facts["usable_cpus"] <= facts["logical_cpus"]
    assert set(facts["isa"]) == set(bench_machine.ISA_FLAGS)
    assert all(isinstance(v, bool) for v in facts["isa"].values())
    assert {"avx512_vnni", "amx_int8", "amx_bf16", "avx512_bf16"} <= set(facts["isa"])
    assert len(facts["load_average"]) == 3 and all(x >= 0 for x in facts["load_average"])
    if facts["threads_per_core"] is not None:  # lscpu present
        assert facts["smt_siblings"] == (facts["threads_per_core"] > 1)
        assert (
            facts["sockets"] * facts["cores_per_socket"] * facts["threads_per_core"]
            == (facts["logical_cpus"])
        )


def test_without_lscpu_the_model_and_flags_come_from_proc_cpuinfo(monkeypatch) -> None:
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo: not Linux")
    bench_machine = load_machine_module()

    def no_lscpu(*args, **kwargs):
        raise FileNotFoundError("lscpu")

    monkeypatch.setattr(subprocess, "run", no_lscpu)
    facts = bench_machine.machine()
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flag_line = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    flags = set(flag_line.group(1).split()) if flag_line else set()
    assert facts["cpu_model"] == (model.group(1).strip() if model else None)
    assert facts["isa"] == {f: f in flags for f in bench_machine.ISA_FLAGS}
    assert facts["smt_siblings"] is None  # unknown rather than guessed


def test_every_bench_script_puts_the_machine_in_its_json() -> None:
    scripts = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))
    assert len(scripts) >= 20
    missing = [
        p.name
        for p in scripts
        if not re.search(r"""["']machine["']:\s*machine\(\)|machine=machine\(\)""", p.read_text())
    ]
    assert not missing, f'add "machine": machine() (bench/_machine.py) to their JSON: {missing}'
