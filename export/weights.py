"""Known public SimpleBaselines weights: download (verified), convert and export in one step.

No weights ship with simplepose; these are the public PyTorch checkpoints it can turn into a
model directory. Hashes: mmpose and torchvision put the first 8 hex digits of the file's
sha256 into its name, so every entry has at least that prefix; a full hash is listed only where
a public record of it exists. An entry without any hash would be checked against the hash
recorded at its first download.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from simplepose.export.layouts import CHANNEL_ORDER
from simplepose.export.mindir import HASH_CHUNK, sha256_file

from simplepose.paths import cache_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "mmpose1-res50-256x192"
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation, not for the whole file
URL_SCHEMES = ("http", "https")
MMPOSE1 = "https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco/"
MMPOSE0 = "https://download.openmmlab.com/mmpose/top_down/resnet/"
TORCHVISION = "https://download.pytorch.org/models/"
AP_NOTE = "COCO val2017 AP, detected person boxes (AP 56.4), flip test, as published by mmpose"


class WeightsError(ValueError):
    """Downloaded weights that fail verification (hash mismatch, wrong content)."""


class WeightsUnavailable(RuntimeError):
    """The weights cannot be obtained here: offline, unreachable, or refused by the server."""


@dataclass(frozen=True)
class KnownWeights:
    """One public checkpoint. ``sha256`` is a full hex digest, a prefix, or "" (unknown)."""

    name: str
    url: str
    sha256: str
    layout: str
    preset: str
    published_ap: float | None = None
    backbone_only: bool = False

    @property
    def channel_order(self) -> str:
        return CHANNEL_ORDER[self.layout]

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name


def _entries() -> dict[str, KnownWeights]:
    rows = [
        # mmpose 1.x model zoo (td-hm_res*_coco), AP from its table
        ("mmpose1-res50-256x192", MMPOSE1 + "td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth", "04af38ce", "mmpose1", "res50_256x192", 71.8),
        ("mmpose1-res50-384x288", MMPOSE1 + "td-hm_res50_8xb64-210e_coco-384x288-7b8db90e_20220923.pth", "7b8db90e", "mmpose1", "res50_384x288", 73.1),
        ("mmpose1-res101-256x192", MMPOSE1 + "td-hm_res101_8xb64-210e_coco-256x192-065d3625_20220926.pth", "065d3625", "mmpose1", "res101_256x192", 72.8),
        ("mmpose1-res152-256x192", MMPOSE1 + "td-hm_res152_8xb32-210e_coco-256x192-0345f330_20220928.pth", "0345f330", "mmpose1", "res152_256x192", 73.6),
        ("mmpose1-res152-384x288", MMPOSE1 + "td-hm_res152_8xb32-210e_coco-384x288-7fbb906f_20220927.pth", "7fbb906f", "mmpose1", "res152_384x288", 75.0),
        # mmpose 0.x model zoo (top_down/resnet)
        ("mmpose0-res50-256x192", MMPOSE0 + "res50_coco_256x192-ec54d7f3_20200709.pth", "ec54d7f3a287169022530c15dc5b5e6d0224e3c7a3881c26231c63f63686c9b3", "mmpose0", "res50_256x192", 71.8),
        ("mmpose0-res50-384x288", MMPOSE0 + "res50_coco_384x288-e6f795e9_20200709.pth", "e6f795e9", "mmpose0", "res50_384x288", 73.1),
        ("mmpose0-res101-256x192", MMPOSE0 + "res101_coco_256x192-6e6babf0_20200708.pth", "6e6babf0", "mmpose0", "res101_256x192", 72.6),
        ("mmpose0-res101-384x288", MMPOSE0 + "res101_coco_384x288-8c71bdc9_20200709.pth", "8c71bdc9", "mmpose0", "res101_384x288", 74.8),
        ("mmpose0-res152-256x192", MMPOSE0 + "res152_coco_256x192-f6e307c2_20200709.pth", "f6e307c2", "mmpose0", "res152_256x192", 73.5),
        ("mmpose0-res152-384x288", MMPOSE0 + "res152_coco_384x288-3860d4c9_20200709.pth", "3860d4c9", "mmpose0", "res152_384x288", 75.0),
    ]  # fmt: skip
    entries = [KnownWeights(*row) for row in rows]
    # ImageNet backbones: a starting point for training (the head stays random), no AP.
    entries += [
        KnownWeights("torchvision-resnet18", TORCHVISION + "resnet18-f37072fd.pth", "f37072fd", "torchvision", "res18_256x192", None, True),
        KnownWeights("torchvision-resnet50", TORCHVISION + "resnet50-0676ba61.pth", "0676ba61", "torchvision", "res50_256x192", None, True),
    ]  # fmt: skip
    return {e.name: e for e in entries}


REGISTRY: dict[str, KnownWeights] = _entries()


def lookup(name: str, registry: Mapping[str, KnownWeights] = REGISTRY) -> KnownWeights:
    if name not in registry:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(sorted(registry))}")
    return registry[name]


def _check_hash(path: Path, digest: str, expected: str) -> None:
    if expected and not digest.startswith(expected.lower()):
        raise WeightsError(
            f"{path.name}: sha256 {digest} does not match the expected "
            f"{'prefix ' if len(expected) < 64 else ''}{expected}; the file was deleted"
        )


def download(
    url: str,
    dest: Path,
    expected_sha256: str = "",
    progress: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> str:
    """Download ``url`` to ``dest`` (atomically, with a progress bar) and verify its sha256
    against ``expected_sha256`` (full digest or prefix; "" records the hash next to the file as
    ``dest.sha256`` and checks later downloads against it). Returns the hex digest."""
    from tqdm import tqdm

    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in URL_SCHEMES:
        raise ValueError(f"weights URL must be one of {URL_SCHEMES}, got {url!r}")
    recorded = dest.with_name(dest.name + ".sha256")
    if not expected_sha256 and recorded.is_file():
        expected_sha256 = recorded.read_text().strip()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                open(partial, "wb") as out,
                tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                ) as bar,
            ):
                for chunk in iter(lambda: response.read(HASH_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if total is not None and partial.stat().st_size != total:
                raise WeightsUnavailable(
                    f"download of {url} stopped after {partial.stat().st_size} of {total} bytes"
                )
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise WeightsUnavailable(f"cannot download {url}: {reason}") from exc
    except WeightsUnavailable:
        partial.unlink(missing_ok=True)
        raise
    hexdigest = digest.hexdigest()
    try:
        _check_hash(partial, hexdigest, expected_sha256)
    except WeightsError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)
    if not expected_sha256:
        recorded.write_text(hexdigest + "\n")
        log.warning("no published hash for %s: recorded sha256 %s", dest.name, hexdigest)
    return hexdigest


@dataclass(frozen=True)
class FetchedWeights:
    """Where ``fetch`` left things. ``model_dir`` is None for backbone-only weights."""

    entry: KnownWeights
    download: Path
    checkpoint: Path
    model_dir: Path | None


def fetch(
    entry: KnownWeights,
    cache: str | Path | None = None,
    fmt: str = "mindir",
    flip: bool = True,
    offline: bool = False,
    progress: bool = True,
) -> FetchedWeights:
    """Download (unless cached), verify, convert and export one registry entry.

    Layout of the cache: ``downloads/<file>.pth``, ``checkpoints/<name>.ckpt``,
    ``models/<name>[-noflip][-onnx]/``. Existing results are reused.
    """
    from simplepose.export.convert import convert_checkpoint
    from simplepose.export.mindir import export_model

    from simplepose.config import get_preset
    from simplepose.model_info import MODEL_JSON

    root = cache_dir(cache)
    pth = root / "downloads" / entry.filename
    if pth.is_file():
        recorded = pth.with_name(pth.name + ".sha256")
        expected = entry.sha256 or (recorded.read_text().strip() if recorded.is_file() else "")
        digest = sha256_file(pth)
        try:
            _check_hash(pth, digest, expected)
        except WeightsError:
            pth.unlink()
            raise
    elif offline:
        raise WeightsUnavailable(
            f"{entry.name} is not in the cache ({pth}) and downloads are disabled (offline)"
        )
    else:
        log.info("downloading %s from %s", entry.name, entry.url)
        download(entry.url, pth, entry.sha256, progress=progress)

    ckpt = root / "checkpoints" / f"{entry.name}.ckpt"
    if not ckpt.is_file():
        convert_checkpoint(pth, ckpt, layout=entry.layout, config=get_preset(entry.preset))
    if entry.backbone_only:
        return FetchedWeights(entry, pth, ckpt, None)
    suffix = ("" if flip else "-noflip") + ("" if fmt == "mindir" else f"-{fmt}")
    model_dir = root / "models" / f"{entry.name}{suffix}"
    if not (model_dir / MODEL_JSON).is_file():
        export_model(ckpt, model_dir, flip=flip, fmt=fmt)
    return FetchedWeights(entry, pth, ckpt, model_dir)


def ensure_default_model(
    cache_dir: Path,
    offline: bool = False,
    name: str = DEFAULT_MODEL,
    registry: Mapping[str, KnownWeights] = REGISTRY,
) -> Path:
    """An exported model directory of the default public weights (downloaded, converted and
    exported on first use, then served from ``cache_dir``).

    Raises ``WeightsUnavailable`` when the weights are not cached and cannot be downloaded, or
    the download fails verification (e.g. a proxy answered with an error page): either way the
    caller has no default model and can fall back.
    """
    try:
        fetched = fetch(lookup(name, registry), cache_dir, offline=offline, progress=False)
    except WeightsError as exc:
        raise WeightsUnavailable(f"default weights {name} failed verification: {exc}") from exc
    if fetched.model_dir is None:
        raise ValueError(f"{name} is a backbone-only checkpoint, not a pose model")
    return fetched.model_dir
