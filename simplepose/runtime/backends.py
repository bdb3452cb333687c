"""Which runtime runs a model directory: MindSpore (dynamic batch or static buckets), ONNX
Runtime (FP32 or INT8 buckets) or OpenVINO (the FP32 ONNX buckets computed in bf16 on AMX, or
the INT8 ones), and which one ``auto`` picks on each device.

Pure: the loaders live in ``simplepose.runtime.model_loader``. ``auto`` follows the measurements in
docs/fast-paths.md (bench/serve_throughput.py, bench/precision_quality.py): on a CPU with AMX,
OpenVINO bf16 on the ONNX buckets (no calibration; AP within 0.005 of FP32 on held-out
images); on other CPUs ONNX Runtime's FP32 buckets; on Ascend, MindSpore's static-shape buckets
(GraphCell is built for the exported shape). INT8 is never picked by ``auto``: it must be asked
for (its accuracy cost is measured by bench/precision_quality.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from simplepose.config.model_info import ModelInfo


@dataclass(frozen=True)
class Backend:
    name: str
    runtime: str  # "mindspore", "onnxruntime" or "openvino"
    format: str  # graph files it runs: "mindir", "onnx" or "checkpoint"
    precision: str  # what the arithmetic runs in (the model card's "precision")
    bucketed: bool  # one static-shape graph per batch size
    graphs: str = ""  # precision of the graph files it reads, when not ``precision``

    @property
    def graph_precision(self) -> str:
        return self.graphs or self.precision


BACKEND_SPECS = {
    b.name: b
    for b in (
        Backend("mindspore-dynamic", "mindspore", "mindir", "fp32", bucketed=False),
        Backend("mindspore-buckets", "mindspore", "mindir", "fp32", bucketed=True),
        Backend("onnxruntime", "onnxruntime", "onnx", "fp32", bucketed=True),
        Backend("onnxruntime-int8", "onnxruntime", "onnx", "int8", bucketed=True),
        Backend("openvino-bf16", "openvino", "onnx", "bf16", bucketed=True, graphs="fp32"),
        Backend("openvino-int8", "openvino", "onnx", "int8", bucketed=True),
    )
}
BACKENDS = ("auto", *BACKEND_SPECS)
# Default of choose_backend's openvino_problem for callers that do not look (tests, planning).
OPENVINO_UNKNOWN = "not checked in this process"
AUTO_ORDER = {
    "CPU": ("openvino-bf16", "onnxruntime", "mindspore-dynamic", "mindspore-buckets"),
    "Ascend": ("mindspore-buckets", "mindspore-dynamic"),
}


def bucket_format_for(device: str, onnx_ok: bool, backend: str = "auto") -> str | None:
    """The bucket graphs (``"onnx"``, ``"mindir"`` or ``None``: the dynamic MindIR is enough) a
    model directory needs so that ``backend`` runs it fastest on ``device``: for ``auto`` the
    first bucketed backend of ``AUTO_ORDER`` that can run there (ONNX Runtime only when
    ``onnx_ok``: onnx and onnxruntime installed). What ``weights get`` and the default model
    export, so ``auto`` then picks the fast path."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    names = AUTO_ORDER.get(device, AUTO_ORDER["CPU"]) if backend == "auto" else (backend,)
    for name in names:
        spec = BACKEND_SPECS[name]
        if spec.runtime != "mindspore" and not onnx_ok:
            continue
        # INT8 needs calibration data: never made implicitly.
        return spec.format if spec.bucketed and spec.graph_precision == "fp32" else None
    return None


def backend_sizes(info: ModelInfo, backend: Backend) -> tuple[int, ...] | None:
    """Batch sizes ``backend`` can run ``info``'s directory at (``None``: any); ``()`` when the
    directory has no graph for it."""
    if info.format == "checkpoint":
        return None if backend.name == "mindspore-dynamic" else ()
    sizes = info.bucket_sizes(backend.format, backend.graph_precision)
    if backend.bucketed and sizes:
        return sizes
    main = info.format == backend.format and backend.graph_precision == "fp32"
    if not main or (backend.bucketed and info.batch_size is None):
        return ()
    return None if info.batch_size is None else (info.batch_size,)


def available_backends(
    info: ModelInfo, onnxruntime_installed: bool, openvino_problem: str | None = OPENVINO_UNKNOWN
) -> list[str]:
    return [
        name
        for name, spec in BACKEND_SPECS.items()
        if backend_sizes(info, spec) != ()
        and (spec.runtime != "onnxruntime" or onnxruntime_installed)
        and (spec.runtime != "openvino" or openvino_problem is None)
    ]


def choose_backend(
    info: ModelInfo,
    device: str,
    requested: str = "auto",
    onnxruntime_installed: bool = True,
    openvino_problem: str | None = OPENVINO_UNKNOWN,
) -> Backend:
    """The backend to run ``info``'s directory with; ``ValueError`` naming what is available
    when ``requested`` cannot run it. ``openvino_problem``: why OpenVINO's AMX path cannot run
    in this process (``simplepose.runtime.openvino_model.openvino_problem``), ``None`` if it can."""
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {requested!r}")
    if BACKEND_SPECS.get(requested, BACKEND_SPECS["onnxruntime"]).runtime == "openvino" and (
        openvino_problem is not None
    ):
        raise ValueError(f"backend {requested!r} cannot run here: {openvino_problem}")
    have = available_backends(info, onnxruntime_installed, openvino_problem)
    if requested == "auto":
        order = AUTO_ORDER.get(device, AUTO_ORDER["CPU"])
        for name in order:
            if name in have:
                return BACKEND_SPECS[name]
        if info.format == "onnx" and not onnxruntime_installed:
            raise ValueError("this ONNX model needs onnxruntime: pip install 'simplepose[onnx]'")
        raise ValueError(f"no runtime for a {info.format} model on {device} (have {have})")
    if requested not in have:
        hint = {
            "mindspore-buckets": "export with --batch-sizes",
            "onnxruntime": "export with --format onnx --batch-sizes (needs onnxruntime)",
            "onnxruntime-int8": "export with --format onnx --quantize int8 (needs onnxruntime)",
            "openvino-bf16": "export with --format onnx --batch-sizes",
            "openvino-int8": "export with --format onnx --quantize int8",
        }.get(requested, "export a MindIR graph")
        raise ValueError(
            f"this model directory cannot run as {requested!r} ({hint}); it can run as: "
            + (", ".join(have) or "nothing")
        )
    return BACKEND_SPECS[requested]
