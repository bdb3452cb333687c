"""Upload validation: formats, limits checked from the header, EXIF, truncation."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from serving_helpers import encode, jpeg_with_orientation, synthetic_bgr

from simplepose.serving.http_errors import ServiceError
from simplepose.serving.images import decode_image, read_header

MB = 1 << 20


def _decode(data: bytes, content_type: str | None = "image/png", max_pixels: int = 10**7):
    return decode_image(data, content_type, max_bytes=MB, max_pixels=max_pixels)


def _status(exc: pytest.ExceptionInfo) -> tuple[int, str]:
    return exc.value.status, exc.value.code


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but carries no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp"])
def test_accepted_formats_decode_to_the_same_pixels_as_opencv(ext: str) -> None:
    bgr = synthetic_bgr(64, 48)
    data = encode(bgr, ext)
    image = _decode(data, "application/octet-stream")
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert (image.width, image.height) == (64, 48)
    np.testing.assert_array_equal(image.bgr, expected)


def test_exif_orientation_is_applied() -> None:
    bgr = synthetic_bgr(80, 40)
    image = _decode(jpeg_with_orientation(bgr, 6), "image/jpeg")
    assert (image.width, image.height) == (40, 80)  # rotated 90 degrees


def test_pixel_limit_is_checked_from_the_header_without_decoding() -> None:
    # 100000 x 100000 claimed, no pixel data at all: only a header read can answer 413.
    with pytest.raises(ServiceError) as exc:
        _decode(png_header_only(100_000, 100_000))
    assert _status(exc) == (413, "too_many_pixels")
    assert read_header(png_header_only(300, 200), 10**6)[1:] == (300, 200)


def test_decompression_bomb_is_refused() -> None:
    # A real, highly compressible 6000 x 6000 image (36 M pixels) in a few hundred KB.
    data = encode(np.zeros((6000, 6000, 3), np.uint8), ".png")
    assert len(data) < MB
    with pytest.raises(ServiceError) as exc:
        _decode(data, max_pixels=1_000_000)
    assert _status(exc) == (413, "too_many_pixels")
    assert "36000000" in exc.value.message


def test_truncated_jpeg_is_refused_even_though_opencv_would_decode_it() -> None:
    data = encode(synthetic_bgr(), ".jpg")
    cut = data[: int(len(data) * 0.95)]
    assert cv2.imdecode(np.frombuffer(cut, np.uint8), cv2.IMREAD_COLOR) is not None
    with pytest.raises(ServiceError) as exc:
        _decode(cut, "image/jpeg")
    assert _status(exc) == (400, "invalid_image")
    assert "truncated" in exc.value.message


def test_truncated_png_is_refused() -> None:
    data = encode(synthetic_bgr(), ".png")
    with pytest.raises(ServiceError) as exc:
        _decode(data[: len(data) // 2])
    assert exc.value.status == 400


def test_gif_is_unsupported_media_type() -> None:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "GIF")
    with pytest.raises(ServiceError) as exc:
        _decode(buf.getvalue(), "application/octet-stream")
    assert _status(exc) == (415, "unsupported_media_type")
