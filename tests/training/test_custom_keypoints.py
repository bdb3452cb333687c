"""Own keypoints end to end: the nine-point dataset built from coco-mini goes through data check,
train, evaluate, export (flip fused, MindIR and ONNX), PoseEstimator and the service, and every
output speaks its names, skeleton, flip pairs and sigmas."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import custom_keypoints as upper9
import numpy as np
import pytest

from simplepose.cli import main as cli_main
from simplepose.pose.codec import flip_back
from simplepose.training.dataset_file import load_dataset_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))  # serving_helpers

pytestmark = pytest.mark.slow
TINY = ["model.input_size=[64,96]", "model.heatmap_size=[16,24]", "model.deconv_channels=32"]


@pytest.fixture(scope="module")
def dataset(coco_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return upper9.write_custom_dataset(coco_mini, tmp_path_factory.mktemp("upper9"))


@pytest.fixture(scope="module")
def run_dir(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run") / "upper9"
    argv = ["train", "--config", "res18_128x96", "--dataset", str(dataset), "--output", str(run)]
    argv += ["--max-steps", "3", "--no-progress", *TINY, "train.batch_size=4"]
    assert cli_main([*argv, "data.num_workers=1", "train.log_every=1"]) == 0
    return run


@pytest.fixture(scope="module")
def exported(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from simplepose.export.exporter import export_model

    out = tmp_path_factory.mktemp("exported")
    dirs = {}
    for fmt, flip in (("mindir", True), ("mindir", False), ("onnx", True), ("onnx", False)):
        dirs[f"{fmt}-{'flip' if flip else 'plain'}"] = out / f"{fmt}-{flip}"
        export_model(
            run_dir / "last.ckpt",
            out / f"{fmt}-{flip}",
            fmt=fmt,
            flip=flip,
            batch_size=4 if fmt == "onnx" else None,
        )
    return dirs


def test_data_check_passes_and_counts(dataset: Path, capsys) -> None:
    assert cli_main(["data", "check", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "no problems found" in out and "keypoints (9, category 'worker')" in out
    assert "train: 80 images" in out and "visibility: v=0:" in out


def test_the_run_carries_the_dataset_keypoints(run_dir: Path, dataset: Path) -> None:
    from simplepose.network.checkpoint import build_network

    _, config, _ = build_network(run_dir / "last.ckpt")
    kps = config.keypoints
    assert kps == load_dataset_file(dataset).keypoints
    assert kps.names == upper9.NAMES and config.model.num_joints == 9
    index = {n: i for i, n in enumerate(upper9.NAMES)}
    assert set(kps.flip_pairs) == {(index[a], index[b]) for a, b in upper9.FLIP_PAIRS}
    assert kps.sigmas == upper9.SIGMAS and kps.category == "worker"


def test_evaluate_uses_the_dataset_category_and_sigmas(run_dir: Path, dataset: Path, capsys):
    from simplepose.training.evaluate import evaluate

    result = evaluate(run_dir / "last.ckpt", load_dataset_file(dataset), "val", decode="dark")
    assert result.results and all(r["category_id"] == upper9.CATEGORY_ID for r in result.results)
    assert all(len(r["keypoints"]) == 27 for r in result.results)
    assert 0.0 <= result.stats["AP"] <= 1.0
    assert (
        cli_main(
            ["evaluate", "--checkpoint", str(run_dir / "last.ckpt"), "--dataset", str(dataset)]
        )
        == 0
    )
    out = capsys.readouterr().out  # the stats line, then the per-keypoint table
    stats = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert "per keypoint" in out and "eye_starboard" in out  # the table of its keypoints
    assert stats["AP"] == pytest.approx(result.stats["AP"], abs=1e-4)


@pytest.mark.parametrize("fmt", ["mindir", "onnx"])
def test_fused_flip_equals_two_pass_with_the_dataset_pairs(exported, fmt: str) -> None:
    from simplepose.runtime.model_loader import load_model

    fused, plain = load_model(exported[f"{fmt}-flip"]), load_model(exported[f"{fmt}-plain"])
    info = json.loads((exported[f"{fmt}-flip"] / "model.json").read_text())
    assert info["keypoint_names"] == list(upper9.NAMES) and info["flip_fused"] is True
    index = fused.info.keypoints.flip_index()
    assert index.tolist() == [0, 2, 1, 4, 3, 6, 5, 8, 7]
    batch = np.random.default_rng(5).standard_normal((4, 3, 96, 64)).astype(np.float32)
    flipped = plain(np.ascontiguousarray(batch[..., ::-1]))
    two_pass = (plain(batch) + flip_back(flipped, index)) * 0.5
    out = fused(batch)
    np.testing.assert_allclose(out, two_pass, rtol=0, atol=1e-5)
    unswapped = (plain(batch) + flip_back(flipped, np.arange(9))) * 0.5
    # the pairs matter: without the swap the result is off by far more than the agreement
    assert np.abs(out - unswapped).max() > 10 * np.abs(out - two_pass).max()


def test_estimator_and_service_speak_the_dataset(exported, coco_mini: Path) -> None:
    from fastapi.testclient import TestClient
    from serving_helpers import make_test_settings, wait_until_ready

    from simplepose import PoseEstimator
    from simplepose.serving.main import create_app

    image = next((coco_mini / "val2017").glob("*.jpg"))
    skeleton = [[upper9.NAMES.index(a), upper9.NAMES.index(b)] for a, b in upper9.SKELETON]
    estimator = PoseEstimator(exported["onnx-flip"], detector="none")
    poses = estimator(str(image), boxes=[[10, 10, 200, 300]])
    assert poses.keypoint_names == upper9.NAMES and poses.keypoints.shape == (1, 9, 2)
    assert estimator.render(str(image), poses).shape[2] == 3
    app = create_app(make_test_settings(model=exported["mindir-flip"]))
    with TestClient(app) as client:
        wait_until_ready(client)
        model = client.get("/v1/model").json()
        assert model["keypoint_names"] == list(upper9.NAMES) and model["skeleton"] == skeleton
        form = {"boxes": json.dumps([[10, 10, 200, 300]])}
        with open(image, "rb") as f:
            r = client.post("/keypoints", files={"image": ("a.jpg", f, "image/jpeg")}, data=form)
        body = r.json()
        assert r.status_code == 200, body
        assert body["keypoint_names"] == list(upper9.NAMES) and body["skeleton"] == skeleton
        assert len(body["persons"][0]["keypoints"]) == 9
        with open(image, "rb") as f:
            png = client.post(
                "/keypoints/render", files={"image": ("a.jpg", f, "image/jpeg")}, data=form
            )
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


def test_overfit_bench_takes_a_dataset_file(dataset: Path, tmp_path: Path) -> None:
    import subprocess

    bench = Path(__file__).resolve().parents[2] / "bench" / "overfit.py"
    argv = [sys.executable, str(bench), "--dataset", str(dataset), "--steps", "2"]
    argv += ["--batch-size", "4", "--output", str(tmp_path / "run"), *TINY, "data.num_workers=1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["keypoints"] == "upper9" and result["num_keypoints"] == 9
    assert result["steps"] >= 2 and 0.0 <= result["ap"] <= 1.0
