"""Hostile video uploads and stream messages for ``bench/fuzz_video.py``: honest clips in every
accepted container, mutated byte by byte and box by box, and the descriptors of
``tests/core/hostile_videos.py`` (SDP, playlists, ffconcat, protocol strings...)."""

from __future__ import annotations

import importlib.util
import io
import random
import sys
from pathlib import Path

import cv2
import numpy as np

TESTS = Path(__file__).resolve().parents[1] / "tests"
SEEDS = (  # (codec, container) of the honest clips mutated
    ("mpeg4", "mp4"), ("h264", "mp4"), ("mpeg4", "mov"), ("mpeg4", "matroska"), ("vp8", "webm"),
    ("mpeg4", "avi"), ("mpeg4", "mpegts"), ("mpeg2video", "mpeg"), ("mjpeg", "avi"),
)  # fmt: skip
TEXTS = (
    '{"type": "reset"}', "{not json", "[" * 100_000, '{"type": ' + "9" * 5000 + "}",
    "\u0000" * 2000, '{"type": "reset", "x": ' + "[" * 300 + "]" * 300 + "}", "",
)  # fmt: skip


def _module(path: Path):
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def descriptors(canary: str) -> dict[str, bytes]:
    return _module(TESTS / "core" / "hostile_videos.py").descriptors(canary)


def clip(codec: str, fmt: str, frames: int, rng: random.Random) -> bytes:
    from simplepose.video.frames import VideoWriter

    buf = io.BytesIO()
    base = np.full((48, 64, 3), rng.randrange(256), np.uint8)
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    with VideoWriter(buf, 10, codec, fmt, pix_fmt) as writer:
        for i in range(frames):
            img = base.copy()
            cv2.circle(img, (8 + 5 * i, 24), 6, (0, 200, 255), -1)
            writer.write(img)
    return buf.getvalue()


def mutate(data: bytes, rng: random.Random, extra: list[bytes]) -> tuple[str, bytes]:
    """One mutation of ``data``: its name and the result."""
    if not data:
        return "empty", data
    b = bytearray(data)
    kind = rng.choice(("flip", "edge", "truncate", "splice", "duplicate", "delete", "box_size",
                       "magic_swap", "insert_descriptor", "repeat_tail"))  # fmt: skip
    at = rng.randrange(len(b)) if b else 0
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "edge":
        b[at : at + 4] = rng.choice((b"\x00" * 4, b"\xff" * 4, b"\x7f\xff\xff\xff", b"\x80\0\0\0"))
    elif kind == "truncate":
        b = b[: rng.randrange(max(1, len(b)))]
    elif kind == "splice":
        other = rng.choice(extra)
        b[at:at] = other[rng.randrange(len(other)) :][: rng.randint(1, 4096)]
    elif kind == "duplicate":
        n = rng.randint(1, 2048)
        b[at:at] = b[at : at + n] * rng.randint(1, 20)
    elif kind == "delete":
        del b[at : at + rng.randint(1, 4096)]
    elif kind == "box_size":  # a size field (MP4 box, EBML, RIFF chunk) made huge or tiny
        pos = rng.randrange(0, max(1, len(b) - 4))
        b[pos : pos + 4] = rng.choice((0, 1, 7, 0xFFFFFFFF, 0x7FFFFFFF, len(b) * 3)).to_bytes(
            4, "big"
        )
    elif kind == "magic_swap":  # one container's body behind another's magic
        b[:12] = rng.choice(extra)[:12]
    elif kind == "insert_descriptor":
        b[at:at] = rng.choice(extra[-8:])
    else:
        b += b[-rng.randint(1, 188 * 20) :] * rng.randint(1, 50)
    return kind, bytes(b)


def image_frames(rng: random.Random) -> list[bytes]:
    """Honest stream frames (JPEG, PNG) to mutate."""
    img = np.full((48, 64, 3), 90, np.uint8)
    cv2.rectangle(img, (20, 5), (40, 44), (200, 180, 160), -1)
    return [cv2.imencode(ext, img)[1].tobytes() for ext in (".jpg", ".png", ".webp", ".bmp")]


def build(cases: int, seed: int, canary: str, max_frames: int) -> list[tuple[str, str, bytes]]:
    """(transport, name, payload): ``http`` video uploads, ``ws`` binary frames, ``wstext``."""
    rng = random.Random(seed)
    honest = {f"{c}/{f}": clip(c, f, rng.randint(2, 6), rng) for c, f in SEEDS}
    hostile = descriptors(canary)
    long_ts = clip("mpeg4", "mpegts", max_frames + 10, rng)  # declares no count: over the limit
    extra = list(honest.values()) + list(hostile.values())
    frames = image_frames(rng)
    out: list[tuple[str, str, bytes]] = [("http", f"honest:{k}", v) for k, v in honest.items()]
    out += [("http", f"descriptor:{k}", v) for k, v in hostile.items()]
    out += [("ws", f"descriptor:{k}", v) for k, v in hostile.items()]
    out += [("http", "too_many_frames:mpegts", long_ts)]
    out += [("wstext", f"text:{i}", t.encode()) for i, t in enumerate(TEXTS)]
    rng.shuffle(out)  # a short run (the smoke test) still sees every transport
    while len(out) < cases:
        roll = rng.random()
        if roll < 0.7:
            name, data = rng.choice(list(honest.items()))
            kind, payload = mutate(data, rng, extra)
            out.append(("http", f"{kind}:{name}", payload))
        elif roll < 0.92:
            kind, payload = mutate(rng.choice(frames), rng, extra)
            out.append(("ws", f"{kind}:frame", payload))
        else:
            out.append(("wstext", "text:mutated", mutate(rng.choice(TEXTS).encode(), rng,
                                                         extra)[1]))  # fmt: skip
    return out[:cases]
