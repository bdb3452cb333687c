"""Shared fixtures: the oneDNN CPU cap, coco-mini paths, a tiny config and a tiny checkpoint."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")  # before anything can load MindSpore

import pytest  # noqa: E402

from simplepose.config.loading import load_config
from simplepose.config.presets import Config  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
ASCEND_DEVICE_NODE = Path("/dev/davinci_manager")  # what network.device looks for


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``ascend`` run on an Ascend host and are reported as skipped elsewhere."""
    if ASCEND_DEVICE_NODE.exists():
        return
    skip = pytest.mark.skip(reason=f"needs an Ascend NPU ({ASCEND_DEVICE_NODE} not found)")
    for item in items:
        if item.get_closest_marker("ascend") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _tempfiles_in_basetemp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """tempfile's directory (here and in child processes) is inside pytest's base directory, so
    what a test, a browser profile or a service leaves there is removed with it, not in /tmp."""
    directory = str(tmp_path_factory.mktemp("tempfile"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", directory)
        patch.setattr(tempfile, "tempdir", directory)
        yield


COCO_MINI = Path(
    os.environ.get("SIMPLEPOSE_COCO_MINI", REPO_ROOT.parent / "shared" / "data" / "coco-mini")
)

POSETRACK_CLIP = Path(
    os.environ.get(
        "SIMPLEPOSE_POSETRACK_CLIP", REPO_ROOT.parent / "shared" / "data" / "posetrack-clip"
    )
)


@pytest.fixture(scope="session")
def coco_mini() -> Path:
    """Root of the read-only coco-mini dataset; skips when ../shared is not there."""
    if not (COCO_MINI / "annotations" / "person_keypoints_val2017.json").is_file():
        pytest.skip(f"coco-mini not found at {COCO_MINI} (needs ../shared/data/coco-mini)")
    return COCO_MINI


@pytest.fixture(scope="session")
def posetrack_clip() -> Path:
    """The read-only 5-frame PoseTrack clip (mp4 + jpg); skips when ../shared is not there."""
    if not any(POSETRACK_CLIP.glob("*.mp4")):
        pytest.skip(f"posetrack-clip not found at {POSETRACK_CLIP} (needs ../shared/data)")
    return POSETRACK_CLIP


@pytest.fixture(scope="session")
def tiny_config() -> Config:
    """ResNet-18 at 96x64 (h x w) with a narrow head: fast enough for many CPU tests."""
    return load_config(
        "res18_128x96",
        ["model.input_size=[64,96]", "model.heatmap_size=[16,24]", "model.deconv_channels=32"],
    )


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_config: Config) -> Path:
    """A checkpoint of a randomly initialised tiny network, written by the test session."""
    import mindspore as ms

    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    ms.set_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    save_pose_checkpoint(PoseResNet(tiny_config.model), path, tiny_config, {"epoch": 0})
    return path


@pytest.fixture(scope="session")
def tiny_onnx_dir(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    """The tiny checkpoint exported as ONNX buckets (what a CPU box serves without MindSpore)."""
    from simplepose.export.exporter import export_model

    directory = tmp_path_factory.mktemp("tiny_onnx")
    export_model(tiny_checkpoint, directory, flip=True, fmt="onnx", batch_sizes=(1, 2))
    return directory
