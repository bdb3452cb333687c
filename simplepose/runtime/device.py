"""Device selection for every MindSpore entry point (CPU here, Ascend in production)."""

from __future__ import annotations

import logging
import os

import mindspore as ms

from simplepose.runtime.on_device import ASCEND_DEVICE_NODE, check_device, default_device
from simplepose.runtime.threads import ThreadSettings

__all__ = ["ASCEND_DEVICE_NODE", "configure_cpu_threads", "default_device", "select_device"]
log = logging.getLogger(__name__)


_cpu_threads: list[int] = []  # MindSpore accepts its CPU kernel thread count only once


def configure_cpu_threads(threads: ThreadSettings) -> int:
    """Size MindSpore's CPU kernel thread pool (default 25) from ``threads``; returns the count
    in effect (the first one set in this process: MindSpore refuses to change it)."""
    if not _cpu_threads:
        try:
            ms.device_context.cpu.op_tuning.threads_num(threads.intra_op)
            _cpu_threads.append(threads.intra_op)
        except RuntimeError:  # set before, outside this function: keep it
            log.info("MindSpore CPU threads were already set; keeping them")
            return threads.intra_op
    return _cpu_threads[0]


def select_device(device: str | None = None, device_id: int = 0, graph_mode: bool = True) -> str:
    """Set MindSpore's device and execution mode; returns the device name used."""
    device = check_device(device, device_id)
    try:
        ms.set_device(device, device_id)
    except RuntimeError as exc:
        # MindSpore fixes the device once the runtime has started (first op, or an earlier
        # set_device). Asking again for the device already in use is fine; a switch is not.
        current = (ms.get_context("device_target"), ms.get_context("device_id"))
        if current != (device, device_id):
            raise RuntimeError(
                f"MindSpore already runs on {current[0]}:{current[1]} in this process; cannot "
                f"switch to {device}:{device_id} (start a new process)"
            ) from exc
    ms.set_context(mode=ms.GRAPH_MODE if graph_mode else ms.PYNATIVE_MODE)
    log.info(
        "MindSpore %s on %s:%d (%s mode, ONEDNN_MAX_CPU_ISA=%s)",
        ms.__version__,
        device,
        device_id,
        "graph" if graph_mode else "pynative",
        os.environ.get("ONEDNN_MAX_CPU_ISA", "unset"),
    )
    return device
