"""`simplepose convert` and `simplepose export` from the command line: outputs and errors."""

from __future__ import annotations

import json
import pickle
import zipfile

import pytest
import torch
import torch_reference

from simplepose.cli import main


@pytest.mark.slow
def test_convert_then_export(tmp_path, capsys):
    net = torch_reference.random_pose_net(18, deconv_channels=32, seed=2)
    torch.save(torch_reference.layout_state_dict(net, "msra"), tmp_path / "pose_resnet_18.pth")
    ckpt = tmp_path / "r18.ckpt"
    assert main(["convert", str(tmp_path / "pose_resnet_18.pth"), "--output", str(ckpt),
                 "--config", "res18_128x96"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "msra layout" in out and "channel order the weights expect: BGR" in out
    assert "ResNet-18, 3 deconvs x 32 ch, 17 joints (coco17), input 128x96" in out
    model = tmp_path / "model"
    assert main(["export", "--checkpoint", str(ckpt), "--output", str(model)]) == 0
    out = capsys.readouterr().out
    assert "BGR" in out and "flip fused" in out and "batch dynamic" in out
    data = json.loads((model / "model.json").read_text())
    assert data["channel_order"] == "BGR" and data["flip_fused"] is True


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert (
        main(["export", "--checkpoint", str(tmp_path / "no.ckpt"), "--output", str(tmp_path)]) == 2
    )
    assert "checkpoint not found" in capsys.readouterr().err
    evil = tmp_path / "evil.pth"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("a/data.pkl", pickle.dumps(print, protocol=2))
    assert main(["convert", str(evil), "--output", str(tmp_path / "x.ckpt")]) == 2
    err = capsys.readouterr().err
    assert "refusing to load global '__builtin__.print'" in err and len(err.splitlines()) == 1
    assert main(["weights"]) == 2
    assert "weights list" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-sizes", "0,4"], "--batch-sizes: batch sizes must be within 1..256"),
        (["--batch-sizes", "1,two"], "comma-separated integers"),
        (["--quantize", "int8"], "add --format onnx"),
        (["--format", "onnx", "--quantize", "int8"], "needs --calibration DATA_ROOT"),
        (["--calibration", "data"], "only used with --quantize int8"),
        (["--format", "onnx", "--quantize", "int8", "--calibration", "d",
          "--calibration-persons", "0"], "--calibration-persons must be >= 1"),
    ],
)  # fmt: skip
def test_bucket_and_int8_options_are_checked_before_any_work(tmp_path, capsys, extra, message):
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"not read: the options fail first")
    assert main(["export", "--checkpoint", str(ckpt), "--output", str(tmp_path / "m"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m").exists()
