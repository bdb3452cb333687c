"""The registry of known public weights and where they live in the cache (pure Python, no
MindSpore); ``simplepose.hub.download`` fetches and verifies them.

No weights ship with simplepose; these are public checkpoints it can fetch. A download is
*verified* only when the registry holds the file's full sha256 (64 hex digits) and it matches.
mmpose and torchvision put the first 8 hex digits of the sha256 into file names; that prefix is
checked too (it catches error pages and truncated files) but 32 bits prove nothing against a
chosen file, so an entry with only a prefix is reported as *unverified*: its hash is recorded at
the first download (``<file>.sha256`` next to it) and later uses must match that record.

Converting and exporting a download is the export stage's job (``simplepose.export.weights``);
this module only names the files and where they live in the cache.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from simplepose.hub.cache import cache_dir

DEFAULT_MODEL = "mmpose1-res50-256x192"
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # plain http only to this machine (tests, mirrors)
KINDS = ("pose", "backbone", "detector")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MMPOSE1 = "https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco/"
MMPOSE0 = "https://download.openmmlab.com/mmpose/top_down/resnet/"
TORCHVISION = "https://download.pytorch.org/models/"
OPENMMLAB_LICENCE = "Apache-2.0 (OpenMMLab model zoo)"
OPENMMLAB_ONNX = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
HUMANART_LICENCE = "Apache-2.0 (OpenMMLab); trained on COCO + Human-Art (data: research use only)"
AP_NOTE = "COCO val2017 AP, detected person boxes (AP 56.4), flip test, as published by mmpose"


class WeightsError(ValueError):
    """Downloaded weights that fail verification (hash mismatch, wrong content)."""


class WeightsUnavailable(RuntimeError):
    """The weights cannot be obtained here: offline, unreachable, or refused by the server."""


def _is_hex(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]*", text))


@dataclass(frozen=True)
class KnownWeights:
    """One public file. ``sha256``: the full lowercase hex digest, or "" where no public record
    of it is known (then the download is unverified). ``name_prefix``: the hash prefix the
    publisher put in the file name (a sanity check only). ``kind``: one of ``KINDS``; pose and
    backbone entries also give the key ``layout`` and the config ``preset`` (detectors: their
    input preset, see ``simplepose.detection.zoo``). ``licence``: of the weights, as published."""

    name: str
    url: str
    sha256: str = ""
    layout: str = ""
    preset: str = ""
    published_ap: float | None = None
    kind: str = "pose"
    name_prefix: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        if self.sha256 and not SHA256_HEX.fullmatch(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lowercase hex digits or empty")
        if not _is_hex(self.name_prefix) or len(self.name_prefix) > 64:
            raise ValueError(f"{self.name}: name_prefix must be lowercase hex")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        url = urllib.parse.urlparse(self.url)
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in LOOPBACK):
            raise ValueError(f"{self.name}: registry URLs must be https, got {self.url!r}")

    @property
    def verified(self) -> bool:
        """Whether a download can be proven to be the published file (full digest known)."""
        return bool(self.sha256)

    @property
    def backbone_only(self) -> bool:
        return self.kind == "backbone"

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name


def _entries() -> list[KnownWeights]:
    # Full digests: only where a public record exists (mmpose 0.x res50 256x192; the torchvision
    # backbones below). The others carry the 8-digit prefix of their file name and are
    # downloaded unverified unless the deployment pins them (simplepose.hub.pins).
    mmpose1 = [
        ("mmpose1-res50-256x192", "td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth", "04af38ce", "res50_256x192", 71.8),
        ("mmpose1-res50-384x288", "td-hm_res50_8xb64-210e_coco-384x288-7b8db90e_20220923.pth", "7b8db90e", "res50_384x288", 73.1),
        ("mmpose1-res101-256x192", "td-hm_res101_8xb64-210e_coco-256x192-065d3625_20220926.pth", "065d3625", "res101_256x192", 72.8),
        ("mmpose1-res152-256x192", "td-hm_res152_8xb32-210e_coco-256x192-0345f330_20220928.pth", "0345f330", "res152_256x192", 73.6),
        ("mmpose1-res152-384x288", "td-hm_res152_8xb32-210e_coco-384x288-7fbb906f_20220927.pth", "7fbb906f", "res152_384x288", 75.0),
    ]  # fmt: skip
    mmpose0 = [
        ("mmpose0-res50-256x192", "res50_coco_256x192-ec54d7f3_20200709.pth", "ec54d7f3", "res50_256x192", 71.8),
        ("mmpose0-res50-384x288", "res50_coco_384x288-e6f795e9_20200709.pth", "e6f795e9", "res50_384x288", 73.1),
        ("mmpose0-res101-256x192", "res101_coco_256x192-6e6babf0_20200708.pth", "6e6babf0", "res101_256x192", 72.6),
        ("mmpose0-res101-384x288", "res101_coco_384x288-8c71bdc9_20200709.pth", "8c71bdc9", "res101_384x288", 74.8),
        ("mmpose0-res152-256x192", "res152_coco_256x192-f6e307c2_20200709.pth", "f6e307c2", "res152_256x192", 73.5),
        ("mmpose0-res152-384x288", "res152_coco_384x288-3860d4c9_20200709.pth", "3860d4c9", "res152_384x288", 75.0),
    ]  # fmt: skip
    full = {"ec54d7f3": "ec54d7f3a287169022530c15dc5b5e6d0224e3c7a3881c26231c63f63686c9b3"}
    out = [
        KnownWeights(n, base + f, full.get(p, ""), layout, s, ap, name_prefix=p,
                     licence=OPENMMLAB_LICENCE)
        for base, layout, rows in ((MMPOSE1, "mmpose1", mmpose1), (MMPOSE0, "mmpose0", mmpose0))
        for n, f, p, s, ap in rows
    ]  # fmt: skip
    # ImageNet backbones: a starting point for training (the head stays random), no AP.
    # torchvision publishes only the 8-digit prefix; these full digests are the ones many
    # independent public projects pin for the same URLs (all agree, and extend the prefix).
    for name, file, sha in (
        ("torchvision-resnet18", "resnet18-f37072fd.pth",
         "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"),
        ("torchvision-resnet50", "resnet50-0676ba61.pth",
         "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a"),
    ):  # fmt: skip
        depth, prefix = name.rsplit("resnet", 1)[1], sha[:8]
        out.append(
            KnownWeights(name, TORCHVISION + file, sha, "torchvision", f"res{depth}_256x192",
                         kind="backbone", name_prefix=prefix, licence="BSD-3-Clause (torchvision)")
        )  # fmt: skip
    # Person detectors (mmdeploy end2end.onnx zips, see simplepose.detection.zoo). The hash in
    # their names is the source checkpoint's, not the zip's: no prefix check, UNVERIFIED.
    # rtmdet-nano-person (RTMPose's detector, COCO + Objects365 persons, 320x320) is the default.
    out.append(KnownWeights("rtmdet-nano-person",
                            OPENMMLAB_ONNX + "rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e.zip",
                            preset="rtmdet-320", kind="detector",
                            licence=OPENMMLAB_LICENCE))  # fmt: skip
    for name, file, preset in (
        ("yolox-tiny-humanart", "yolox_tiny_8xb8-300e_humanart-6f3252f9.zip", "yolox-416"),
        ("yolox-m-humanart", "yolox_m_8xb8-300e_humanart-c2c7a14a.zip", "yolox-640"),
        ("yolox-x-humanart", "yolox_x_8xb8-300e_humanart-a39d44ed.zip", "yolox-640"),
    ):
        out.append(KnownWeights(name, OPENMMLAB_ONNX + file, preset=preset, kind="detector",
                                licence=HUMANART_LICENCE))  # fmt: skip
    return out


REGISTRY: dict[str, KnownWeights] = {e.name: e for e in _entries()}


def register(entry: KnownWeights) -> None:
    """Add an entry (another stage's files, e.g. a person detector); names are unique."""
    if entry.name in REGISTRY and REGISTRY[entry.name] != entry:
        raise ValueError(f"weights {entry.name!r} are already registered differently")
    REGISTRY[entry.name] = entry


def lookup(name: str, registry: Mapping[str, KnownWeights] = REGISTRY) -> KnownWeights:
    if name not in registry:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(sorted(registry))}")
    return registry[name]


# Cache layout (shared by the CLI, the service and the Python API): downloads/<file>,
# checkpoints/<name>.ckpt, models/<name>[-noflip][-<fmt>]/.
def download_path(entry: KnownWeights, cache: str | Path | None = None) -> Path:
    return cache_dir(cache) / "downloads" / entry.filename


def checkpoint_path(entry: KnownWeights, cache: str | Path | None = None) -> Path:
    return cache_dir(cache) / "checkpoints" / f"{entry.name}.ckpt"


def model_path(
    entry: KnownWeights, cache: str | Path | None = None, flip: bool = True, fmt: str = "mindir"
) -> Path:
    suffix = ("" if flip else "-noflip") + ("" if fmt == "mindir" else f"-{fmt}")
    return cache_dir(cache) / "models" / f"{entry.name}{suffix}"


def detector_path(entry: KnownWeights, cache: str | Path | None = None) -> Path:
    """The detector graph extracted from a ``detector`` entry's download."""
    return cache_dir(cache) / "detectors" / entry.name / "end2end.onnx"
