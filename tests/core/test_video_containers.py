"""Video containers come from an allow-list decided by our own check of the first bytes:
descriptors that would make FFmpeg bind sockets, connect or read server files are refused
before FFmpeg sees them (no socket, no file opened), and limits hold without decoding."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
from hostile_videos import descriptors
from test_video import clip_bytes

from simplepose.video.containers import CONTAINERS, sniff
from simplepose.video.frames import VideoError, VideoLimits, open_frames

SERVER_FILE = Path(__file__).resolve()  # a file on the "server" an attacker would like to read


def _sockets_and_files() -> tuple[set, set]:
    me = psutil.Process()
    sockets = {(c.family, c.type, c.laddr, c.raddr) for c in me.net_connections(kind="all")}
    return sockets, {f.path for f in me.open_files()}


@pytest.mark.parametrize(("name", "data"), sorted(descriptors(str(SERVER_FILE)).items()))
def test_descriptors_are_refused_before_ffmpeg_opens_anything(name: str, data: bytes) -> None:
    sockets, files = _sockets_and_files()
    start = time.perf_counter()
    with pytest.raises(VideoError) as err:
        list(open_frames(data, VideoLimits(max_frames=300, max_seconds=60)))
    assert time.perf_counter() - start < 1.0
    assert err.value.code in ("unsupported_container", "invalid_video"), name
    after_sockets, after_files = _sockets_and_files()
    assert after_sockets <= sockets, f"{name} opened sockets: {after_sockets - sockets}"
    assert after_files <= files, f"{name} opened files: {after_files - files}"
    assert str(SERVER_FILE) not in err.value.message


@pytest.mark.parametrize("name", [n for n in descriptors() if not n.startswith(("mp4_", "ts_"))])
def test_descriptors_are_not_sniffed_as_any_container(name: str) -> None:
    assert sniff(descriptors()[name][:752]) is None


def test_sdp_never_binds_a_port_even_from_a_file(tmp_path: Path) -> None:
    """From a path too (the CLI): the file is read by us, never handed to FFmpeg by name."""
    path = tmp_path / "clip.sdp"
    path.write_bytes(descriptors()["sdp"])
    sockets, _ = _sockets_and_files()
    with pytest.raises(VideoError) as err:
        open_frames(path)
    assert err.value.code == "unsupported_container"
    assert _sockets_and_files()[0] <= sockets


def test_an_image2_pattern_path_is_not_expanded(tmp_path: Path) -> None:
    (tmp_path / "001.mp4").write_bytes(clip_bytes())
    with pytest.raises(FileNotFoundError):
        open_frames(tmp_path / "%03d.mp4")


@pytest.mark.parametrize(
    ("codec", "fmt", "expected"),
    [
        ("mpeg4", "mp4", "mov"),
        ("mpeg4", "mov", "mov"),
        ("mpeg4", "matroska", "matroska"),
        ("vp8", "webm", "matroska"),
        ("mpeg4", "avi", "avi"),
        ("mpeg4", "mpegts", "mpegts"),
        ("mpeg2video", "mpeg", "mpeg"),
    ],
)
def test_every_promised_container_opens(codec: str, fmt: str, expected: str, tmp_path) -> None:
    data = clip_bytes(codec, fmt)
    found = sniff(data[:752])
    assert found is not None and found.demuxer == expected
    frames = list(open_frames(data))
    assert len(frames) == 6 and frames[0].image.shape == (64, 96, 3)
    path = tmp_path / f"clip.{fmt}"
    path.write_bytes(data)
    assert len(list(open_frames(path))) == 6
    assert {c.demuxer for c in CONTAINERS} >= {expected}


def test_mpeg_ts_without_a_frame_count_is_refused_before_decoding() -> None:
    """MPEG-TS declares no frame count: the packets are counted up front instead."""
    data = clip_bytes("mpeg4", "mpegts", n=40)
    start = time.perf_counter()
    with pytest.raises(VideoError) as err:
        open_frames(data, VideoLimits(max_frames=10))  # no frame iterated
    assert err.value.code == "too_many_frames"
    assert time.perf_counter() - start < 1.0
    with pytest.raises(VideoError) as err:
        open_frames(data, VideoLimits(max_seconds=1.5))  # 40 frames at 10 fps
    assert err.value.code == "too_long"
    assert len(list(open_frames(data, VideoLimits(max_frames=40)))) == 40


def test_file_handles_are_closed(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip_bytes())
    list(open_frames(path, VideoLimits(max_frames=10)))
    assert str(path) not in {f.path for f in psutil.Process(os.getpid()).open_files()}
