"""Load a model on a device with the runtime that runs it: ONNX Runtime without MindSpore when
the model directory has graphs for it, MindSpore (``device``, ``model_loader``) otherwise.

Every entry point (the service, ``predict``, ``evaluate``, ``PoseEstimator``) loads through
``load_on_device``, so an exported ONNX model is served with only the base install (no
MindSpore imported, no oneDNN cap set: ``simplepose.runtime.mindspore_env``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simplepose.config.model_info import MODEL_JSON, ModelInfo
from simplepose.config.presets import DEVICES, Config
from simplepose.runtime.backends import choose_backend
from simplepose.runtime.locked_model import LockedModel
from simplepose.runtime.mindspore_env import MindSporeMissing, mindspore_installed
from simplepose.runtime.onnx_model import OnnxModel, onnxruntime_installed

ASCEND_DEVICE_NODE = Path("/dev/davinci_manager")


def default_device() -> str:
    """``Ascend`` when an NPU is visible to this process, else ``CPU``."""
    return "Ascend" if ASCEND_DEVICE_NODE.exists() else "CPU"


def check_device(device: str | None, device_id: int = 0) -> str:
    """``device`` (default: ``default_device()``), checked without loading any runtime."""
    device = device or default_device()
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device_id < 0:
        raise ValueError(f"device id must be >= 0, got {device_id}")
    return device


def load_on_device(
    path: str | Path,
    device: str | None = None,
    device_id: int = 0,
    backend: str = "auto",
    threads: int | None = None,
    flip: bool | None = None,
    config: Config | None = None,
) -> tuple[LockedModel, str]:
    """``(model, device name)`` for a model directory or a ``.ckpt`` on ``device`` (default:
    Ascend when an NPU is visible, else CPU) with ``backend`` (``simplepose.runtime.backends``)
    and ``threads`` CPU threads. ``flip``/``config`` apply to checkpoints only.

    A directory that ``backend`` runs through ONNX Runtime never loads MindSpore; anything
    else selects the MindSpore device first (a switch of device in one process is refused).
    """
    path = Path(path)
    name = check_device(device, device_id)
    if path.is_dir() and (path / MODEL_JSON).is_file():
        info = ModelInfo.load(path)
        if info.format != "checkpoint":
            # without MindSpore, ONNX Runtime (on the CPU) is the only runtime there is
            runs_on = name if mindspore_installed() else "CPU"
            spec = choose_backend(info, runs_on, backend, onnxruntime_installed())
            if spec.runtime == "onnxruntime":
                return OnnxModel(path, spec.name, threads), name
    if not mindspore_installed():
        raise MindSporeMissing(
            f"{path} needs MindSpore (a checkpoint or MindIR graph): pip install "
            "'simplepose[mindspore]', or export ONNX buckets where MindSpore is installed "
            "(simplepose export --format onnx --batch-sizes 1,2,4,8) and serve those"
        )
    from simplepose.runtime.device import select_device
    from simplepose.runtime.model_loader import load_model

    name = select_device(name, device_id)
    return load_model(path, flip=flip, config=config, backend=backend, threads=threads), name


def model_summary(model: Any, device: str) -> dict[str, Any]:
    """The model card: what runs, and on which runtime (``simplepose.runtime.backends``)."""
    info = model.info
    sizes = getattr(model, "batch_sizes", None)
    return {
        "name": info.config.name,
        "format": info.format,
        "input_size": list(info.model.input_size),
        "flip_fused": info.flip_fused,
        "demo": info.demo,
        "device": device,
        "runtime": getattr(model, "runtime", "mindspore"),
        "backend": getattr(model, "backend", "mindspore-dynamic"),
        "precision": getattr(model, "precision", "fp32"),
        "batch_sizes": list(sizes) if sizes else None,
    }
