"""The real PoseTrack clip end to end: ``predict --track`` (mp4 and jpg folder) and
``POST /keypoints/video`` with the HOG detector give the same, consistent tracks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from simplepose.cli import main
from simplepose.video.frames import open_frames
from simplepose.video.tracker import box_iou

STRONG_OVERLAP = 0.6  # box IoU between consecutive frames that makes two persons "the same"


def strongly_overlapping_pairs(frames: list[dict]) -> list[tuple[int, int]]:
    """(track id in frame t, track id in frame t+1) of persons whose boxes overlap strongly and
    are each other's best overlap."""
    pairs = []
    for a, b in zip(frames, frames[1:], strict=False):
        if not a["persons"] or not b["persons"]:
            continue
        iou = box_iou([p["bbox"] for p in a["persons"]], [p["bbox"] for p in b["persons"]])
        for i, j in zip(*np.nonzero(iou > STRONG_OVERLAP), strict=True):
            if iou[i].argmax() == j and iou[:, j].argmax() == i:
                pairs.append((a["persons"][i]["track_id"], b["persons"][j]["track_id"]))
    return pairs


@pytest.fixture(scope="module")
def cli_tracks(posetrack_clip: Path, tiny_checkpoint: Path, tmp_path_factory) -> tuple:
    out = tmp_path_factory.mktemp("track")
    video = next(posetrack_clip.glob("*.mp4"))
    args = ["predict", str(video), "--track", "--model", str(tiny_checkpoint), "--detector", "hog"]
    code = main([*args, "--output", str(out / "tracks.json"), "--render", str(out / "out.mp4")])
    assert code == 0
    return json.loads((out / "tracks.json").read_text()), out / "out.mp4"


@pytest.mark.slow
def test_predict_track_writes_tracks_and_a_decodable_video(cli_tracks) -> None:
    result, rendered = cli_tracks
    assert result["video"]["frames"] == 5 and len(result["frames"]) == 5
    assert result["detector"].startswith("hog")
    assert sum(len(f["persons"]) for f in result["frames"]) >= 3  # HOG finds people here
    assert all("track_id" in p for f in result["frames"] for p in f["persons"])
    source = open_frames(rendered)
    assert (source.info.width, source.info.height, source.info.codec) == (1280, 720, "h264")
    assert len(list(source)) == 5


@pytest.mark.slow
def test_ids_are_kept_where_persons_overlap_strongly(cli_tracks) -> None:
    pairs = strongly_overlapping_pairs(cli_tracks[0]["frames"])
    assert len(pairs) >= 2, "the clip should have persons overlapping between frames"
    assert all(a == b for a, b in pairs), pairs


@pytest.mark.slow
def test_image_folder_tracks_like_frames(posetrack_clip: Path, tiny_checkpoint, tmp_path) -> None:
    out = tmp_path / "tracks.json"
    args = ["predict", str(posetrack_clip), "--track", "--model", str(tiny_checkpoint)]
    assert main([*args, "--fps", "30", "--output", str(out)]) == 0
    frames = json.loads(out.read_text())["frames"]
    assert [f["file"] for f in frames] == [f"00000{i}.jpg" for i in range(5)]
    assert all(a == b for a, b in strongly_overlapping_pairs(frames))


@pytest.fixture(scope="module")
def hog_client(tiny_model) -> Iterator:
    from fastapi.testclient import TestClient
    from serving_helpers import make_test_settings

    from simplepose.detection.hog import HogDetector
    from simplepose.serving.main import create_app

    app = create_app(make_test_settings(), model=tiny_model, device="CPU", detector=HogDetector())
    with TestClient(app) as c:
        yield c


@pytest.mark.slow
def test_service_tracks_the_clip_like_predict(hog_client, posetrack_clip, cli_tracks) -> None:
    data = next(posetrack_clip.glob("*.mp4")).read_bytes()
    r = hog_client.post("/keypoints/video", files={"video": ("clip.mp4", data, "video/mp4")})
    assert r.status_code == 200, r.text
    frames = r.json()["frames"]
    expected = cli_tracks[0]["frames"]
    assert [[p["track_id"] for p in f["persons"]] for f in frames] == [
        [p["track_id"] for p in f["persons"]] for f in expected
    ]
    for got, want in zip(frames, expected, strict=True):
        for p, q in zip(got["persons"], want["persons"], strict=True):
            np.testing.assert_allclose(p["keypoints"], q["keypoints"], atol=1e-3)


def test_predict_track_refuses_bad_input_before_loading_a_model(tmp_path, capsys) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 300)
    missing_model = tmp_path / "no-model"  # never reached: the video is checked first
    args = ["predict", str(broken), "--track", "--model", str(missing_model)]
    assert main([*args, "--output", str(tmp_path / "t.json")]) == 2
    assert "not a readable" in (err := capsys.readouterr().err) and "corrupt or truncated" in err
    assert main([*args[:3], "--render", str(tmp_path / "out.png")]) == 2
    assert "--render with --track writes a video" in capsys.readouterr().err
