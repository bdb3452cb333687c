"""Exported ONNX graphs run by ONNX Runtime on CPU: FP32 or INT8, one session per bucket and
slot.

The sessions' thread pools come from ``simplepose.runtime.threads`` (``sessions`` slots of
intra-op threads = usable CPUs, inter-op = 1, sequential execution): ONNX Runtime's own default
also spins extra threads that only contend with the service's request threads. No MindSpore
here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from simplepose.config.model_info import ModelInfo
from simplepose.runtime.backends import BACKEND_SPECS
from simplepose.runtime.locked_model import LockedModel, graph_files
from simplepose.runtime.threads import ThreadSettings, thread_settings

ORT_MISSING = "ONNX models need onnxruntime: pip install 'simplepose[onnx]'"


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def session_options(threads: ThreadSettings):
    """ONNX Runtime session options for ``threads`` (full graph optimisation)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads.intra_op
    options.inter_op_num_threads = threads.inter_op
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if threads.spin_wait else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def cpu_session(path: str | Path, threads: ThreadSettings | None = None):
    """An ONNX Runtime CPU session of ``path`` with the project's thread settings."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise RuntimeError(ORT_MISSING) from exc
    options = session_options(threads or thread_settings())
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_input_shape(path: Path, shape: list, batch_size: int | None, info: ModelInfo) -> None:
    """Refuse a graph whose input is not what ``model.json`` lists it as (a bucket file swapped
    for another, a graph of another input size): it would fail on its first call instead."""
    w, h = info.model.input_size
    if list(shape) != [batch_size, 3, h, w]:
        raise ValueError(
            f"{path} takes input {list(shape)}, but model.json lists it as the graph for "
            f"({batch_size}, 3, {h}, {w}) crops: the model directory is damaged; export it again"
        )


class OnnxModel(LockedModel):
    """``backend`` ``onnxruntime`` (FP32) or ``onnxruntime-int8``: the directory's ONNX buckets,
    or its fixed-batch ``model.onnx`` when it has none."""

    runtime = "onnxruntime"

    def __init__(
        self,
        directory: str | Path,
        backend: str = "onnxruntime",
        threads: int | None = None,
        spin_wait: bool | None = None,
        sessions: int | None = None,
    ):
        directory = Path(directory)
        info = ModelInfo.load(directory)
        spec = BACKEND_SPECS[backend]
        if spec.runtime != "onnxruntime":
            raise ValueError(f"{backend!r} is not an ONNX Runtime backend")
        files = graph_files(directory, info, spec)
        self.threads = thread_settings(threads, spin_wait, sessions)
        super().__init__(info, [n for n in files if n is not None], slots=self.threads.sessions)
        self.backend = spec.name
        self.precision = spec.precision
        # One session per bucket and slot: slots run side by side, each on its own threads.
        self.slot_sessions = [
            {n: cpu_session(p, self.threads) for n, p in files.items()} for _ in range(self.slots)
        ]
        self.sessions = self.slot_sessions[0]
        for n, session in self.sessions.items():
            check_input_shape(files[n], session.get_inputs()[0].shape, n, info)
        self._input = next(iter(self.sessions.values())).get_inputs()[0].name

    def _run(self, batch: np.ndarray, slot: int = 0) -> np.ndarray:
        return self.slot_sessions[slot][len(batch)].run(None, {self._input: batch})[0]
