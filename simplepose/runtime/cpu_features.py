"""What this CPU can do for inference, and whether oneDNN in this process may use it.

AMX (``amx_bf16``, ``amx_int8``: Intel Sapphire Rapids and later) runs bf16 and int8 matrix
products in tiles, several times the FP32 FMA rate. oneDNN, which OpenVINO and MindSpore both
build their CPU kernels on, reads ``ONEDNN_MAX_CPU_ISA`` once, at its first use in the process:
MindSpore needs it at ``AVX2`` (its convolutions are ~70x slower on AVX-512 otherwise), and the
same cap keeps OpenVINO from AMX (its bf16 deconvolution then fails to build). Pure: reads
``/proc/cpuinfo`` and the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

CPU_ISA_ENV = "ONEDNN_MAX_CPU_ISA"
AMX_FLAGS = ("amx_bf16", "amx_tile")
# ISA names oneDNN accepts that still include AMX (anything else caps below it).
UNCAPPED_ISAS = frozenset({"ALL", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX",
                           "AVX10_1_512_AMX_FP16", "AVX10_2_512_AMX_2"})  # fmt: skip
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


@lru_cache(maxsize=4)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The ``flags`` of the first processor in ``cpuinfo`` (empty when unreadable)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return "unknown"
    line = next((ln for ln in text.splitlines() if ln.startswith("model name")), "")
    return line.partition(":")[2].strip() or "unknown"


def has_amx(flags: frozenset[str] | None = None) -> bool:
    """True on CPUs with AMX bf16 tiles."""
    return all(f in (cpu_flags() if flags is None else flags) for f in AMX_FLAGS)


def isa_cap(env: dict[str, str] | None = None) -> str | None:
    """The ``ONEDNN_MAX_CPU_ISA`` value that keeps oneDNN below AMX in this process, or
    ``None`` when oneDNN may use everything the CPU has."""
    value = (os.environ if env is None else env).get(CPU_ISA_ENV, "").strip()
    return value if value and value.upper() not in UNCAPPED_ISAS else None


def reported_flags(flags: frozenset[str] | None = None) -> dict[str, bool]:
    """The ISA flags every bench JSON names (VNNI: int8 dot products; AMX: bf16/int8 tiles)."""
    have = cpu_flags() if flags is None else flags
    return {f: f in have for f in REPORTED_FLAGS}
