"""Serving fixtures: the tiny model loaded once, an app around it, and test images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import encode, make_test_settings, synthetic_bgr


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path):
    from simplepose.runtime.device import select_device
    from simplepose.runtime.model_loader import load_model

    select_device("CPU", 0)
    return load_model(tiny_checkpoint)


@pytest.fixture(scope="session")
def tiny_mindir_dir(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory, tiny_model):
    """The tiny checkpoint exported by the export stage (flip fused, dynamic batch)."""
    from simplepose.export.exporter import export_model

    directory = tmp_path_factory.mktemp("tiny_mindir")
    export_model(tiny_checkpoint, directory, flip=True)
    return directory


@pytest.fixture(scope="session")
def tiny_mindir_model(tiny_mindir_dir: Path):
    """``tiny_mindir_dir`` loaded."""
    from simplepose.runtime.model_loader import load_model

    return load_model(tiny_mindir_dir)


@pytest.fixture(scope="module")
def client(tiny_model) -> Iterator:
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    settings = make_test_settings(max_upload_bytes=200_000, max_pixels=1_000_000, max_boxes=4)
    with TestClient(create_app(settings, model=tiny_model, device="CPU")) as c:
        yield c


@pytest.fixture(scope="session")
def image_bgr() -> np.ndarray:
    return synthetic_bgr()


@pytest.fixture(scope="session")
def png_bytes(image_bgr: np.ndarray) -> bytes:
    return encode(image_bgr, ".png")


@pytest.fixture(scope="session")
def jpeg_bytes(image_bgr: np.ndarray) -> bytes:
    return encode(image_bgr, ".jpg")
