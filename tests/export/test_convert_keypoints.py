"""Converting weights of another keypoint set: the joint count comes from the final layer, the
names, flip pairs, skeleton and sigmas from a dataset file; without one, a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch_reference
import yaml

from simplepose.export.convert import convert_checkpoint
from simplepose.export.layouts import LayoutError
from simplepose.network.checkpoint import build_network
from simplepose.pose.keypoints import KeypointSet

# MPII's 16 joints in mmpose's channel order (names with left_/right_ so flip pairs derive)
MPII = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "pelvis", "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow",
        "right_shoulder", "left_shoulder", "left_elbow", "left_wrist")  # fmt: skip
MPII_SIGMAS = (0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026,
               0.062, 0.072, 0.179, 0.179, 0.072, 0.062)  # fmt: skip
MPII_SKELETON = (("right_ankle", "right_knee"), ("right_knee", "right_hip"),
                 ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
                 ("thorax", "upper_neck"), ("upper_neck", "head_top"))  # fmt: skip


def _mmpose_pth(path: Path, joints: int) -> Path:
    """An mmpose 1.x checkpoint of a ResNet-18 whose head predicts ``joints`` keypoints."""
    sd = torch_reference.random_pose_net(18, seed=0).state_dict()
    sd["final_layer.weight"] = torch.randn(joints, 256, 1, 1) * 0.01
    sd["final_layer.bias"] = torch.zeros(joints)
    torch.save(torch_reference.layout_state_dict_from(sd, "mmpose1", 512), path)
    return path


def _mpii_yaml(path: Path) -> Path:
    keypoints = {"names": list(MPII), "sigmas": list(MPII_SIGMAS),
                 "skeleton": [list(limb) for limb in MPII_SKELETON]}  # fmt: skip
    description = {"name": "mpii", "train": {"annotations": "a.json", "images": "img"},
                   "keypoints": keypoints}  # fmt: skip
    path.write_text(yaml.safe_dump(description))
    return path


@pytest.fixture(scope="module")
def mpii_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _mmpose_pth(tmp_path_factory.mktemp("mpii") / "mpii.pth", 16)


def test_sixteen_joint_head_needs_its_keypoint_set(tmp_path: Path, mpii_pth: Path) -> None:
    with pytest.raises(LayoutError, match="predict 16 keypoints, not the 17 of coco17.*--dataset"):
        convert_checkpoint(mpii_pth, tmp_path / "x.ckpt")
    assert not (tmp_path / "x.ckpt").exists()
    nine = KeypointSet(names=tuple(f"p{i}" for i in range(9)), skeleton=(), sigmas=(0.05,) * 9)
    with pytest.raises(LayoutError, match="predict 16 keypoints but the keypoint set"):
        convert_checkpoint(mpii_pth, tmp_path / "x.ckpt", keypoints=nine)


def test_sixteen_joint_head_with_its_dataset_file(tmp_path: Path, mpii_pth: Path) -> None:
    out = tmp_path / "mpii.ckpt"
    cmd = [sys.executable, "-m", "simplepose.cli", "convert", str(mpii_pth), "--output", str(out),
           "--dataset", str(_mpii_yaml(tmp_path / "mpii.yaml"))]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "16 joints (mpii)" in done.stdout
    net, config, _ = build_network(out)
    assert config.model.num_joints == 16 and config.keypoints.names == MPII
    assert config.keypoints.sigmas == MPII_SIGMAS
    pairs = {(MPII[a], MPII[b]) for a, b in config.keypoints.flip_pairs}
    assert ("left_wrist", "right_wrist") in pairs or ("right_wrist", "left_wrist") in pairs
    assert net.final_layer.weight.shape[0] == 16


def test_missing_dataset_is_a_one_line_cli_error(tmp_path: Path, mpii_pth: Path) -> None:
    cmd = [sys.executable, "-m", "simplepose.cli", "convert", str(mpii_pth), "--output",
           str(tmp_path / "x.ckpt")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "pass --dataset FILE" in done.stderr
