"""Frame sources: real clips, image folders, the writer, and every kind of bad video."""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from simplepose.video.frames import COMMON_CODECS, VideoError, VideoLimits, VideoWriter, open_frames


def frames_bgr(n: int = 6, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frames with a square moving right, so each one differs."""
    out = []
    for i in range(n):
        img = np.full((height, width, 3), 40, np.uint8)
        cv2.rectangle(img, (5 + 8 * i, 20), (25 + 8 * i, 40), (0, 200, 255), -1)
        out.append(img)
    return out


def clip_bytes(codec: str = "mpeg4", fmt: str = "mp4", n: int = 6) -> bytes:
    buf = io.BytesIO()
    pix_fmt = "yuv444p" if codec == "ffv1" else "yuv420p"
    with VideoWriter(buf, 10, codec, fmt, pix_fmt) as writer:
        for img in frames_bgr(n):
            writer.write(img)
    return buf.getvalue()


def audio_only_mp4() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def test_bytes_and_file_give_the_same_frames(tmp_path: Path) -> None:
    data = clip_bytes()
    (tmp_path / "c.mp4").write_bytes(data)
    from_bytes = open_frames(data)
    assert (from_bytes.info.width, from_bytes.info.height, from_bytes.info.frames) == (96, 64, 6)
    assert from_bytes.info.fps == pytest.approx(10.0) and from_bytes.info.codec == "mpeg4"
    a = list(from_bytes)
    b = list(open_frames(tmp_path / "c.mp4"))
    assert [f.index for f in a] == list(range(6))
    assert [f.time for f in a] == pytest.approx([i / 10 for i in range(6)])
    for fa, fb, truth in zip(a, b, frames_bgr(), strict=True):
        np.testing.assert_array_equal(fa.image, fb.image)
        assert np.abs(fa.image.astype(int) - truth).mean() < 6  # lossy codec, same picture


def test_image_folder_is_a_frame_sequence(tmp_path: Path) -> None:
    for i, img in enumerate(frames_bgr(3)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), img)
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_frames(tmp_path, fps=5.0)
    frames = list(source)
    assert [f.name for f in frames] == ["000.png", "001.png", "002.png"]
    assert [f.time for f in frames] == [0.0, 0.2, 0.4]
    np.testing.assert_array_equal(frames[1].image, frames_bgr(3)[1])
    with pytest.raises(VideoError, match="too_many_frames|limit is 2") as err:
        open_frames(tmp_path, VideoLimits(max_frames=2))
    assert err.value.code == "too_many_frames"


def test_writer_output_decodes_with_its_frames(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=10) as writer:
        for img in frames_bgr(5, width=95, height=63):  # odd size is padded to even
            writer.write(img)
    source = open_frames(path)
    assert (source.info.codec, source.info.width, source.info.height) == ("h264", 96, 64)
    assert len(list(source)) == 5


@pytest.mark.parametrize(
    ("data", "limits", "code"),
    [
        (b"", None, "empty_video"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 500, None, "invalid_video"),
        ("half", None, "invalid_video"),  # the index (moov atom, at the end) cut off
        ("audio", None, "no_video_stream"),
        ("ffv1", VideoLimits(codecs=COMMON_CODECS), "unsupported_codec"),
        ("clip", VideoLimits(max_bytes=100), "too_large"),
        ("clip", VideoLimits(max_frames=5), "too_many_frames"),
        ("clip", VideoLimits(max_seconds=0.3), "too_long"),
        ("clip", VideoLimits(max_pixels=96 * 63), "too_many_pixels"),
    ],
)
def test_bad_videos_raise_clear_errors(data, limits, code) -> None:
    if data == "half":
        data = clip_bytes()[: len(clip_bytes()) // 2]
    elif data == "audio":
        data = audio_only_mp4()
    elif data == "ffv1":
        data = clip_bytes("ffv1", "matroska")
    elif data == "clip":
        data = clip_bytes()
    with pytest.raises(VideoError) as err:
        list(open_frames(data, limits))
    assert err.value.code == code
    assert str(err.value)


def test_frames_missing_from_the_middle_are_reported_as_truncated() -> None:
    """A faststart-style file whose header declares more frames than its data holds."""
    buf = io.BytesIO()
    data = clip_bytes("mpeg4", "mp4", n=6)
    # Cut the last frame's bytes out of the data: the index still declares 6 frames.
    with av.open(io.BytesIO(data)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    cut = packets[-1].pos
    buf.write(data[:cut] + data[cut + packets[-1].size :])
    with pytest.raises(VideoError) as err:
        list(open_frames(buf.getvalue()))
    assert err.value.code in ("truncated", "invalid_video")


def test_posetrack_clip_decodes_like_its_jpegs(posetrack_clip: Path) -> None:
    source = open_frames(next(posetrack_clip.glob("*.mp4")))
    frames = list(source)
    assert len(frames) == 5 and frames[0].image.shape == (720, 1280, 3)
    assert source.info.fps == pytest.approx(30.0)
    jpg = cv2.imread(str(posetrack_clip / "000002.jpg"))
    assert np.abs(frames[2].image.astype(int) - jpg).mean() < 8
