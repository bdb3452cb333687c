"""Frame sources with limits: a video file, video bytes, or a folder of images.

Videos are demuxed and decoded by PyAV (FFmpeg), from a path or from memory. Every limit that the
container's header can answer (bytes, resolution, declared frame count and duration, codec) is
checked before any frame is decoded, and again while decoding, because headers can lie. Anything
unusable raises ``VideoError`` with a stable ``code``:

====================  =========================================================================
``too_large``         more bytes than ``max_bytes``
``too_many_pixels``   a frame larger than ``max_pixels`` (width x height)
``too_many_frames``   more frames than ``max_frames``
``too_long``          longer than ``max_seconds``
``unsupported_container`` not one of the containers of ``simplepose.video.containers`` (decided
                      from the first bytes before FFmpeg is called: SDP, playlists, ffconcat...)
``invalid_video``     an accepted container that FFmpeg cannot read, or corrupt
``no_video_stream``   a container without a video stream (e.g. audio only)
``unsupported_codec`` a codec outside ``codecs`` or without a decoder
``truncated``         fewer frames decode than the header declares, or decoding fails midway
``empty_video``       no frame at all
====================  =========================================================================
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import cv2
import numpy as np

from simplepose.pose.inputs import IMAGE_SUFFIXES
from simplepose.video.containers import ACCEPTED, SNIFF_BYTES, open_options, sniff

if TYPE_CHECKING:
    import av

__all__ = ["IMAGE_SUFFIXES", "FrameSource", "VideoError", "VideoWriter", "open_frames"]
AV_MISSING = "video files need PyAV: pip install 'simplepose[video]' (image folders do not)"


def _av() -> Any:
    """PyAV, imported when a video file is opened or written (the ``video`` extra)."""
    try:
        import av
    except ImportError as exc:
        raise VideoError("unsupported_codec", AV_MISSING) from exc
    return av


# Codecs of ordinary camera/phone/web video; a service accepts only these (less decoder surface).
COMMON_CODECS = ("h264", "hevc", "mpeg4", "vp8", "vp9", "av1", "mjpeg", "mpeg1video", "mpeg2video")


class VideoError(ValueError):
    """A video (or frame sequence) that cannot be used; ``code`` is one of the table above."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VideoLimits:
    """Upper bounds on one source; ``None`` means unlimited."""

    max_bytes: int | None = None
    max_frames: int | None = None
    max_seconds: float | None = None
    max_pixels: int | None = None
    codecs: tuple[str, ...] | None = None  # accepted FFmpeg codec names


@dataclass(frozen=True)
class Frame:
    index: int  # 0-based position in the source
    time: float  # seconds from the start
    image: np.ndarray  # (H, W, 3) uint8 BGR
    name: str = ""  # file name for image folders


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int | None  # declared by the header (None when unknown)
    codec: str


class FrameSource(ABC):
    """Iterate over ``Frame``s; ``info`` describes the source before any frame is decoded."""

    info: VideoInfo

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        """Implemented by each subclass."""


def _check_pixels(width: int, height: int, limits: VideoLimits) -> None:
    if limits.max_pixels is not None and width * height > limits.max_pixels:
        raise VideoError(
            "too_many_pixels",
            f"frames are {width}x{height} = {width * height} pixels; "
            f"the limit is {limits.max_pixels}",
        )


def _check_count(count: int, seconds: float | None, limits: VideoLimits, what: str) -> None:
    if limits.max_frames is not None and count > limits.max_frames:
        raise VideoError(
            "too_many_frames", f"{what} {count} frames; the limit is {limits.max_frames}"
        )
    if seconds is not None and limits.max_seconds is not None and seconds > limits.max_seconds:
        raise VideoError(
            "too_long", f"{what} {seconds:.2f} s; the limit is {limits.max_seconds:g} s"
        )


class VideoFrames(FrameSource):
    """The frames of one video file or in-memory video (first video stream)."""

    def __init__(self, source: str | Path | bytes, limits: VideoLimits | None = None):
        self.limits = limits = limits or VideoLimits()
        size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
        if limits.max_bytes is not None and size > limits.max_bytes:
            raise VideoError("too_large", f"video is {size} bytes; the limit is {limits.max_bytes}")
        if size == 0:
            raise VideoError("empty_video", "the video is empty (0 bytes)")
        self._source = source
        self._files: list[BinaryIO] = []
        container = self._open()
        try:
            self.info = self._inspect(container)
            self._count_packets(container)
        finally:
            self._close(container)

    def _open(self) -> av.container.InputContainer:
        """Open with the sniffed demuxer only; never a path, so no protocol is involved."""
        if isinstance(self._source, bytes):
            src: BinaryIO = io.BytesIO(self._source)
        else:
            src = open(self._source, "rb")  # noqa: SIM115 (closed with the container)
        found = sniff(src.read(SNIFF_BYTES))
        if found is None:
            src.close()
            raise VideoError(
                "unsupported_container",
                f"not a video container this service reads; send one of {ACCEPTED}",
            )
        av = _av()
        try:
            src.seek(0)
            container = av.open(src, mode="r", format=found.demuxer, options=open_options(found))
        except av.FFmpegError as exc:
            src.close()
            raise VideoError(
                "invalid_video", f"not a readable {found.name} file (corrupt or truncated): {exc}"
            ) from exc
        except BaseException:
            src.close()
            raise
        self._files.append(src)
        return container

    def _close(self, container: av.container.InputContainer) -> None:
        container.close()
        while self._files:
            self._files.pop().close()

    def _inspect(self, container: av.container.InputContainer) -> VideoInfo:
        if not container.streams:
            raise VideoError(
                "invalid_video",
                f"no streams found in the {container.format.name} container (truncated or corrupt)",
            )
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams}))
            raise VideoError(
                "no_video_stream", f"the {container.format.name} container has no video ({kinds})"
            )
        stream = container.streams.video[0]
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        allowed = self.limits.codecs
        if stream.codec_context is None or (allowed is not None and codec not in allowed):
            raise VideoError(
                "unsupported_codec",
                f"video codec {codec!r} is not supported; use one of {', '.join(allowed or ())}",
            )
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_pixels(width, height, self.limits)
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
        frames = int(stream.frames) or None
        seconds = float(container.duration) / _av().time_base if container.duration else None
        _check_count(frames or 0, seconds, self.limits, "the header declares")
        return VideoInfo(width, height, fps, frames, codec)

    def _count_packets(self, container: av.container.InputContainer) -> None:
        """Frame count and duration from the packets, without decoding: a clip that declares
        no count (MPEG-TS) or a wrong one is refused at once, before any frame is tracked."""
        limits = self.limits
        if limits.max_frames is None and limits.max_seconds is None:
            return
        stream = container.streams.video[0]
        base = float(stream.time_base) if stream.time_base else 0.0
        first, count = None, 0
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                count += 1
                seconds = None
                if packet.pts is not None and base:
                    first = packet.pts if first is None else min(first, packet.pts)
                    seconds = (packet.pts - first) * base
                _check_count(count, seconds, limits, "the video has at least")
        except _av().FFmpegError:
            return  # corrupt data: decoding reports it with the frame it stops at

    def __iter__(self) -> Iterator[Frame]:
        container = self._open()
        try:
            stream = container.streams.video[0]
            start = stream.start_time or 0
            base = float(stream.time_base) if stream.time_base else 1.0 / self.info.fps
            index = 0
            try:
                for frame in container.decode(stream):
                    time = (
                        (frame.pts - start) * base
                        if frame.pts is not None
                        else index / self.info.fps
                    )
                    _check_pixels(frame.width, frame.height, self.limits)
                    _check_count(index + 1, time, self.limits, "the video has at least")
                    image = frame.to_ndarray(format="bgr24")
                    yield Frame(index, max(time, 0.0), image)
                    index += 1
            except _av().FFmpegError as exc:
                raise VideoError(
                    "truncated", f"decoding failed after {index} frames: {exc}"
                ) from exc
            if index == 0:
                raise VideoError("empty_video", "the video has no decodable frames")
            if self.info.frames is not None and index < self.info.frames:
                raise VideoError(
                    "truncated",
                    f"the header declares {self.info.frames} frames but only {index} decode",
                )
        finally:
            self._close(container)


class ImageFolderFrames(FrameSource):
    """The images of a folder, sorted by name, as frames at ``fps``."""

    def __init__(self, folder: str | Path, fps: float = 30.0, limits: VideoLimits | None = None):
        self.limits = limits = limits or VideoLimits()
        self.paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise VideoError(
                "empty_video", f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {folder}"
            )
        _check_count(len(self.paths), len(self.paths) / fps, limits, "the folder has")
        first = self._read(self.paths[0])
        self.info = VideoInfo(first.shape[1], first.shape[0], fps, len(self.paths), "images")

    def _read(self, path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise VideoError("invalid_video", f"cannot read image {path}")
        _check_pixels(image.shape[1], image.shape[0], self.limits)
        return image

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            yield Frame(index, index / self.info.fps, self._read(path), path.name)


def open_frames(
    source: str | Path | bytes, limits: VideoLimits | None = None, fps: float = 30.0
) -> FrameSource:
    """A video file, in-memory video bytes, or a folder of images (played at ``fps``)."""
    if not isinstance(source, bytes):
        path = Path(source)
        if path.is_dir():
            return ImageFolderFrames(path, fps, limits)
        if not path.is_file():
            raise FileNotFoundError(f"no such video file or image folder: {source}")
    return VideoFrames(source, limits)


class VideoWriter:
    """Write ``(H, W, 3)`` uint8 BGR frames to a video file or binary buffer (H.264 in MP4 by
    default, which browsers and players open; ``container_format`` is needed for buffers).
    Odd sizes get one black row/column (4:2:0 needs even sizes). Use as a context manager."""

    def __init__(
        self,
        target: str | Path | BinaryIO,
        fps: float = 30.0,
        codec: str = "libx264",
        container_format: str | None = None,
        pix_fmt: str = "yuv420p",
    ):
        self.fps = fps
        self.codec = codec
        self.pix_fmt = pix_fmt
        self.frames = 0
        where = target if isinstance(target, io.IOBase) else str(target)
        self._container = _av().open(where, mode="w", format=container_format)
        self._stream: Any = None  # av.video.stream.VideoStream once the first frame is seen

    def write(self, image_bgr: np.ndarray) -> None:
        height, width = image_bgr.shape[:2]
        if self._stream is None:
            rate = Fraction(self.fps).limit_denominator(1001)
            self._stream = self._container.add_stream(self.codec, rate=rate)
            self._stream.width, self._stream.height = width + width % 2, height + height % 2
            self._stream.pix_fmt = self.pix_fmt
        s = self._stream
        w, h = int(s.width), int(s.height)
        padded = np.zeros((h, w, 3), np.uint8)
        padded[: min(height, h), : min(width, w)] = image_bgr[:h, :w]
        frame = _av().VideoFrame.from_ndarray(padded, format="bgr24")
        for packet in s.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
