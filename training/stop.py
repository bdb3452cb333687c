"""Stopping a run cleanly: SIGINT/SIGTERM set a flag, and every rank agrees to stop at the same
step (a signal may reach one rank only, and a rank that stops alone would leave the others
waiting in the gradient all-reduce)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class StopRequest:
    """SIGINT/SIGTERM set a flag; the loop checkpoints after the current step and returns.

    MindSpore's runtime installs a C++ SIGINT handler of its own; here it was seen to pass
    Ctrl-C on as SIGTERM. Both end up in this handler.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.requested is not None:  # a second signal: stop now, without a checkpoint
            self.restore()
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        log.warning("%s: stopping after this step (again to abort without a checkpoint)",
                    self.requested)  # fmt: skip

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def agreed_reason(
    stop: StopRequest,
    world_size: int,
    all_reduce: Callable[[Any], Any] | None,
    steps_run: int,
    max_steps: int | None,
) -> str | None:
    """Why to stop after this step, the same on every rank (``all_reduce`` sums a flag over
    the ranks when ``world_size > 1``); ``max_steps`` counts this process's steps."""
    reason = stop.requested
    if world_size > 1 and all_reduce is not None:
        import mindspore as ms

        flag = ms.Tensor([1.0 if reason else 0.0], ms.float32)  # CPU: float only
        if all_reduce(flag).asnumpy()[0] > 0 and not reason:
            reason = "stop requested on another rank"
    if not reason and max_steps is not None and steps_run >= max_steps:
        reason = f"max_steps={max_steps}"
    return reason
