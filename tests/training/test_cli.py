"""``simplepose train`` / ``evaluate`` command lines: user errors exit 2 with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from simplepose.cli import main


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_train_missing_data_root(tmp_path: Path, capsys) -> None:
    err = _error(capsys, ["train", "--data", str(tmp_path / "nope"), "--output", str(tmp_path)])
    assert err == f"simplepose train: error: data root not found: {tmp_path / 'nope'}"


def test_train_root_without_annotations(tmp_path: Path, capsys) -> None:
    err = _error(capsys, ["train", "--data", str(tmp_path), "--output", str(tmp_path / "r")])
    assert "annotations/person_keypoints_train2017.json" in err


def test_train_bad_preset(small_root: Path, tmp_path: Path, capsys) -> None:
    err = _error(
        capsys, ["train", "--config", "res99", "--data", str(small_root), "--output", str(tmp_path)]
    )
    assert "unknown preset 'res99'" in err and "res50_256x192" in err


def test_train_bad_override(small_root: Path, tmp_path: Path, capsys) -> None:
    err = _error(
        capsys,
        ["train", "--data", str(small_root), "--output", str(tmp_path), "train.nope=1"],
    )
    assert "unknown config key 'train.nope'" in err


def test_train_needs_output_and_resume_needs_run(small_root: Path, tmp_path: Path, capsys) -> None:
    assert "--output RUN_DIR is required" in _error(capsys, ["train", "--data", str(small_root)])
    err = _error(capsys, ["train", "--data", str(small_root), "--resume", str(tmp_path)])
    assert "config.yaml not found" in err


def test_evaluate_missing_checkpoint(small_root: Path, tmp_path: Path, capsys) -> None:
    err = _error(
        capsys,
        ["evaluate", "--checkpoint", str(tmp_path / "x.ckpt"), "--data", str(small_root),
         "--split", "train2017"],
    )  # fmt: skip
    assert "checkpoint not found" in err


def test_evaluate_missing_detections(small_root: Path, tiny_checkpoint: Path, capsys) -> None:
    err = _error(
        capsys,
        ["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(small_root),
         "--split", "train2017", "--boxes", "dets.json"],
    )  # fmt: skip
    assert "detection results file not found: dets.json" in err


def test_devices_print_msrun_command(small_root: Path, tmp_path: Path, capsys) -> None:
    argv = ["train", "--devices", "4", "--print-command", "--data", str(small_root)]
    assert main([*argv, "--output", str(tmp_path / "r"), "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "msrun --worker_num=4 --local_worker_num=4" in out
    assert "training/worker.py --data" in out and out.rstrip().endswith("train.epochs=3")


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help_explains_usage(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "examples:" in capsys.readouterr().out
