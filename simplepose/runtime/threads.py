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
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

THREADS_ENV = "SIMPLEPOSE_THREADS"  # the same name the service settings read (SIMPLEPOSE_*)
SPIN_WAIT_ENV = "SIMPLEPOSE_SPIN_WAIT"
INTER_OP_THREADS = 1


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadSettings:
    intra_op: int
    inter_op: int = INTER_OP_THREADS
    spin_wait: bool = False  # ONNX Runtime's busy-waiting intra-op threads

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def thread_settings(threads: int | None = None, spin_wait: bool | None = None) -> ThreadSettings:
    """``threads`` intra-op threads if given, else ``$SIMPLEPOSE_THREADS``, else one per
    usable CPU; ``spin_wait`` if given, else ``$SIMPLEPOSE_SPIN_WAIT`` (``1``/``0``), else off."""
    if threads is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        try:
            threads = int(env) if env else usable_cpus()
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be an integer, got {env!r}") from None
    if threads < 1:
        raise ValueError(f"thread count must be >= 1, got {threads}")
    if spin_wait is None:
        flag = os.environ.get(SPIN_WAIT_ENV, "").strip()
        if flag not in ("", "0", "1"):
            raise ValueError(f"{SPIN_WAIT_ENV} must be 0 or 1, got {flag!r}")
        spin_wait = flag == "1"
    return ThreadSettings(intra_op=threads, spin_wait=spin_wait)
