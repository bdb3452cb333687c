"""The machine a bench ran on: every bench's JSON carries ``"machine": machine()``.

A figure means little without the CPU behind it: INT8 speed depends on VNNI/AMX, MindSpore's
convolutions on AVX-512 (the oneDNN ISA cap), parallel speed-ups on whether two "cores" are SMT
siblings of one, and any timing on what else ran (the load average).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

# The ISA extensions that decide this project's speeds: AVX2/AVX-512 (oneDNN's kernels),
# VNNI (int8 dot products), BF16/FP16 and AMX (matrix tiles for bf16/int8).
ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def _lscpu() -> dict[str, str]:
    """``lscpu``'s "Key: value" lines (C locale), or {} where lscpu is missing."""
    try:
        out = subprocess.run(
            ["lscpu"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            env={**os.environ, "LC_ALL": "C"},
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    facts: dict[str, str] = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            facts.setdefault(key.strip(), value.strip())
    return facts


def _cpuinfo() -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo (model name, flags), or {}."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    facts: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            facts[key.strip()] = value.strip()
    return facts


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def machine() -> dict[str, Any]:
    """CPU model, sockets/cores/threads, SMT, ISA flags, usable CPUs, memory and load average."""
    lscpu, cpuinfo = _lscpu(), _cpuinfo()
    flags = set((lscpu.get("Flags") or cpuinfo.get("flags", "")).split())
    threads_per_core = _int(lscpu.get("Thread(s) per core"))
    try:
        memory_gib: float | None = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        )
    except (OSError, ValueError):
        memory_gib = None
    return {
        "cpu_model": lscpu.get("Model name") or cpuinfo.get("model name"),
        "vendor": lscpu.get("Vendor ID") or cpuinfo.get("vendor_id"),
        "architecture": lscpu.get("Architecture") or os.uname().machine,
        "hypervisor": lscpu.get("Hypervisor vendor"),
        "sockets": _int(lscpu.get("Socket(s)")),
        "cores_per_socket": _int(lscpu.get("Core(s) per socket")),
        "threads_per_core": threads_per_core,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "smt_siblings": None if threads_per_core is None else threads_per_core > 1,
        "isa": {flag: flag in flags for flag in ISA_FLAGS},
        "memory_gib": memory_gib,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(machine(), indent=2))
