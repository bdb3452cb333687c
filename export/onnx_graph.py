"""ONNX files MindSpore writes, made loadable by ONNX Runtime (graph surgery), and the optional
``onnx`` packages imported with an install hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class MissingDependencyError(RuntimeError):
    """An optional package the requested export needs is not installed."""


def import_onnx(name: str) -> Any:
    """``onnx`` / ``onnxruntime`` (or a submodule), or ``MissingDependencyError`` naming the
    extra to install."""
    try:
        return __import__(name, fromlist=["_"])
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX support needs the '{name.split('.')[0]}' package: pip install 'simplepose[onnx]'"
        ) from exc


def strip_convtranspose_output_shape(path: str | Path) -> int:
    """Remove the ``output_shape`` attribute MindSpore writes on ConvTranspose nodes.

    ONNX Runtime rejects the file with it; without it the padding attributes give the same
    output (the export tests compare the ONNX and MindSpore outputs). Returns how many
    attributes were removed.
    """
    onnx = import_onnx("onnx")
    model = onnx.load(str(path))
    removed = 0
    for node in model.graph.node:
        if node.op_type != "ConvTranspose":
            continue
        keep = [a for a in node.attribute if a.name != "output_shape"]
        removed += len(node.attribute) - len(keep)
        del node.attribute[:]
        node.attribute.extend(keep)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return removed


def tensor_names(path: str | Path) -> list[str]:
    """Every node output name of an ONNX graph, in graph order (calibration ranges are keyed
    by them)."""
    onnx = import_onnx("onnx")
    model = onnx.load(str(path), load_external_data=False)
    return [out for node in model.graph.node for out in node.output]
