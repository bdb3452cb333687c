"""Thread pools of the CPU runtimes, sized from the CPUs this process may use.

One place decides them so MindSpore, ONNX Runtime and the benches agree and report the same
numbers. Intra-op threads split one operator (a convolution) over the cores; inter-op threads
run independent operators at once, which a sequential CNN does not have, so one is enough. More
threads than cores only adds contention (MindSpore's default is 25 kernel threads).

ONNX Runtime's intra-op threads spin (busy-wait) between parallel sections by default. In the
service the same cores also decode, crop and decode heatmaps for the next requests, and a
spinning thread takes its core from them; with spinning off the threads sleep instead.
bench/serve_throughput.py measures both (docs/fast-paths.md); ``SIMPLEPOSE_SPIN_WAIT=1`` turns
spinning back on (a machine whose cores do nothing but run the model).

How many CPUs: the affinity mask (a cpuset) and the cgroup CPU quota (cgroups v2 ``cpu.max``,
v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``: what compose ``cpus:`` and a Kubernetes CPU
limit set), whichever is smaller; a fractional quota rounds down (1.5 CPUs run one thread: a
second would be throttled for half of every period). Those CPUs are split into ``sessions``
inference sessions of ``intra_op`` threads each (``thread_plan``): one session's threads scale
badly past two (docs/fast-paths.md, "Cores"), so the service runs several side by side.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

THREADS_ENV = "SIMPLEPOSE_THREADS"  # the same name the service settings read (SIMPLEPOSE_*)
SESSIONS_ENV = "SIMPLEPOSE_SESSIONS"
SPIN_WAIT_ENV = "SIMPLEPOSE_SPIN_WAIT"
INTER_OP_THREADS = 1
# Threads per inference session when the plan is left to thread_plan: measured best per core
# (docs/fast-paths.md, "Cores").
SESSION_THREADS = 2
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def affinity_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup_dirs(root: Path, proc_cgroup: Path) -> list[Path]:
    """The directories of this process's cgroup under ``root`` (v2 line ``0::/path``, v1 lines
    ``N:cpu,cpuacct:/path``), then ``root`` itself (inside a container's cgroup namespace the
    limits sit at the root)."""
    dirs = []
    for line in (_read(proc_cgroup) or "").splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        rel = path.strip().lstrip("/")
        if not rel or ".." in Path(rel).parts:
            continue
        if controllers == "":
            dirs.append(root / rel)
        elif "cpu" in controllers.split(","):
            dirs += [root / "cpu" / rel, root / "cpu,cpuacct" / rel]
    return [*dirs, root, root / "cpu", root / "cpu,cpuacct"]


def cgroup_cpu_quota(root: Path | None = None, proc_cgroup: Path | None = None) -> float | None:
    """CPUs per period the cgroup grants (``1.5`` for ``150000 100000``), ``None``: no quota.
    ``root`` / ``proc_cgroup`` default to ``CGROUP_ROOT`` / ``PROC_CGROUP``."""
    for d in _own_cgroup_dirs(root or CGROUP_ROOT, proc_cgroup or PROC_CGROUP):
        v2 = _read(d / "cpu.max")
        if v2 is not None:
            quota, _, period = v2.partition(" ")
            return _quota(quota, period or "100000")
        v1 = _read(d / "cpu.cfs_quota_us")
        if v1 is not None:
            return _quota(v1, _read(d / "cpu.cfs_period_us") or "100000")
    return None


def _quota(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    return q / p if q > 0 and p > 0 else None


def usable_cpus(root: Path | None = None, proc_cgroup: Path | None = None) -> int:
    """CPUs this process can keep busy: its affinity mask, capped by the cgroup CPU quota
    (rounded down, at least 1)."""
    cpus = affinity_cpus()
    quota = cgroup_cpu_quota(root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota + 1e-9)))
    return cpus


@dataclass(frozen=True)
class ThreadPlan:
    sessions: int  # inference sessions run side by side
    threads: int  # intra-op threads of each


def thread_plan(cpus: int, session_threads: int = SESSION_THREADS) -> ThreadPlan:
    """``cpus`` split into sessions of ``session_threads`` threads (the last CPUs of an odd
    count go to the sessions' threads, so every CPU has a thread): 1 -> 1x1, 2 -> 1x2,
    3 -> 1x3, 8 -> 4x2, 16 -> 8x2."""
    if cpus < 1:
        raise ValueError(f"need at least one CPU, got {cpus}")
    sessions = max(1, cpus // session_threads)
    return ThreadPlan(sessions, cpus // sessions)


@dataclass(frozen=True)
class ThreadSettings:
    intra_op: int
    inter_op: int = INTER_OP_THREADS
    spin_wait: bool = False  # ONNX Runtime's busy-waiting intra-op threads
    sessions: int = 1  # inference sessions side by side, each with intra_op threads

    @property
    def total(self) -> int:
        """Threads of all sessions: what a runtime with one pool (MindSpore) gets."""
        return self.sessions * self.intra_op

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    try:
        return int(text) if text else None
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def thread_settings(
    threads: int | None = None, spin_wait: bool | None = None, sessions: int | None = None
) -> ThreadSettings:
    """``sessions`` x ``threads`` intra-op threads. Each if given, else ``$SIMPLEPOSE_SESSIONS``
    / ``$SIMPLEPOSE_THREADS``; with neither, ``thread_plan(usable_cpus())``; with only the
    thread count, one session. ``spin_wait`` if given, else ``$SIMPLEPOSE_SPIN_WAIT``
    (``1``/``0``), else off."""
    threads = _env_int(THREADS_ENV) if threads is None else threads
    sessions = _env_int(SESSIONS_ENV) if sessions is None else sessions
    if threads is None:
        cpus = usable_cpus()
        plan = thread_plan(cpus) if sessions is None else ThreadPlan(sessions, cpus // sessions)
        sessions, threads = plan.sessions, max(1, plan.threads)
    sessions = 1 if sessions is None else sessions
    if threads < 1 or sessions < 1:
        raise ValueError(f"thread and session counts must be >= 1, got {threads}, {sessions}")
    if spin_wait is None:
        flag = os.environ.get(SPIN_WAIT_ENV, "").strip()
        if flag not in ("", "0", "1"):
            raise ValueError(f"{SPIN_WAIT_ENV} must be 0 or 1, got {flag!r}")
        spin_wait = flag == "1"
    return ThreadSettings(intra_op=threads, spin_wait=spin_wait, sessions=sessions)
