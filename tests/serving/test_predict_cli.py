"""``simplepose predict`` and ``serve`` from the command line, and model resolution."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from serving_helpers import encode, make_test_settings, synthetic_bgr, wait_until_ready

from simplepose.cli import main
from simplepose.pose.pipeline import PosePipeline, read_image


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for i in range(3):
        (folder / f"img{i}.png").write_bytes(encode(synthetic_bgr(seed=i), ".png"))
    (folder / "notes.txt").write_text("not an image, ignored by suffix")
    return folder


@pytest.mark.slow
def test_predict_matches_the_pipeline(tiny_checkpoint, tiny_model, image_dir, tmp_path) -> None:
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"img1.png": [[10, 5, 60, 100], {"bbox": [70, 10, 50, 100]}]}))
    out, render = tmp_path / "out" / "results.json", tmp_path / "render"
    code = main(
        ["predict", str(image_dir), "--model", str(tiny_checkpoint), "--boxes", str(boxes),
         "--output", str(out), "--render", str(render), "--detector", "none"]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert [Path(i["file"]).name for i in result["images"]] == ["img0.png", "img1.png", "img2.png"]
    assert result["errors"] == [] and len(result["keypoint_names"]) == 17
    assert [len(i["persons"]) for i in result["images"]] == [1, 2, 1]
    pipeline = PosePipeline(tiny_model, decode="dark")
    image = read_image(str(image_dir / "img1.png"))
    expected = pipeline(image, np.array([[10, 5, 60, 100], [70, 10, 50, 100]]))
    got = np.array([p["keypoints"] for p in result["images"][1]["persons"]])
    np.testing.assert_allclose(got, expected.keypoints, atol=1e-6)
    drawn = cv2.imread(str(render / "img1.png"))
    assert drawn.shape == image.shape


def test_predict_reports_bad_files_and_boxes_and_exits_1(tiny_checkpoint, tmp_path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(encode(synthetic_bgr(), ".png"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"good.png": [[900, 900, 10, 10]]}))
    out = tmp_path / "r.json"
    args = ["predict", str(good), str(broken), "--model", str(tiny_checkpoint)]
    assert main([*args, "--boxes", str(boxes), "--output", str(out)]) == 1
    errors = {Path(e["file"]).name: e["error"] for e in json.loads(out.read_text())["errors"]}
    assert "cannot read image" in errors["broken.jpg"]
    assert "box 0: lies outside" in errors["good.png"]


def test_predict_user_errors_exit_2(tiny_checkpoint, tmp_path, capsys) -> None:
    assert main(["predict", str(tmp_path / "missing.jpg"), "--model", str(tiny_checkpoint)]) == 2
    assert "no such image or folder" in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 2
    assert "port" in capsys.readouterr().err


def test_help_explains_model_resolution(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "SIMPLEPOSE_MODEL" in text and "demo" in text


def test_explicit_model_wins_and_missing_is_an_error(tmp_path, tiny_checkpoint) -> None:
    from simplepose.hub.resolve import resolve_model

    choice = resolve_model(tiny_checkpoint)
    assert (choice.path, choice.origin) == (tiny_checkpoint, "path")
    with pytest.raises(FileNotFoundError, match="neither a path nor a registry name"):
        resolve_model(tmp_path / "nope")


@pytest.mark.slow
def test_demo_model_is_built_labelled_and_served(tmp_path, monkeypatch) -> None:
    """No default model -> the demo model: trained briefly, exported, labelled everywhere."""
    from fastapi.testclient import TestClient

    from simplepose.cli.models import BUILDERS
    from simplepose.hub.resolve import resolve_model
    from simplepose.serving.main import create_app
    from simplepose.serving.settings import hub_options

    settings = make_test_settings(cache_dir=tmp_path, demo_train_steps=2, offline=True)
    choice = resolve_model(None, hub_options(settings), BUILDERS)  # offline: no default here
    assert choice.origin == "demo" and "offline" in choice.note
    assert (choice.path / "model.mindir").is_file()
    again = resolve_model(None, hub_options(settings), BUILDERS)
    assert again.path == choice.path  # cached, not rebuilt
    app = create_app(settings.model_copy(update={"model": choice.path}))
    with TestClient(app) as client:
        wait_until_ready(client)
        assert client.get("/v1/model").json()["demo"] is True
        r = client.post(
            "/keypoints", files={"image": ("a.png", encode(synthetic_bgr(), ".png"), "image/png")}
        )
        assert r.status_code == 200 and r.json()["model"]["demo"] is True
