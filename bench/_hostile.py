"""Hostile requests for the service benchmarks (``soak.py``, ``fuzz_api.py``) and the decode
time of the worst uploads the service accepts. The files are crafted by
``tests/serving/hostile_images.py``, the same ones the tests use."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

MB = 1 << 20
HELPERS = Path(__file__).resolve().parents[1] / "tests" / "serving" / "hostile_images.py"


def _helpers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hostile_images", HELPERS)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(HELPERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _post(data: bytes, ctype: str = "image/jpeg", form: dict | None = None) -> dict:
    return {"method": "POST", "url": "/keypoints", "files": {"image": ("f", data, ctype)},
            "data": form or {}}  # fmt: skip


def hostile_requests(png: bytes, jpeg_rgb: np.ndarray) -> list[tuple[str, dict]]:
    """(name, httpx request kwargs): each must get a 4xx JSON error, fast (names start with
    ``bad_``), except the honest look-alikes (``good_``)."""
    h = _helpers()
    digits = "[[" + "9" * 400 + ", 2, 3, 4]]"
    small = np.ascontiguousarray(jpeg_rgb[:64, :64])  # 3000 scans of it stay well under 4 MB
    return [
        ("bad_jpeg_3000_scans", _post(h.many_scan_jpeg(small, 3000))),
        ("bad_png_160k_chunks", _post(h.png_with_chunks(png, empty_chunks=160_000), "image/png")),
        ("bad_bmp_too_wide", _post(h.wide_bmp((1 << 20) + 1), "image/bmp")),
        ("bad_boxes_400_digits", _post(h.jpeg(jpeg_rgb), form={"boxes": digits})),
        ("bad_boxes_5000_digits", _post(h.jpeg(jpeg_rgb), form={"boxes": "[" + "9" * 5000 + "]"})),
        ("bad_boxes_deep", _post(h.jpeg(jpeg_rgb), form={"boxes": "[" * 100_000 + "]" * 100_000})),
        ("good_mpo", _post(h.mpo(jpeg_rgb))),
        ("good_png_4000_idat", _post(h.png_with_chunks(png, idat_pieces=4000), "image/png")),
    ]


def worst_accepted_uploads(max_bytes: int = 20 * MB, max_pixels: int = 40_000_000) -> dict:
    """Decode time (best of 3: wall and this thread's CPU, seconds) of large uploads the service accepts under its default
    limits, decoded by the service's own ``decode_image``; returns the worst and all."""
    from simplepose.serving.images import MAX_JPEG_SCANS, MAX_PNG_CHUNKS, decode_image

    h = _helpers()
    side = int(max_pixels**0.5) - 8  # just under the pixel limit
    yy, xx = np.mgrid[0:side, 0:side]
    smooth = np.stack([(xx * 255 // side), (yy * 255 // side), ((xx + yy) % 256)], -1)
    smooth = (smooth + h.noise_rgb(side, side)[..., :1] % 4).astype(np.uint8)
    noisy = h.noise_rgb(2560, 2560)  # ~20 MB as BMP; incompressible

    def largest(make) -> tuple[int, bytes]:  # the biggest square crop whose file fits
        for s in (side, side * 3 // 4, side // 2, side // 3, side // 4):
            data = make(np.ascontiguousarray(smooth[:s, :s]))
            if len(data) <= max_bytes:
                return s, data
        return 0, b""

    ps, progressive = largest(lambda im: h.many_scan_jpeg(im, MAX_JPEG_SCANS))
    pngs, png = largest(
        lambda im: h.png_with_chunks(
            cv2.imencode(".png", im)[1].tobytes(), idat_pieces=MAX_PNG_CHUNKS - 8
        )
    )
    candidates = {
        f"jpeg_{side}x{side}_q95": cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])[1],
        f"progressive_jpeg_{ps}x{ps}_{MAX_JPEG_SCANS}_scans": progressive,
        f"png_{pngs}x{pngs}_{MAX_PNG_CHUNKS - 8}_chunks": png,
        "bmp_2560x2560_noise": cv2.imencode(".bmp", noisy)[1],
        "jpeg_2560x2560_noise_q100": cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 100])[1],
    }  # fmt: skip
    out = {}
    for name, data in candidates.items():
        raw = bytes(data)
        if len(raw) > max_bytes:
            continue
        wall, cpu = [], []
        for _ in range(3):
            start, start_cpu = time.perf_counter(), time.thread_time()
            decode_image(raw, None, max_bytes, max_pixels)
            wall.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
        out[name] = {"bytes": len(raw), "seconds": round(min(wall), 3),
                     "cpu_seconds": round(min(cpu), 3)}  # fmt: skip
    worst = max(out, key=lambda k: out[k]["seconds"])
    return {"worst": worst, "worst_seconds": out[worst]["seconds"], "all": out}


def hostile_structure_uploads(max_bytes: int = 20 * MB, max_pixels: int = 40_000_000) -> dict:
    """Time (best of 3: wall and this thread's CPU, seconds) for the service's ``decode_image``
    to refuse uploads of ``max_bytes`` built to make header parsers walk them, one or more per
    accepted format, and the answer each got."""
    from simplepose.serving.http_errors import ServiceError
    from simplepose.serving.images import decode_image

    h = _helpers()
    rgb = h.noise_rgb(48, 64)
    png, webp = (cv2.imencode(ext, rgb)[1].tobytes() for ext in (".png", ".webp"))
    room = max_bytes - 64 * 1024
    candidates = {
        "png_empty_chunks_before_pixels": h.png_chunks_before_pixels(png, room),
        "png_empty_chunks_after_pixels": h.png_with_chunks(png, empty_chunks=room // 12),
        "jpeg_empty_segments_before_scan": h.jpeg_segments_before_scan(h.jpeg(rgb), room),
        "jpeg_fill_bytes_before_scan": h.jpeg_segments_before_scan(h.jpeg(rgb), room, True),
        "jpeg_400_scans": h.many_scan_jpeg(rgb, 400),
        "webp_empty_chunks": h.webp_with_chunks(webp, room),
        "bmp_side_over_opencv": h.wide_bmp((1 << 20) + 1)[:4096],  # header only
    }
    out = {}
    for name, data in candidates.items():
        wall, cpu, answer = [], [], "200"
        for _ in range(3):
            start, start_cpu = time.perf_counter(), time.thread_time()
            try:
                decode_image(data, None, max_bytes, max_pixels)
            except ServiceError as exc:
                answer = f"{exc.status} {exc.code}"
            wall.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
        out[name] = {"bytes": len(data), "answer": answer, "seconds": round(min(wall), 4),
                     "cpu_seconds": round(min(cpu), 4),
                     "pillow_header_cpu_seconds": _pillow_header_cpu(data)}  # fmt: skip
    worst = max(out, key=lambda k: out[k]["seconds"])
    return {"worst": worst, "worst_seconds": out[worst]["seconds"], "all": out}


def _pillow_header_cpu(data: bytes) -> float:
    """The reference: CPU seconds Pillow's header parser alone spends on ``data`` (what an
    upload cost when Pillow read it before any structure check), once."""
    import io

    from PIL import Image

    start = time.thread_time()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.size  # noqa: B018 (the header is parsed by open)
    except Exception:  # noqa: BLE001 (the reference only times it)
        pass
    return round(time.thread_time() - start, 4)


def hostile_structure_over_http(model: Path, workdir: Path, max_bytes: int = 20 * MB) -> dict:
    """The 20 MB PNG and JPEG structure bombs posted to ``/keypoints`` of a ``simplepose serve``
    process (upload, multipart parsing and the checks): answer and seconds, best and worst of 3."""
    import httpx
    from _service import ServiceProcess

    h = _helpers()
    rgb = h.noise_rgb(48, 64)
    room = max_bytes - 64 * 1024
    cases = {
        "png_empty_chunks_before_pixels": h.png_chunks_before_pixels(
            cv2.imencode(".png", rgb)[1].tobytes(), room
        ),
        "jpeg_empty_segments_before_scan": h.jpeg_segments_before_scan(h.jpeg(rgb), room),
    }
    out = {}
    env = {"SIMPLEPOSE_DETECTOR": "none", "SIMPLEPOSE_MAX_UPLOAD_BYTES": str(max_bytes)}
    service = ServiceProcess(model, workdir / "hostile_uploads.log", [], env)
    with service, httpx.Client(base_url=service.url, timeout=60) as client:
        for name, data in cases.items():
            seconds = []
            for _ in range(3):
                start = time.perf_counter()
                r = client.post("/keypoints", files={"image": ("x", data, "image/png")})
                seconds.append(time.perf_counter() - start)
            out[name] = {"bytes": len(data), "answer": f"{r.status_code} {r.json()['error']['code']}",
                         "seconds_best": round(min(seconds), 3),
                         "seconds_worst": round(max(seconds), 3)}  # fmt: skip
    return out
