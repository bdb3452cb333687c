"""Uploaded bytes -> a validated ``(H, W, 3)`` uint8 BGR image, with limits checked first.

Order of checks, cheapest first: declared content type (415), byte size (413), the format from
the first bytes and the file's structure counted from them with bounded walks (JPEG segments
before the first scan and scans, PNG chunks: 400) before any decoder or header parser walks the
file, then the header read by Pillow without decoding pixels, and only by the plugin of that format
(not an image 400, unsupported format 415, width x height over the limit, a side over OpenCV's
limit or a decompression bomb 413), then the decode itself (any decoder error: 400). Pixels are decoded by OpenCV, exactly
as ``simplepose.pose.pipeline.read_image`` reads files for the evaluator (EXIF orientation applied), so
the service and ``simplepose evaluate`` see the same pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from simplepose.serving.http_errors import ServiceError

# Pillow format name -> the content types a client may declare for it.
FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": ("image/jpeg", "image/jpg", "image/pjpeg"),
    "PNG": ("image/png",),
    "WEBP": ("image/webp",),
    "BMP": ("image/bmp", "image/x-bmp", "image/x-ms-bmp"),
}
ACCEPTED_CONTENT_TYPES = frozenset(t for types in FORMATS.values() for t in types)
# Types that say nothing about the content: the bytes decide (curl sends these for unknown files).
GENERIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
JPEG_SOS = b"\xff\xda"  # start of scan: entropy-coded data follows
JPEG_EOI = b"\xff\xd9"  # end of image; cannot occur inside entropy-coded data (0xFF is stuffed)
# Pillow names multi-picture JPEGs (most phone photos) "MPO": the first picture is a plain JPEG.
FORMAT_ALIASES = {"MPO": "JPEG"}
# Decode work is bounded before decoding: each progressive JPEG scan re-walks the whole image and
# each PNG chunk costs a call, so thousands of tiny ones keep a decoder busy for minutes. Real
# files: a progressive JPEG has ~10 scans (x2 with an MPO preview), encoders write PNG data in
# chunks of 8-64 kB (a 20 MB PNG in ~2,500).
MAX_JPEG_SCANS = 100
MAX_PNG_CHUNKS = 8192
# Pillow reads every JPEG marker segment before the first scan in Python: 20 MB of empty
# comment segments cost seconds. Real files have under 30 (ICC profiles split over 64 kB APP2
# segments included).
MAX_JPEG_HEADER_SEGMENTS = 256
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
# Markers without a length field (TEM, RST0-7) may stand between segments.
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# OpenCV's own decode limits (CV_IO_MAX_IMAGE_WIDTH/HEIGHT): beyond them imdecode throws.
OPENCV_MAX_SIDE = 1 << 20


@dataclass(frozen=True)
class DecodedImage:
    bgr: np.ndarray  # (H, W, 3) uint8, EXIF orientation applied
    format: str  # Pillow format name, one of FORMATS

    @property
    def width(self) -> int:
        return int(self.bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.bgr.shape[0])


def check_content_type(content_type: str | None) -> None:
    """415 unless the declared type is an accepted image type or says nothing."""
    base = (content_type or "").split(";")[0].strip().lower()
    if base not in ACCEPTED_CONTENT_TYPES and base not in GENERIC_CONTENT_TYPES:
        raise ServiceError(
            415,
            "unsupported_media_type",
            f"content type {base!r} is not accepted; send one of "
            f"{', '.join(sorted(ACCEPTED_CONTENT_TYPES))}",
        )


def check_upload_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ServiceError(
            413, "upload_too_large", f"upload is {size} bytes; the limit is {max_bytes} bytes"
        )
    if size == 0:
        raise ServiceError(400, "empty_image", "the uploaded image is empty (0 bytes)")


def sniff_format(data: bytes) -> str | None:
    """One of FORMATS from the magic bytes, or None (then Pillow names what it is)."""
    if data.startswith(JPEG_SOI):
        return "JPEG"
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    return None


def read_header(data: bytes, max_pixels: int, sniffed: str | None = None) -> tuple[str, int, int]:
    """Format, width and height from the header only (Pillow reads pixels lazily); with a
    ``sniffed`` format only that format's plugin may read the bytes."""
    plugins = None if sniffed is None else ([sniffed, "MPO"] if sniffed == "JPEG" else [sniffed])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=plugins) as img:
                fmt, (width, height) = str(img.format), img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ServiceError(413, "too_many_pixels", f"decompression bomb refused: {exc}") from exc
    except Exception as exc:  # any parser error on hostile bytes is a bad image
        raise ServiceError(
            400, "invalid_image", "the upload is not a readable image (JPEG, PNG, WebP or BMP)"
        ) from exc
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise ServiceError(
            415,
            "unsupported_media_type",
            f"{fmt} images are not accepted; send JPEG, PNG, WebP or BMP",
        )
    if max(width, height) > OPENCV_MAX_SIDE:
        raise ServiceError(
            413,
            "too_many_pixels",
            f"image is {width}x{height}; sides are limited to {OPENCV_MAX_SIDE}",
        )
    if width * height > max_pixels:
        raise ServiceError(
            413,
            "too_many_pixels",
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
        )
    return fmt, width, height


def _png_chunks(data: bytes, limit: int) -> int:
    """Chunks in a PNG counted from their length fields (stops past ``limit`` or at a cut)."""
    pos, count = len(PNG_SIGNATURE), 0
    while pos + 8 <= len(data) and count <= limit:
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")  # length, type, data, crc
        count += 1
    return count


def _jpeg_header_segments(data: bytes, limit: int) -> int:
    """Marker segments before the first scan, walked by their length fields (stops past
    ``limit``, at the first scan, or at bytes that are not a marker)."""
    pos, count = 2, 0
    while pos + 4 <= len(data) and count <= limit:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == JPEG_SOS[1]:
            break
        count += 1  # a fill byte (0xFF 0xFF) counts as a step too: the walk stays bounded
        if marker == 0xFF:
            pos += 1
        elif marker in JPEG_STANDALONE:
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return count


def check_decode_work(data: bytes, fmt: str) -> None:
    """400 for files whose structure alone would make parsing or decoding slow (see
    MAX_JPEG_SCANS); bounded walks, run before any parser sees the bytes."""
    if fmt == "JPEG" and _jpeg_header_segments(data, MAX_JPEG_HEADER_SEGMENTS) > (
        MAX_JPEG_HEADER_SEGMENTS
    ):
        raise ServiceError(
            400, "invalid_image",
            f"the JPEG has over {MAX_JPEG_HEADER_SEGMENTS} marker segments before its first "
            "scan (parsing is refused)",
        )  # fmt: skip
    if fmt == "JPEG" and data.count(JPEG_SOS) > MAX_JPEG_SCANS:
        raise ServiceError(
            400, "invalid_image", f"the JPEG has over {MAX_JPEG_SCANS} scans (decoding is refused)"
        )
    if fmt == "PNG" and _png_chunks(data, MAX_PNG_CHUNKS) > MAX_PNG_CHUNKS:
        raise ServiceError(
            400, "invalid_image", f"the PNG has over {MAX_PNG_CHUNKS} chunks (decoding is refused)"
        )


def _jpeg_complete(data: bytes) -> bool:
    sos = data.rfind(JPEG_SOS)
    return sos >= 0 and data.find(JPEG_EOI, sos + len(JPEG_SOS)) >= 0


def decode_image(
    data: bytes, content_type: str | None, max_bytes: int, max_pixels: int
) -> DecodedImage:
    """Validate and decode one upload; raises ``ServiceError`` (4xx) for anything unusable."""
    check_content_type(content_type)
    check_upload_size(len(data), max_bytes)
    sniffed = sniff_format(data)
    if sniffed is not None:
        check_decode_work(data, sniffed)
    fmt, _, _ = read_header(data, max_pixels, sniffed)
    # OpenCV decodes a JPEG cut short without complaint (grey fill); refuse it instead.
    if fmt == "JPEG" and not _jpeg_complete(data):
        raise ServiceError(400, "invalid_image", "the JPEG is truncated (no end-of-image marker)")
    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ServiceError(400, "invalid_image", f"the {fmt} image cannot be decoded") from exc
    if bgr is None or bgr.ndim != 3 or bgr.size == 0:
        raise ServiceError(400, "invalid_image", f"the {fmt} image is corrupt or truncated")
    return DecodedImage(bgr=bgr, format=fmt)
