"""Weights registry: download from a local HTTP server, verify, convert, export; errors."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch
import torch_reference

from simplepose.cli import main
from simplepose.export.weights import ensure_default_model, fetch
from simplepose.hub.registry import KnownWeights, WeightsError, WeightsUnavailable
from tests.localhost import serve_directory

PRESET = "res18_128x96"
served_paths: list[str] = []  # the paths the `served` fixture's server was asked for


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A 127.0.0.1 server over a directory holding one mmpose-1.x-layout checkpoint."""
    root = tmp_path_factory.mktemp("www")
    net = torch_reference.random_pose_net(18, deconv_channels=32, seed=1)
    torch.save(torch_reference.layout_state_dict(net, "mmpose1"), root / "sb_r18.pth")
    sha = hashlib.sha256((root / "sb_r18.pth").read_bytes()).hexdigest()
    with serve_directory(root, served_paths) as (url, _):
        yield url, sha


def entry(url: str, sha: str, name: str = "test-r18", prefix: str = "") -> KnownWeights:
    return KnownWeights(name, url, sha, "mmpose1", PRESET, published_ap=None, name_prefix=prefix)


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/sb_r18.pth"  # nothing listens there any more


@pytest.mark.slow
def test_get_downloads_verifies_converts_and_exports(tmp_path, served):
    from simplepose.config.model_info import ModelInfo
    from simplepose.runtime.backends import choose_backend

    base, sha = served
    served_paths.clear()
    # what the Ascend init container asks for (from a CPU): MindIR buckets with the main graph
    ascend = {"progress": False, "buckets": "mindir", "batch_sizes": (2,)}
    got = fetch(entry(f"{base}/sb_r18.pth", sha), tmp_path, **ascend)
    assert got.download.is_file() and got.checkpoint.is_file()
    info = ModelInfo.load(got.model_dir)
    assert info.flip_fused and info.model.channel_order == "RGB"
    assert info.model.deconv_channels == 32 and info.config.name == PRESET
    assert info.extra["layout"] == "mmpose1" and info.extra["converted_from_sha256"] == sha
    assert info.bucket_sizes("mindir") == (2,) and info.bucket_sizes("onnx") == ()
    assert choose_backend(info, "Ascend").name == "mindspore-buckets"
    again = fetch(entry(f"{base}/sb_r18.pth", sha), tmp_path, **ascend)
    assert again.model_dir == got.model_dir
    assert served_paths == ["/sb_r18.pth"]  # the second call was served from the cache


def test_name_prefix_checked_full_digest_required(tmp_path, served):
    from simplepose.hub.download import download

    base, sha = served
    digest = download(f"{base}/sb_r18.pth", tmp_path / "a.pth", sha, progress=False)
    assert digest == sha
    bad = ("0" if sha[0] != "0" else "1") + sha[1:8]
    with pytest.raises(WeightsError, match=f"does not start with {bad}"):
        download(f"{base}/sb_r18.pth", tmp_path / "b.pth", "", False, name_prefix=bad)
    with pytest.raises(WeightsError, match="not a full 64-hex-digit digest"):
        download(f"{base}/sb_r18.pth", tmp_path / "c.pth", sha[:8], progress=False)
    with pytest.raises(WeightsError, match="not a full 64-hex-digit digest"):
        download(f"{base}/sb_r18.pth", tmp_path / "c.pth", sha[:1], progress=False)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "a.pth"]  # nothing half-written left


def test_unknown_hash_is_recorded_then_enforced(tmp_path, served):
    from simplepose.hub.download import download

    base, sha = served
    dest = tmp_path / "downloads" / "sb_r18.pth"
    download(f"{base}/sb_r18.pth", dest, "", progress=False)
    assert (tmp_path / "downloads" / "sb_r18.pth.sha256").read_text().strip() == sha
    data = bytearray(dest.read_bytes())
    data[-1] ^= 0xFF  # the cached file changes
    dest.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match"):
        fetch(entry(f"{base}/sb_r18.pth", ""), tmp_path, progress=False)
    assert not dest.exists()


def test_unreachable_and_missing_urls(tmp_path, served):
    base, sha = served
    with pytest.raises(WeightsUnavailable, match="cannot download http://127.0.0.1"):
        fetch(entry(closed_port_url(), sha), tmp_path, progress=False)
    with pytest.raises(WeightsUnavailable, match="(?i)not found"):
        fetch(entry(f"{base}/nope.pth", sha), tmp_path, progress=False)
    with pytest.raises(ValueError, match="must be https"):
        fetch(entry("ftp://127.0.0.1/x.pth", sha), tmp_path, progress=False)
    assert not list((tmp_path / "downloads").glob("*"))


@pytest.mark.slow
def test_ensure_default_model(tmp_path, served):
    from simplepose.runtime.model_loader import load_model

    base, sha = served
    registry = {"default": entry(f"{base}/sb_r18.pth", sha, "default")}
    with pytest.raises(WeightsUnavailable, match="offline"):
        ensure_default_model(tmp_path, offline=True, name="default", registry=registry)
    unreachable = {"default": entry(closed_port_url(), sha, "default")}
    with pytest.raises(WeightsUnavailable):
        ensure_default_model(tmp_path, name="default", registry=unreachable)
    tampered = {"default": entry(f"{base}/sb_r18.pth", "0" * 64, "default")}
    with pytest.raises(WeightsUnavailable, match="failed verification"):
        ensure_default_model(tmp_path, name="default", registry=tampered)
    # (no buckets: their export is tested with the default model's fast path below)
    dynamic = {"registry": registry, "name": "default", "backend": "mindspore-dynamic"}
    model_dir = ensure_default_model(tmp_path, **dynamic)
    assert load_model(model_dir).info.flip_fused
    # once cached, offline works
    assert ensure_default_model(tmp_path, offline=True, **dynamic) == model_dir


def test_weights_cli(tmp_path, served, capsys, monkeypatch):
    from simplepose.hub import registry as weights

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "mmpose1-res50-256x192" in out and "71.8" in out and "(default)" in out
    assert "UNVERIFIED" in out
    assert main(["weights", "get", "no-such-weights"]) == 2
    assert "unknown weights 'no-such-weights'" in capsys.readouterr().err
    monkeypatch.setitem(weights.REGISTRY, "test-r18", entry(closed_port_url(), served[1]))
    assert main(["weights", "get", "test-r18", "--cache-dir", str(tmp_path), "--offline"]) == 2
    assert "downloads are disabled (offline)" in capsys.readouterr().err


# ---------------------------------------------------------------- the fast path by default


def _cached_download_and_checkpoint(e: KnownWeights, cache) -> None:
    """The cache as a first ``weights get`` leaves it, minus the model directory."""
    from simplepose.config.presets import get_preset
    from simplepose.export.convert import convert_checkpoint
    from simplepose.hub.download import obtain
    from simplepose.hub.registry import checkpoint_path

    pth = obtain(e, cache, progress=False)
    convert_checkpoint(pth, checkpoint_path(e, cache), layout=e.layout, config=get_preset(PRESET))


def test_a_damaged_cached_model_is_refused_with_the_fix(tmp_path, served, capsys, monkeypatch):
    """Hostile cache entries (graphs listed but missing, renamed, another export, broken JSON):
    ``fetch`` and ``weights get`` refuse them naming the directory and the fix; nothing is
    exported over them."""
    from dataclasses import replace

    from simplepose.config.model_info import Bucket, ModelInfo
    from simplepose.config.presets import get_preset
    from simplepose.export.weights import DamagedModelCache
    from simplepose.hub import registry as weights
    from simplepose.hub.registry import model_path

    base, sha = served
    e = entry(f"{base}/sb_r18.pth", sha)
    _cached_download_and_checkpoint(e, tmp_path)
    model_dir = model_path(e, tmp_path)
    model_dir.mkdir(parents=True)
    (model_dir / "model.mindir").write_bytes(b"graph")
    info = ModelInfo(config=get_preset(PRESET), buckets=(Bucket("model_fp32_b8.onnx", "onnx", 8),))
    cases = [
        (info, r"lists graphs that are missing \(model_fp32_b8.onnx\)"),
        (replace(info, buckets=(Bucket("model.mindir", "onnx", 8),)), "names the exporter never"),
        (replace(info, format="onnx"), "holds a onnx export"),
        (replace(info, flip_fused=False), r"flip False\), not the mindir export \(flip True"),
    ]
    for damaged, message in cases:
        damaged.save(model_dir)
        with pytest.raises(DamagedModelCache, match=message + f".*delete {model_dir}"):
            fetch(e, tmp_path, offline=True, progress=False, device="CPU")
        assert ModelInfo.load(model_dir) == damaged  # untouched
    (model_dir / "model.json").write_text('{"config": 3')
    with pytest.raises(DamagedModelCache, match="not valid JSON|not a valid model.json"):
        fetch(e, tmp_path, offline=True, progress=False, device="CPU")
    info.save(model_dir)
    with pytest.raises(
        DamagedModelCache
    ):  # not "unavailable": serve must not fall back to the demo
        ensure_default_model(tmp_path, offline=True, name=e.name, registry={e.name: e})
    monkeypatch.setitem(weights.REGISTRY, e.name, e)
    assert main(["weights", "get", e.name, "--cache-dir", str(tmp_path), "--offline"]) == 2
    err = capsys.readouterr().err
    assert "lists graphs that are missing" in err and "Traceback" not in err
    assert main(["weights", "get", e.name, "--batch-sizes", "0,4"]) == 2
    assert "--batch-sizes: batch sizes must be within" in capsys.readouterr().err


def test_bucket_choice_follows_device_runtime_and_backend(monkeypatch):
    from simplepose.export.weights import bucket_format
    from simplepose.hub import model_cache

    assert bucket_format("auto", "CPU") == "onnx"  # onnx + onnxruntime are dev dependencies
    assert bucket_format("auto", "Ascend") == "mindir"
    assert bucket_format("auto", "CPU", backend="mindspore-buckets") == "mindir"
    assert bucket_format("auto", "CPU", backend="mindspore-dynamic") is None
    assert bucket_format("auto", "CPU", backend="onnxruntime-int8") is None  # needs calibration
    assert bucket_format("none", "CPU") is None and bucket_format("onnx", "Ascend") == "onnx"
    monkeypatch.setattr(model_cache, "onnxruntime_installed", lambda: False)
    assert bucket_format("auto", "CPU") is None  # the dynamic MindIR is what CPU can serve
    assert bucket_format("auto", "Ascend") == "mindir"
    with pytest.raises(ValueError, match="buckets must be one of"):
        bucket_format("tensorrt", "CPU")


@pytest.mark.slow
def test_default_model_is_served_by_onnxruntime_on_cpu(tmp_path, served, capsys, monkeypatch):
    """An older, MindIR-only cache entry of the default model (what ``weights get`` wrote
    before, and still writes without onnxruntime) is served by MindSpore; ``serve`` without
    ``--model`` adds ONNX buckets to it once, offline, and its model card says onnxruntime, as
    do ``PoseEstimator(name)`` and ``weights get``. A bucket swapped for another is refused."""
    import shutil

    from fastapi.testclient import TestClient

    from simplepose import PoseEstimator
    from simplepose.cli.models import BUILDERS
    from simplepose.config.model_info import ModelInfo
    from simplepose.hub import model_cache
    from simplepose.hub import registry as weights
    from simplepose.hub.resolve import HubOptions, resolve_model
    from simplepose.runtime import model_loader as runtime
    from simplepose.runtime.backends import choose_backend
    from simplepose.runtime.buckets import DEFAULT_BATCH_SIZES
    from simplepose.runtime.model_loader import load_model
    from simplepose.serving.main import create_app
    from simplepose.serving.settings import Settings

    base, sha = served
    e = entry(f"{base}/sb_r18.pth", sha, weights.DEFAULT_MODEL)
    monkeypatch.setitem(weights.REGISTRY, e.name, e)
    with monkeypatch.context() as no_ort:
        no_ort.setattr(model_cache, "onnxruntime_installed", lambda: False)
        no_ort.setattr(runtime, "onnxruntime_installed", lambda: False)
        model_dir = fetch(e, tmp_path, progress=False, device="CPU").model_dir
        assert ModelInfo.load(model_dir).buckets == ()
        assert load_model(model_dir).backend == "mindspore-dynamic"

    served_paths.clear()
    settings = Settings(_env_file=None, cache_dir=tmp_path, offline=True, device="CPU",
                        detector="none", rate_limit_rps=0, rate_limit_persons_per_s=0)  # fmt: skip
    with TestClient(create_app(settings, builders=BUILDERS)) as client:
        deadline = time.monotonic() + 300
        while (ready := client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
            assert "load_failed" not in ready.text, ready.text
            time.sleep(0.1)
        card = ready.json()["model"]
    assert (card["runtime"], card["backend"]) == ("onnxruntime", "onnxruntime")
    assert tuple(card["batch_sizes"]) == DEFAULT_BATCH_SIZES and not card["demo"]
    assert served_paths == []  # upgraded from the cache, nothing downloaded
    info = ModelInfo.load(model_dir)
    assert info.bucket_sizes("onnx") == DEFAULT_BATCH_SIZES
    assert choose_backend(info, "CPU").name == "onnxruntime"

    estimator = PoseEstimator(e.name, device="CPU", detector="none", cache_dir=tmp_path,
                              offline=True)  # fmt: skip
    assert estimator.model.backend == "onnxruntime"
    # `serve/predict --model NAME`: the same cache entry; a name not cached offline is an error
    options = HubOptions(cache=tmp_path, offline=True, device="CPU")
    assert resolve_model(Path(e.name), options, BUILDERS).path == model_dir
    with pytest.raises(ValueError, match=f"model '{e.name}': .*offline"):
        resolve_model(e.name, HubOptions(cache=tmp_path / "empty", offline=True), BUILDERS)
    with pytest.raises(ValueError, match="'yolox-tiny-humanart': is a detector entry, not a pose"):
        resolve_model("yolox-tiny-humanart", options, BUILDERS)
    assert main(["weights", "get", e.name, "--cache-dir", str(tmp_path), "--offline"]) == 0
    assert "backend onnxruntime (buckets 1,2,4,8,16)" in capsys.readouterr().out

    shutil.copyfile(model_dir / "model_fp32_b1.onnx", model_dir / "model_fp32_b8.onnx")
    with pytest.raises(ValueError, match=r"model_fp32_b8.onnx takes input \[1, 3, .*damaged"):
        load_model(model_dir)
