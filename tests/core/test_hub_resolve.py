"""The model hub's rules (``simplepose.hub.resolve``): the cache first, then the injected
builder, else one error saying what to run; the default falls back to the demo only with a
demo builder; a damaged cached build is refused, never replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from simplepose.config.model_info import Bucket, ModelInfo
from simplepose.config.presets import get_preset
from simplepose.hub.errors import ModelNotFound, ModelUnavailable, NotAModel
from simplepose.hub.model_cache import DamagedModelCache
from simplepose.hub.registry import DEFAULT_MODEL, REGISTRY, WeightsUnavailable, model_path
from simplepose.hub.resolve import Builders, HubOptions, check_model_name, resolve_model

NAME = "mmpose1-res50-256x192"


def cached_build(cache: Path, name: str, buckets: tuple[int, ...] = (1, 2)) -> Path:
    """A registry entry's build in the cache as ``weights get`` leaves it (graph files empty)."""
    directory = model_path(REGISTRY[name], cache)
    directory.mkdir(parents=True)
    listed = tuple(Bucket(Bucket.file_name("onnx", n), "onnx", n) for n in buckets)
    ModelInfo(config=get_preset("res50_256x192"), buckets=listed).save(directory)
    for file in ("model.mindir", *(b.file for b in listed)):
        (directory / file).write_bytes(b"graph")
    return directory


def test_the_cache_wins_then_the_builder_then_an_error_naming_the_fix(tmp_path) -> None:
    options = HubOptions(cache=tmp_path, offline=True, device="CPU")
    with pytest.raises(ModelUnavailable, match=f"simplepose weights get {NAME}") as error:
        resolve_model(NAME, options)  # no builder, nothing cached
    assert str(error.value).startswith(f"model '{NAME}': not built in the cache")
    calls = []

    def build(entry, opts):
        calls.append((entry.name, opts.device, opts.offline))
        return cached_build(opts.cache, entry.name)

    built = resolve_model(NAME, options, Builders(registry=build))
    assert (built.path, built.origin, calls) == (model_path(REGISTRY[NAME], tmp_path), "registry",
                                                 [(NAME, "CPU", True)])  # fmt: skip
    again = resolve_model(NAME, options, Builders(registry=build))
    assert again.path == built.path and len(calls) == 1  # complete in the cache: no build


def test_a_builder_that_cannot_get_the_weights_is_one_error(tmp_path) -> None:
    def offline(entry, options):
        raise WeightsUnavailable(f"{entry.name} is not in the cache and downloads are disabled")

    with pytest.raises(ModelUnavailable, match=f"model '{NAME}': .*downloads are disabled"):
        resolve_model(NAME, HubOptions(cache=tmp_path), Builders(registry=offline))


def test_the_default_falls_back_to_the_demo_only_with_a_demo_builder(tmp_path) -> None:
    def offline(entry, options):
        raise WeightsUnavailable("offline")

    demo = tmp_path / "demo"
    chosen = resolve_model(None, HubOptions(cache=tmp_path),
                           Builders(registry=offline, demo=lambda options: demo))  # fmt: skip
    assert (chosen.path, chosen.origin) == (demo, "demo") and "DEMO model" in chosen.note
    with pytest.raises(ModelUnavailable, match=f"'{DEFAULT_MODEL}': no model given"):
        resolve_model(None, HubOptions(cache=tmp_path), Builders(registry=offline))


def test_a_damaged_cached_build_is_refused(tmp_path) -> None:
    directory = cached_build(tmp_path, NAME)
    (directory / Bucket.file_name("onnx", 2)).unlink()
    with pytest.raises(DamagedModelCache, match="missing"):
        resolve_model(NAME, HubOptions(cache=tmp_path), Builders(registry=lambda e, o: directory))


def test_names_that_mean_nothing(tmp_path) -> None:
    with pytest.raises(ModelNotFound, match="'nope': not found: neither a path nor a registry"):
        check_model_name("nope")
    with pytest.raises(ModelNotFound, match="has no model.json"):
        check_model_name(tmp_path)
    backbone = next(n for n, e in REGISTRY.items() if e.kind == "backbone")
    with pytest.raises(NotAModel, match=f"'{backbone}': is a backbone entry, not a pose model"):
        resolve_model(backbone, HubOptions(cache=tmp_path))
    checkpoint = tmp_path / "x.ckpt"
    checkpoint.touch()
    assert resolve_model(checkpoint).origin == "path"
