"""What every runtime's model shares: input checks, its call slots, and bucket padding/splitting.

A model has ``slots`` independent inference sessions (``simplepose.runtime.threads``): up to
that many calls run at once, each on a slot of its own; MindSpore models have one (a MindSpore
graph must not run on two threads at once). No MindSpore here, so the ONNX Runtime and
OpenVINO backends load without it.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simplepose.config.model_info import MODEL_FILES, ModelInfo
from simplepose.runtime.backends import Backend, backend_sizes
from simplepose.runtime.buckets import plan_calls


class InputShapeError(ValueError):
    """A batch whose shape or dtype the model does not accept."""


def check_batch(batch: np.ndarray, info: ModelInfo) -> None:
    """Reject a batch that is not ``(N, 3, H, W)`` float32 with the model's H, W, before it
    reaches the runtime (which fails deep inside with an unhelpful message)."""
    w, h = info.model.input_size
    if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
        raise InputShapeError(
            f"expected a float32 array, got {getattr(batch, 'dtype', type(batch))}"
        )
    if batch.ndim != 4 or batch.shape[1:] != (3, h, w) or batch.shape[0] < 1:
        raise InputShapeError(f"expected input of shape (N>=1, 3, {h}, {w}), got {batch.shape}")


class LockedModel(ABC):
    """A model whose calls each hold one of its ``slots`` (one: a lock). ``batch_sizes`` are the
    only batch sizes its graphs take (``None``: any); calls of other sizes are padded/split by
    ``simplepose.runtime.buckets.plan_calls``.
    """

    info: ModelInfo
    backend = "mindspore-dynamic"  # a name in simplepose.runtime.backends.BACKENDS
    runtime = "mindspore"
    precision = "fp32"

    def __init__(self, info: ModelInfo, batch_sizes: Sequence[int] | None = None, slots: int = 1):
        self.info = info
        self.batch_sizes = tuple(sorted(batch_sizes)) if batch_sizes else None
        self.slots = slots
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(slots):
            self._free.put(slot)

    @abstractmethod
    def _run(self, batch: np.ndarray, slot: int = 0) -> np.ndarray:
        """One device call on a batch the graph accepts, on session ``slot``."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        check_batch(batch, self.info)
        slot = self._free.get()
        try:
            if self.batch_sizes is None:
                return self._run(batch, slot)
            return self._run_planned(batch, self.batch_sizes, slot)
        finally:
            self._free.put(slot)

    def _run_planned(self, batch: np.ndarray, sizes: tuple[int, ...], slot: int) -> np.ndarray:
        """Pad each call up to its bucket, split above the largest, drop the padding."""
        outputs, start = [], 0
        for real, bucket in plan_calls(len(batch), sizes):
            chunk = batch[start : start + real]
            start += real
            if real < bucket:
                chunk = np.concatenate(
                    [chunk, np.zeros((bucket - real, *chunk.shape[1:]), chunk.dtype)]
                )
            outputs.append(self._run(chunk, slot)[:real])
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)


def graph_files(directory: Path, info: ModelInfo, backend: Backend) -> dict[int | None, Path]:
    """Batch size (``None``: dynamic) -> graph file that ``backend`` runs, all checked to exist."""
    sizes = backend_sizes(info, backend)
    if sizes == ():
        raise ValueError(f"{directory} has no graph for backend {backend.name!r}")
    buckets = info.bucket_files(backend.format, backend.graph_precision) if backend.bucketed else {}
    if sizes is None or not buckets:
        files: dict[int | None, Path] = {info.batch_size: directory / MODEL_FILES[backend.format]}
    else:
        files = {n: directory / name for n, name in buckets.items()}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"model.json lists graphs that are missing: {', '.join(missing)}")
    return files
