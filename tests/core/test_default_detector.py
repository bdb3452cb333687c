"""The default person detector: ``auto`` is RTMDet-nano, fetched once into the cache, and the
labelled ``none`` fallback when it cannot be had. The network is faked: the registry entry is
pointed at a 127.0.0.1 server holding an mmdeploy-style zip with a stand-in graph, or at a
closed port; nothing leaves this machine."""

from __future__ import annotations

import socket
import zipfile
from dataclasses import replace

import numpy as np
import onnxruntime  # noqa: F401  (dev extra: missing is an error, not a skip)
import pytest

from simplepose.detection import AUTO_DETECTOR, DEFAULT_DETECTOR, load_detector
from simplepose.detection.base import WholeImageDetector
from simplepose.detection.zoo import DEFAULT_DETECTOR_WEIGHTS
from simplepose.hub import registry
from tests.detection_graph import graph_finding
from tests.localhost import serve_directory

ZIP_NAME = "rtmdet_nano_person_standin.zip"


requested: list[str] = []  # the paths the `served` fixture's server was asked for


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """127.0.0.1 serving a zip laid out as OpenMMLab's onnx_sdk zips (a folder with
    end2end.onnx and the SDK JSON files) with a 320 x 320 stand-in graph."""
    root = tmp_path_factory.mktemp("www")
    graph = graph_finding(root / "g" / "end2end.onnx", [[10, 20, 40, 80]], (160, 120),
                          input_size=(320, 320))  # fmt: skip
    with zipfile.ZipFile(root / ZIP_NAME, "w") as zf:
        zf.write(graph, "rtmdet_nano/end2end.onnx")
        zf.writestr("rtmdet_nano/pipeline.json", '{"pipeline": {"tasks": []}}')
    with serve_directory(root, requested) as (url, _):
        yield f"{url}/{ZIP_NAME}"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/{ZIP_NAME}"


def point_default_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    entry = registry.REGISTRY[DEFAULT_DETECTOR_WEIGHTS]
    monkeypatch.setitem(registry.REGISTRY, entry.name, replace(entry, url=url))


def test_the_default_is_the_rtmdet_nano_registry_entry() -> None:
    assert DEFAULT_DETECTOR == AUTO_DETECTOR == "auto"
    entry = registry.REGISTRY[DEFAULT_DETECTOR_WEIGHTS]
    assert entry.name == "rtmdet-nano-person" and entry.kind == "detector"
    assert entry.url == (
        "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
        "rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e.zip"
    )
    assert not entry.verified  # no public digest of the zip: UNVERIFIED, recorded at first use


def test_fresh_cache_with_network_fetches_rtmdet_once(tmp_path, served, monkeypatch) -> None:
    point_default_at(monkeypatch, served)
    requested.clear()
    detector = load_detector("auto", "CPU", tmp_path)
    assert detector.info.name == "rtmdet-nano-person" and not detector.info.fallback
    assert detector.info.label == "rtmdet-nano-person (onnxruntime CPU)"
    assert detector.input_size == (320, 320)  # the registry's preset for this graph
    assert detector.spec.mean == (103.53, 116.28, 123.675)
    graph = tmp_path / "detectors" / "rtmdet-nano-person" / "end2end.onnx"
    assert graph.is_file() and requested == [f"/{ZIP_NAME}"]
    # fetched once: later loads, online or offline, use the cache; on an Ascend host without
    # onnxruntime-cann the default runs on the CPU (a named detector would insist on CANN)
    again = load_detector("auto", "Ascend", tmp_path, offline=True)
    assert again.info.label == "rtmdet-nano-person (onnxruntime CPU)"
    assert again.info.name == "rtmdet-nano-person" and requested == [f"/{ZIP_NAME}"]
    load_detector("auto", "CPU", tmp_path)
    assert requested == [f"/{ZIP_NAME}"]


def test_no_network_or_offline_falls_back_to_none_labelled(tmp_path, monkeypatch, caplog) -> None:
    point_default_at(monkeypatch, closed_port_url())
    with caplog.at_level("WARNING"):
        detector = load_detector("auto", "CPU", tmp_path / "a")
    assert isinstance(detector, WholeImageDetector)
    info = detector.info
    assert info.name == "none" and info.fallback
    assert info.label.startswith("none (whole image is one person): FALLBACK")
    assert "cannot download" in info.label and "weights get rtmdet-nano-person" in info.label
    assert any("falling back to none" in r.message for r in caplog.records)
    found = detector.detect(np.zeros((40, 60, 3), np.uint8))
    np.testing.assert_allclose(found.boxes, [[0, 0, 60, 40]]) and found.detector == info.label
    offline = load_detector("auto", "CPU", tmp_path / "b", offline=True).info
    assert offline.fallback and "downloads are disabled (offline)" in offline.label
    assert not list(tmp_path.rglob("*.partial"))


def test_named_detectors_do_not_fall_back(tmp_path, monkeypatch) -> None:
    from simplepose.detection import DetectorUnavailable

    point_default_at(monkeypatch, closed_port_url())
    with pytest.raises(DetectorUnavailable, match="weights get rtmdet-nano-person"):
        load_detector("rtmdet-nano-person", "CPU", tmp_path, offline=True)
    assert load_detector("hog").info.name == "hog"  # still selectable by name
    assert not load_detector("none").info.fallback  # chosen, not a fallback


def test_without_onnxruntime_auto_is_the_labelled_fallback(tmp_path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    info = load_detector("auto", "CPU", tmp_path).info
    assert info.fallback and "onnxruntime is not installed" in info.label
    assert not (tmp_path / "downloads").exists()  # nothing fetched that could not run


def test_service_reports_which_detector_ran_and_why(tmp_path, served, monkeypatch) -> None:
    from simplepose.serving.main import build_detector
    from simplepose.serving.predictor import detector_summary
    from simplepose.serving.settings import Settings

    point_default_at(monkeypatch, served)
    settings = Settings(_env_file=None, cache_dir=tmp_path, detector_score_threshold=0.4,
                        detector_max_persons=7)  # fmt: skip
    summary = detector_summary(build_detector(settings).info)
    assert summary == {"name": "rtmdet-nano-person", "label": "rtmdet-nano-person (onnxruntime "
                       "CPU)", "fallback": False, "score_threshold": 0.4, "nms_iou": 0.65,
                       "max_persons": 7}  # fmt: skip
    point_default_at(monkeypatch, closed_port_url())
    offline = Settings(_env_file=None, cache_dir=tmp_path / "empty", offline=True)
    summary = detector_summary(build_detector(offline).info)
    assert summary["name"] == "none" and summary["fallback"] and "FALLBACK" in summary["label"]
