"""Every entry point resolves models and detectors through the one hub: the same input gives the
same model directory (and detector) in ``serve``, ``predict``, ``evaluate``, ``detect`` and
``PoseEstimator``; ``serve --model <registry name>`` serves it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from localhost import free_port
from serving_helpers import encode, make_test_settings, synthetic_bgr, wait_until_ready

from simplepose.hub.registry import DEFAULT_MODEL, REGISTRY, model_path
from simplepose.hub.resolve import Builders, HubOptions

NAME = "mmpose1-res50-256x192"
ENTRY_POINTS = ("serve", "predict", "evaluate", "detect", "PoseEstimator")


class Stop(ValueError):
    """Raised by the recording loader: the entry point got as far as loading."""


@pytest.fixture
def fake_builders(tiny_mindir_dir: Path) -> tuple[Builders, list[str]]:
    """A registry builder without network or MindSpore export: it 'builds' the tiny exported
    model into the entry's cache directory (a real build converts the downloaded weights)."""
    built: list[str] = []

    def registry(entry, options: HubOptions) -> Path:
        target = model_path(entry, options.cache)
        if not target.exists():
            shutil.copytree(tiny_mindir_dir, target)
        built.append(entry.name)
        return target

    return Builders(registry=registry), built


@pytest.fixture
def recorded(monkeypatch) -> dict[str, list]:
    """What the entry points hand to the loaders: model paths and detector names."""
    from simplepose import detection, estimator
    from simplepose.detection.base import WholeImageDetector
    from simplepose.runtime import on_device

    seen: dict[str, list] = {"models": [], "detectors": []}

    def load(path, *args, **kwargs):
        seen["models"].append(Path(path))
        raise Stop("recorded")

    def detector(name, *args, **kwargs):
        seen["detectors"].append(name)
        return WholeImageDetector()

    monkeypatch.setattr(on_device, "load_on_device", load)
    monkeypatch.setattr(estimator, "load_on_device", load)
    monkeypatch.setattr(detection, "load_detector", detector)
    for var in ("SIMPLEPOSE_MODEL", "SIMPLEPOSE_DETECTOR", "SIMPLEPOSE_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    return seen


def _run(entry: str, model: str | None, cache: Path, builders, data: Path, image: Path) -> None:
    import simplepose.cli as root
    from simplepose import PoseEstimator

    common = ["--cache-dir", str(cache), "--offline"]
    named = [] if model is None else ["--model", model]
    if entry == "PoseEstimator":
        with pytest.raises(Stop):
            PoseEstimator(model, device="CPU", detector="hog", cache_dir=cache, offline=True,
                          builders=builders)  # fmt: skip
        return
    root.BUILDERS = builders  # what the composition root injects (restored by monkeypatch)
    if entry == "serve":
        args = ["serve", *named, *common, "--port", str(free_port()), "--detector", "hog"]
        assert root.main(args) == 1  # the server stops: the (recording) load failed
    elif entry == "predict":
        args = ["predict", str(image), *named, *common, "--detector", "hog"]
        assert root.main([*args, "--output", str(cache / "out.json")]) == 2
    elif entry == "evaluate":
        model_args = named or ["--model", DEFAULT_MODEL]  # evaluate needs a model or checkpoint
        args = ["evaluate", *model_args, "--data", str(data), "--boxes", "detector",
                "--detector", "hog", "--device", "CPU"]  # fmt: skip
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SIMPLEPOSE_CACHE_DIR", str(cache))  # evaluate's cache: the default one
            env.setenv("SIMPLEPOSE_OFFLINE", "1")
            assert root.main(args) == 2
    else:
        args = ["detect", str(image), *common, "--detector", "hog"]
        assert root.main([*args, "--output", str(cache / "dets.json")]) == 0


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("given", ["directory", "registry name", "default"])
def test_every_entry_point_resolves_the_same_model(
    entry, given, tiny_mindir_dir, fake_builders, recorded, coco_mini, tmp_path, monkeypatch
) -> None:
    import simplepose.cli as root

    monkeypatch.setattr(root, "BUILDERS", root.BUILDERS)
    builders, built = fake_builders
    cache = tmp_path / "cache"
    image = tmp_path / "a.png"
    image.write_bytes(encode(synthetic_bgr(), ".png"))
    model = {"directory": str(tiny_mindir_dir), "registry name": NAME, "default": None}[given]
    expected = {
        "directory": tiny_mindir_dir,
        "registry name": model_path(REGISTRY[NAME], cache),
        "default": model_path(REGISTRY[DEFAULT_MODEL], cache),
    }[given]
    _run(entry, model, cache, builders, coco_mini, image)
    assert recorded["detectors"] == ["hog"]
    if entry == "detect":
        assert recorded["models"] == []  # detect resolves only the detector
        return
    assert recorded["models"] == [expected]
    assert built == ([] if given == "directory" else [Path(expected).name])


def test_serve_accepts_a_registry_name_and_serves_it(fake_builders, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from simplepose.hub.resolve import check_model_name
    from simplepose.serving.main import create_app

    builders, built = fake_builders
    assert check_model_name(Path(NAME)) == REGISTRY[NAME]  # serve's check before listening
    settings = make_test_settings(model=Path(NAME), cache_dir=tmp_path, offline=True)
    with TestClient(create_app(settings, builders=builders)) as client:
        wait_until_ready(client)
        card = client.get("/v1/model").json()
        image = {"image": ("a.png", encode(synthetic_bgr(), ".png"), "image/png")}
        answer = client.post("/keypoints", files=image)
    assert answer.status_code == 200 and len(answer.json()["persons"]) == 1
    assert built == [NAME] and not card["demo"]


def test_one_error_format_across_entry_points(tmp_path, capsys) -> None:
    from simplepose import PoseEstimator
    from simplepose.cli import main

    expected = "model 'no-such-model': not found: neither a path nor a registry name"
    with pytest.raises(FileNotFoundError, match=expected):
        PoseEstimator("no-such-model")
    image = tmp_path / "a.png"
    image.write_bytes(encode(synthetic_bgr(), ".png"))
    for args in (["serve", "--model", "no-such-model"],
                 ["predict", str(image), "--model", "no-such-model"]):  # fmt: skip
        assert main(args) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err
    assert main(["predict", str(image), "--model", "yolox-tiny-humanart"]) == 2
    assert "model 'yolox-tiny-humanart': is a detector entry, not a pose model" in (
        capsys.readouterr().err
    )
