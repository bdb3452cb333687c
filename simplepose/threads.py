"""Thread pools of the CPU runtimes, sized from the CPUs this process may use.

One place decides them so MindSpore, ONNX Runtime and the benches agree and report the same
numbers. Intra-op threads split one operator (a convolution) over the cores; inter-op threads
run independent operators at once, which a sequential CNN does not have, so one is enough. More
threads than cores only adds contention (MindSpore's default is 25 kernel threads).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

THREADS_ENV = "SIMPLEPOSE_THREADS"  # the same name the service settings read (SIMPLEPOSE_*)
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

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def thread_settings(threads: int | None = None) -> ThreadSettings:
    """``threads`` intra-op threads if given, else ``$SIMPLEPOSE_THREADS``, else one per
    usable CPU."""
    if threads is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        try:
            threads = int(env) if env else usable_cpus()
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be an integer, got {env!r}") from None
    if threads < 1:
        raise ValueError(f"thread count must be >= 1, got {threads}")
    return ThreadSettings(intra_op=threads)
