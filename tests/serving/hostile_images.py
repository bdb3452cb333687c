"""Uploads crafted to make decoders slow or throw (built from bytes here), and the honest
files they must not be confused with. Used by tests/serving and bench/soak.py."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_parts(png: bytes) -> list[tuple[bytes, bytes]]:
    pos, parts = len(PNG_SIGNATURE), []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        parts.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return parts


def png_with_chunks(png: bytes, empty_chunks: int = 0, idat_pieces: int = 1) -> bytes:
    """``png`` with its pixel data split over ``idat_pieces`` IDAT chunks (as streaming encoders
    write it) and ``empty_chunks`` empty private chunks before IEND."""
    out = [PNG_SIGNATURE]
    parts = _png_parts(png)
    idat = b"".join(body for kind, body in parts if kind == b"IDAT")
    step = max(1, -(-len(idat) // idat_pieces))
    for kind, body in parts:
        if kind == b"IDAT":
            continue
        if kind == b"IEND":
            out += [png_chunk(b"IDAT", idat[i : i + step]) for i in range(0, len(idat), step)]
            out.append(png_chunk(b"zzZz", b"") * empty_chunks)
        out.append(png_chunk(kind, body))
    return b"".join(out)


def jpeg(rgb: np.ndarray, progressive: bool = False, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", progressive=progressive, quality=quality)
    return buf.getvalue()


def many_scan_jpeg(rgb: np.ndarray, scans: int) -> bytes:
    """A progressive JPEG whose last scan is repeated until it has ``scans`` scans."""
    data = jpeg(rgb, progressive=True)
    last = data.rfind(b"\xff\xda")
    end = data.rfind(b"\xff\xd9")
    extra = scans - data.count(b"\xff\xda")
    return data[:end] + data[last:end] * max(0, extra) + data[end:]


def mpo(rgb: np.ndarray) -> bytes:
    """A multi-picture JPEG (as phones write: the photo plus a second picture)."""
    buf = io.BytesIO()
    first, second = Image.fromarray(rgb), Image.fromarray(rgb[::2, ::2].copy())
    first.save(buf, "MPO", save_all=True, append_images=[second])
    return buf.getvalue()


def wide_bmp(width: int, height: int = 1) -> bytes:
    """A 24-bit BMP of ``width`` x ``height`` (black); OpenCV refuses sides over 2^20."""
    row = (width * 3 + 3) // 4 * 4
    pixels = bytes(row * height)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def noise_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_chunks_before_pixels(png: bytes, size: int) -> bytes:
    """``png`` with ``size`` bytes of empty private chunks before its pixel data: a header
    parser that walks every chunk up to IDAT (Pillow does, in Python) walks them all."""
    parts = _png_parts(png)
    first_idat = next(i for i, (kind, _) in enumerate(parts) if kind == b"IDAT")
    chunks = [png_chunk(kind, body) for kind, body in parts]
    filler = png_chunk(b"zzZz", b"") * (size // 12)
    return PNG_SIGNATURE + b"".join(chunks[:first_idat]) + filler + b"".join(chunks[first_idat:])


def jpeg_segments_before_scan(jpeg_bytes: bytes, size: int, fill: bool = False) -> bytes:
    """``jpeg_bytes`` with ``size`` bytes of empty comment segments (or of 0xFF fill bytes)
    right after the start-of-image marker, all of which a parser reads before the first scan."""
    filler = b"\xff" * size if fill else b"\xff\xfe\x00\x02" * (size // 4)
    return jpeg_bytes[:2] + filler + jpeg_bytes[2:]


def webp_with_chunks(webp: bytes, size: int) -> bytes:
    """``webp`` with ``size`` bytes of empty unknown RIFF chunks after its image chunk."""
    body = webp[12:] + b"ZZZZ\x00\x00\x00\x00" * (size // 8)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
