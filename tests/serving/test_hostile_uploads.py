"""Uploads and box JSON written to hang, crash or 500 the service: each is a 4xx, fast, and
honest files that look similar (progressive JPEGs, phone MPOs, many-IDAT PNGs) still decode."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest
from hostile_images import (
    jpeg,
    jpeg_segments_before_scan,
    many_scan_jpeg,
    mpo,
    noise_rgb,
    png_chunks_before_pixels,
    png_with_chunks,
    webp_with_chunks,
    wide_bmp,
)
from serving_helpers import encode, synthetic_bgr

from simplepose.serving import images
from simplepose.serving.boxes import parse_boxes
from simplepose.serving.http_errors import ServiceError
from simplepose.serving.images import MAX_JPEG_SCANS, MAX_PNG_CHUNKS, decode_image

MB = 1 << 20
RGB = noise_rgb(96, 128)


def _decode(data: bytes, max_pixels: int = 10**8) -> images.DecodedImage:
    return decode_image(data, None, max_bytes=20 * MB, max_pixels=max_pixels)


def _refused(data: bytes) -> ServiceError:
    start = time.perf_counter()
    with pytest.raises(ServiceError) as exc:
        _decode(data)
    assert time.perf_counter() - start < 1.0  # refused from the bytes, not after decoding
    return exc.value


def test_jpeg_with_thousands_of_scans_is_refused_before_decoding():
    error = _refused(many_scan_jpeg(RGB, 3000))
    assert (error.status, error.code) == (400, "invalid_image") and "scans" in error.message
    assert _decode(many_scan_jpeg(RGB, MAX_JPEG_SCANS)).width == 128  # at the limit: decoded


def test_png_with_many_chunks_is_refused_but_split_pixel_data_is_fine():
    png = encode(synthetic_bgr(64, 48), ".png")
    error = _refused(png_with_chunks(png, empty_chunks=160_000))
    assert (error.status, error.code) == (400, "invalid_image") and "chunks" in error.message
    split = png_with_chunks(png, idat_pieces=MAX_PNG_CHUNKS // 2)
    np.testing.assert_array_equal(_decode(split).bgr, cv2.imdecode(np.frombuffer(png, np.uint8), 1))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("png_chunks", "chunks"), ("jpeg_segments", "segments"), ("jpeg_fill", "segments")],
)
def test_20_mb_of_empty_structure_is_refused_before_any_parser_walks_it(
    name, fragment, monkeypatch
):
    """Pillow walks every PNG chunk before the pixels and every JPEG segment before the first
    scan in Python (seconds for 20 MB of empty ones): our bounded count runs first."""
    png, small = encode(synthetic_bgr(64, 48), ".png"), jpeg(RGB)
    data = {
        "png_chunks": lambda: png_chunks_before_pixels(png, 20 * MB - 65536),
        "jpeg_segments": lambda: jpeg_segments_before_scan(small, 20 * MB - 65536),
        "jpeg_fill": lambda: jpeg_segments_before_scan(small, 20 * MB - 65536, fill=True),
    }[name]()

    def no_parser(*args, **kwargs):
        raise AssertionError("a parser was called before the structure check")

    monkeypatch.setattr(images.Image, "open", no_parser)
    monkeypatch.setattr(images.cv2, "imdecode", no_parser)
    error = _refused(data)
    assert (error.status, error.code) == (400, "invalid_image") and fragment in error.message


def test_honest_files_pass_the_structure_checks():
    """A JPEG with EXIF and an ICC profile, and a PNG and WebP with ancillary chunks, decode."""
    from PIL import Image, ImageCms

    buf = __import__("io").BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(RGB).save(buf, "JPEG", icc_profile=icc, exif=Image.Exif().tobytes())
    assert _decode(buf.getvalue()).width == 128
    png = encode(synthetic_bgr(64, 48), ".png")
    assert _decode(png_chunks_before_pixels(png, 12 * 100)).width == 64
    webp = encode(synthetic_bgr(64, 48), ".webp")
    assert _decode(webp_with_chunks(webp, 8 * 100)).width == 64


def test_bmp_wider_than_opencv_allows_is_413_from_the_header():
    error = _refused(wide_bmp((1 << 20) + 1))
    assert (error.status, error.code) == (413, "too_many_pixels") and "sides" in error.message


def test_phone_mpo_jpeg_is_accepted_as_jpeg():
    got = _decode(mpo(RGB))
    assert got.format == "JPEG" and got.bgr.shape == (96, 128, 3)
    # the first picture, pixel for pixel (Pillow writes it as a plain quality-75 JPEG)
    np.testing.assert_array_equal(got.bgr, _decode(jpeg(RGB, quality=75)).bgr)


def test_progressive_jpeg_is_accepted():
    assert _decode(jpeg(RGB, progressive=True)).bgr.shape == (96, 128, 3)


@pytest.mark.parametrize("where", ["header", "decoder"])
def test_any_decoder_exception_is_400(monkeypatch, where):
    def boom(*_args, **_kwargs):
        raise (cv2.error("boom") if where == "decoder" else IndexError("boom"))

    target = (images.cv2, "imdecode") if where == "decoder" else (images.Image, "open")
    monkeypatch.setattr(*target, boom)
    error = _refused(encode(synthetic_bgr(64, 48), ".png"))
    assert (error.status, error.code) == (400, "invalid_image")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[" + "9" * 400 + ", 2, 3, 4]]", "within 1e9"),
        ("[[" + "9" * 5000 + ", 2, 3, 4]]", "not usable JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[[1e400, 2, 3, 4]]", "finite"),
        ('[{"bbox": [1, 2, 3, 4], "score": ' + "1" * 400 + "}]", "score must be"),
        ("[[" + "[" * 900 + "]" * 900 + ", 2, 3, 4]]", "a list of"),
        ("[" + "[1, 2, 3, 4]," * 200_000 + "[1, 2, 3, 4]]", "over"),
    ],
    ids=["400_digits", "5000_digits", "deep_list", "inf", "huge_score", "nested_value", "long"],
)
def test_malformed_box_values_are_422(text, fragment):
    with pytest.raises(ServiceError) as exc:
        parse_boxes(text, 64)
    assert exc.value.status == 422 and fragment in exc.value.message, exc.value.message


def test_boxes_are_parsed_off_the_event_loop(client, png_bytes, monkeypatch):
    from simplepose.serving import predictor

    seen = []

    def spy(text, max_boxes):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return parse_boxes(text, max_boxes)

    monkeypatch.setattr(predictor, "parse_boxes", spy)
    deep = "[" * 100_000 + "]" * 100_000
    for boxes, status in (
        ("[[10, 5, 60, 100]]", 200),
        (deep, 422),
        ("[[" + "9" * 5000 + "]]", 422),
    ):
        response = client.post(
            "/keypoints", files={"image": ("f", png_bytes, "image/png")}, data={"boxes": boxes}
        )
        assert response.status_code == status, response.text
    assert seen == ["worker thread"] * 3
