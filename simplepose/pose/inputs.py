"""What the Python API and the offline commands accept as images and boxes, checked once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simplepose.pose.pipeline import read_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
ImageInput = np.ndarray | str | Path
BoxesInput = np.ndarray | Sequence[Sequence[float]] | None


def as_image(image: ImageInput) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 BGR array from an array (BGR, as OpenCV reads it; grayscale is
    expanded) or an image file path (EXIF orientation applied)."""
    if isinstance(image, str | Path):
        return read_image(str(image))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a NumPy array or a file path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0..255), got dtype {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) BGR or (H, W) gray, got shape {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image


def as_boxes(boxes: BoxesInput) -> np.ndarray | None:
    """``None`` or an ``(N, 4)`` float64 array of ``(x, y, w, h)`` boxes (N may be 0)."""
    if boxes is None:
        return None
    try:
        array = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"boxes must be numbers [[x, y, w, h], ...]: {exc}") from exc
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim == 1 and array.shape[0] == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as [[x, y, w, h], ...], got {array.shape}")
    return array


def image_files(items: Sequence[str | Path]) -> list[Path]:
    """The files ``items`` name, and the images (by suffix, sorted) of the folders they name."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {item}")
    if not paths:
        shown = " ".join(map(str, items))
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {shown}")
    return paths
