"""The exported ONNX buckets run by OpenVINO on a CPU with AMX: the FP32 graphs computed in bf16
(``openvino-bf16``), or the INT8 ones (``openvino-int8``).

OpenVINO reads the ONNX files directly; on an AMX CPU its default inference precision is bf16,
asked for here explicitly so the model card says what runs. No calibration: bf16 keeps FP32's
exponent range and rounds the mantissa to 8 bits (bench/precision_quality.py measures the AP).
One compiled model per bucket with ``sessions`` streams of ``intra_op`` threads each
(``simplepose.runtime.threads``) and one infer request per stream and bucket: the batching
executor's workers each run on a slot of their own. No MindSpore here.

oneDNN in this process must not be capped below AMX (``ONEDNN_MAX_CPU_ISA``, which MindSpore
needs at AVX2): with the cap OpenVINO's bf16 deconvolution does not build.
``openvino_problem`` says why the path cannot run here, and ``load_model``'s ``auto`` then
falls back to ONNX Runtime with a log line.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from simplepose.config.model_info import ModelInfo
from simplepose.runtime.backends import BACKEND_SPECS
from simplepose.runtime.cpu_features import CPU_ISA_ENV, has_amx, isa_cap
from simplepose.runtime.locked_model import LockedModel, graph_files
from simplepose.runtime.onnx_model import check_input_shape
from simplepose.runtime.threads import ThreadSettings, thread_settings

OPENVINO_MISSING = "OpenVINO is not installed: pip install 'simplepose[openvino]'"
# OpenVINO's names of the arithmetic precisions, as the model card names them.
OV_PRECISION = {"bf16": "bf16", "int8": "f32", "fp32": "f32"}  # int8 graphs: f32 between them


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def openvino_problem(env: dict[str, str] | None = None) -> str | None:
    """Why OpenVINO's AMX path cannot run in this process, or ``None`` when it can."""
    if not openvino_installed():
        return OPENVINO_MISSING
    if not has_amx():
        return "this CPU has no AMX (amx_bf16 in /proc/cpuinfo flags)"
    cap = isa_cap(env)
    if cap is not None:
        return (
            f"{CPU_ISA_ENV}={cap} caps oneDNN below AMX in this process (MindSpore needs it; "
            f"serve without MindSpore loaded, {CPU_ISA_ENV} unset or ALL)"
        )
    return None


def compile_config(precision: str, threads: ThreadSettings) -> dict[str, str]:
    """OpenVINO CPU properties: ``sessions`` streams of ``intra_op`` threads, no pinning (the
    service's own threads share the cores), throughput mode so streams run side by side."""
    return {
        "INFERENCE_PRECISION_HINT": OV_PRECISION[precision],
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": str(threads.sessions),
        "INFERENCE_NUM_THREADS": str(threads.total),
        "ENABLE_CPU_PINNING": "NO",
    }


class OpenVinoModel(LockedModel):
    """``openvino-bf16`` (the FP32 ONNX buckets in bf16) or ``openvino-int8``."""

    runtime = "openvino"

    def __init__(
        self,
        directory: str | Path,
        backend: str = "openvino-bf16",
        threads: int | None = None,
        sessions: int | None = None,
    ):
        problem = openvino_problem()
        if problem is not None:
            raise RuntimeError(f"backend {backend!r} cannot run here: {problem}")
        import openvino as ov

        directory = Path(directory)
        info = ModelInfo.load(directory)
        spec = BACKEND_SPECS[backend]
        if spec.runtime != "openvino":
            raise ValueError(f"{backend!r} is not an OpenVINO backend")
        files = graph_files(directory, info, spec)
        self.threads = thread_settings(threads, sessions=sessions)
        super().__init__(info, [n for n in files if n is not None], slots=self.threads.sessions)
        self.backend = spec.name
        self.precision = spec.precision
        core = ov.Core()
        config = compile_config(spec.precision, self.threads)
        self.requests: list[dict[int | None, object]] = [{} for _ in range(self.slots)]
        for n, path in files.items():
            graph = core.read_model(str(path))
            check_input_shape(path, list(graph.inputs[0].get_shape()), n, info)
            compiled = core.compile_model(graph, "CPU", config)
            for slot in range(self.slots):
                self.requests[slot][n] = compiled.create_infer_request()

    def _run(self, batch: np.ndarray, slot: int = 0) -> np.ndarray:
        request = self.requests[slot][len(batch)]
        return request.infer([batch], share_inputs=True)[0].copy()  # type: ignore[attr-defined]
