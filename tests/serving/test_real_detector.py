"""The real RTMDet-nano person detector of ``../shared/models/rtmdet-nano-person`` (OpenMMLab
weights, a dynamic-size mmdeploy end2end graph): ``simplepose detect`` runs it with no options
(its preprocessing is known by the graph's sha256) or with the documented options, and its
person boxes reach pycocotools box AP >= 0.38 on coco-mini val2017."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import onnxruntime  # noqa: F401  (dev extra: missing is an error, not a skip)
import pytest

from simplepose.cli import main
from tests.conftest import REPO_ROOT

RTMDET = Path(
    os.environ.get(
        "SIMPLEPOSE_RTMDET_NANO", REPO_ROOT.parent / "shared" / "models" / "rtmdet-nano-person"
    )
)
DOCUMENTED_OPTIONS = [  # docs/detector.md: the same preprocessing given by hand
    "--detector-input-size", "320x320", "--detector-mean", "103.53,116.28,123.675",
    "--detector-std", "57.375,57.12,58.395", "--detector-channel-order", "BGR",
]  # fmt: skip


@pytest.fixture(scope="module")
def rtmdet() -> Path:
    if not (RTMDET / "end2end.onnx").is_file():
        pytest.skip(f"the real RTMDet-nano graph is not at {RTMDET} (needs ../shared/models)")
    return RTMDET


def person_box_ap(annotations: Path, detections: list[dict]) -> tuple[float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
        ev = COCOeval(gt, gt.loadRes(detections), "bbox")
        ev.params.catIds = [1]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def test_detect_with_the_real_graph_reaches_box_ap_038(rtmdet, coco_mini, tmp_path, capsys):
    annotations = coco_mini / "annotations" / "person_keypoints_val2017.json"
    names = [i["file_name"] for i in json.loads(annotations.read_text())["images"]]
    images = [str(coco_mini / "val2017" / n) for n in names]
    out = tmp_path / "d.json"
    assert main(["detect", *images, "--detector", str(rtmdet), "--output", str(out),
                 "--device", "CPU"]) == 0  # fmt: skip
    assert "person detector: rtmdet-nano-person (onnxruntime CPU)" in capsys.readouterr().err
    ap, ap50 = person_box_ap(annotations, json.loads(out.read_text()))
    assert ap >= 0.38 and ap50 >= 0.5, (ap, ap50)
    # the documented options give the same boxes on a copy whose digest is not known
    unknown = tmp_path / "copy" / "end2end.onnx"
    unknown.parent.mkdir()
    unknown.write_bytes((rtmdet / "end2end.onnx").read_bytes() + b"")
    with open(unknown, "ab") as fh:  # still a valid protobuf: an unknown field at the end
        fh.write(b"\xfa\x3f\x00")
    out2 = tmp_path / "d2.json"
    base = ["detect", *images[:5], "--detector", str(unknown.parent), "--output", str(out2)]
    assert main(base) == 2
    assert "--detector-input-size" in capsys.readouterr().err
    assert main([*base, *DOCUMENTED_OPTIONS]) == 0
    first = [d for d in json.loads(out.read_text()) if d["image_id"] in
             {json.loads(annotations.read_text())["images"][i]["id"] for i in range(5)}]  # fmt: skip
    assert sorted(map(json.dumps, json.loads(out2.read_text()))) == sorted(map(json.dumps, first))


def test_detector_quality_bench_rows_for_the_real_graph(rtmdet, coco_mini) -> None:
    """bench/detector_quality.py's measurement (smoke test): the real graph's row next to the
    whole image, with the numbers docs/detector.md reports."""
    import sys

    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from detector_quality import measure

    result = measure(coco_mini, ["none", str(rtmdet)], "val2017", "res50_256x192")
    rows = result["detectors"]
    assert rows["gt"]["box_ap"] == 1.0 and rows["gt"]["oracle_kpt_ap"] > 0.98
    real = rows[str(rtmdet)]
    assert real["label"] == "rtmdet-nano-person (onnxruntime CPU)"
    assert real["box_ap"] == pytest.approx(0.3878, abs=2e-3)
    assert real["oracle_kpt_ap"] > 0.8 > 0.2 > rows["none"]["oracle_kpt_ap"]
