"""Which containers a video may come in, decided from its first bytes by our own check.

FFmpeg guesses the container from the bytes when asked to, and many of its demuxers reach
beyond the bytes they are given: an SDP description binds UDP ports, ffconcat, HLS (m3u8),
DASH (mpd) and image2 patterns open other files or URLs, ``tee``, ``subfile``, ``data:``,
``concat:`` and friends are whole protocols. So a video is opened only when its first bytes are
one of the containers below, with that demuxer named explicitly, no protocol allowed for nested
opens, no other demuxer allowed inside, and MP4 external data references off. Anything else is
refused before FFmpeg sees a byte (``VideoError("unsupported_container")``).
"""

from __future__ import annotations

from dataclasses import dataclass

# ISO BMFF / QuickTime top-level boxes a real file starts with (size, then the type).
MP4_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"  # EBML header (Matroska and WebM)
MPEG_PS_MAGIC = b"\x00\x00\x01\xba"  # MPEG program stream pack header
TS_PACKET = 188
TS_SYNC = 0x47
SNIFF_BYTES = 4 * TS_PACKET  # enough for every check below


@dataclass(frozen=True)
class Container:
    name: str  # what users call it (error messages, docs/video.md)
    demuxer: str  # the FFmpeg demuxer opened, and the only one allowed
    options: tuple[tuple[str, str], ...] = ()  # demuxer options beyond the common ones


MP4 = Container("MP4/MOV", "mov", (("enable_drefs", "0"), ("use_absolute_path", "0")))
MATROSKA = Container("Matroska/WebM", "matroska")
AVI = Container("AVI", "avi")
MPEG_TS = Container("MPEG-TS", "mpegts")
MPEG_PS = Container("MPEG-PS", "mpeg")
CONTAINERS = (MP4, MATROSKA, AVI, MPEG_TS, MPEG_PS)
ACCEPTED = ", ".join(c.name for c in CONTAINERS)


def _is_ts(head: bytes) -> bool:
    """MPEG-TS: the sync byte at the start of every 188-byte packet present in ``head``."""
    if len(head) < TS_PACKET:
        return False
    return all(head[i] == TS_SYNC for i in range(0, len(head) - TS_PACKET + 1, TS_PACKET))


def sniff(head: bytes) -> Container | None:
    """The container ``head`` (the first ``SNIFF_BYTES`` of a file) starts like, or None."""
    if len(head) >= 8 and head[4:8] in MP4_FIRST_BOXES:
        return MP4
    if head.startswith(MATROSKA_MAGIC):
        return MATROSKA
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return AVI
    if head.startswith(MPEG_PS_MAGIC):
        return MPEG_PS
    if _is_ts(head):
        return MPEG_TS
    return None


def open_options(container: Container) -> dict[str, str]:
    """``av.open`` options: no protocol for nested opens, no demuxer but the chosen one."""
    return {
        "protocol_whitelist": "",
        "format_whitelist": container.demuxer,
        **dict(container.options),
    }
