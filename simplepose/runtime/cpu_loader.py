"""Exported model directories on the CPU runtimes that need no MindSpore: ONNX Runtime and
OpenVINO.

The service and ``load_model`` come here first on CPU: a process that serves ONNX buckets then
never loads MindSpore, so nothing caps oneDNN below AMX (``simplepose.runtime.cpu_features``)
and OpenVINO's bf16 path can run. Without an Ascend NPU the device is the CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

from simplepose.config.model_info import ModelInfo
from simplepose.runtime.backends import choose_backend
from simplepose.runtime.cpu_features import has_amx
from simplepose.runtime.locked_model import LockedModel
from simplepose.runtime.onnx_model import OnnxModel, onnxruntime_installed
from simplepose.runtime.openvino_model import OpenVinoModel, openvino_installed, openvino_problem

log = logging.getLogger(__name__)


def load_cpu_model(
    directory: Path,
    info: ModelInfo,
    backend: str = "auto",
    threads: int | None = None,
    sessions: int | None = None,
) -> LockedModel | None:
    """``directory`` on OpenVINO or ONNX Runtime when ``backend`` (``auto``: the CPU order of
    ``simplepose.runtime.backends``) picks one of them; ``None`` when it picks MindSpore.
    ``ValueError`` when ``backend`` cannot run the directory here."""
    problem = openvino_problem()
    spec = choose_backend(info, "CPU", backend, onnxruntime_installed(), problem)
    if backend == "auto" and problem is not None and openvino_installed() and has_amx():
        # an auto choice, logged as progress: the capped process still serves (ONNX Runtime)
        log.info("not serving with OpenVINO bf16 (AMX): %s; using %s", problem, spec.name)
    if spec.runtime == "openvino":
        return OpenVinoModel(directory, spec.name, threads, sessions)
    if spec.runtime == "onnxruntime":
        return OnnxModel(directory, spec.name, threads, sessions=sessions)
    return None
