"""Downloadable person detectors: safe unpacking of their zips into the cache.

Their entries in ``simplepose.hub.registry`` (kind ``detector``) are OpenMMLab's RTMDet-nano
person detector (the default, ``rtmdet-nano-person``) and YOLOX person detectors (COCO +
Human-Art), as mmdeploy "onnx_sdk" zips, the ones rtmlib runs in front of RTMPose
(docs/detector.md says why); their input presets are in ``simplepose.detection.spec``. The zip
holds ``end2end.onnx`` (NMS inside); only that member is extracted, with a size cap. Their file
names carry the hash of the PyTorch checkpoint they were exported from, not of the zip, and no
full digest of the zips is published: they are UNVERIFIED downloads (the digest is recorded at
the first download and enforced afterwards).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from simplepose.detection.onnx_end2end import DetectorLoadError
from simplepose.hub.download import MAX_DOWNLOAD_BYTES, obtain
from simplepose.hub.registry import KnownWeights, detector_path, lookup

GRAPH_NAME = "end2end.onnx"
COPY_CHUNK = 1 << 20
DEFAULT_DETECTOR_WEIGHTS = "rtmdet-nano-person"  # the default wherever onnxruntime is installed


def extract_graph(archive: Path, dest: Path, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Copy the one ``end2end.onnx`` member of ``archive`` (a zip, or the graph itself) to
    ``dest``, through ``dest.partial``; refuses archives without exactly one such member and
    members over ``max_bytes`` (declared or actual)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    try:
        if not zipfile.is_zipfile(archive):
            shutil.copyfile(archive, partial)
        else:
            with zipfile.ZipFile(archive) as zf:
                members = [i for i in zf.infolist() if Path(i.filename).name == GRAPH_NAME]
                if len(members) != 1:
                    raise DetectorLoadError(
                        f"{archive.name}: expected one {GRAPH_NAME} in the zip, "
                        f"found {len(members)}"
                    )
                if members[0].file_size > max_bytes:
                    raise DetectorLoadError(f"{archive.name}: {GRAPH_NAME} is over {max_bytes} B")
                size = 0
                with zf.open(members[0]) as src, open(partial, "wb") as out:
                    for chunk in iter(lambda: src.read(COPY_CHUNK), b""):
                        size += len(chunk)
                        if size > max_bytes:
                            raise DetectorLoadError(f"{archive.name}: {GRAPH_NAME} is too large")
                        out.write(chunk)
        partial.replace(dest)
    except zipfile.BadZipFile as exc:
        raise DetectorLoadError(f"{archive.name} is a corrupt zip: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return dest


def fetch_detector(
    entry: KnownWeights,
    cache: str | Path | None = None,
    offline: bool = False,
    progress: bool = True,
) -> Path:
    """The extracted graph of a detector entry, downloading (unless ``offline``) and
    extracting on first use; later calls re-check the download's digest and reuse the graph."""
    if entry.kind != "detector":
        raise ValueError(f"{entry.name} is {entry.kind} weights, not a person detector")
    archive = obtain(entry, cache, offline=offline, progress=progress)
    graph = detector_path(entry, cache)
    if not graph.is_file():
        extract_graph(archive, graph)
    return graph


def detector_entry(name: str) -> KnownWeights:
    entry = lookup(name)
    if entry.kind != "detector":
        raise ValueError(f"{name} is {entry.kind} weights, not a person detector")
    return entry
