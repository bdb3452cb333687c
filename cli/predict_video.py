"""``simplepose predict SOURCE --track``: a video file or image folder -> tracks JSON (+ video).

``PoseEstimator.track``: the same ``TrackingPipeline`` as ``POST /keypoints/video``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from simplepose.commandline.errors import CLIError
from simplepose.config.presets import TrackConfig
from simplepose.video.frames import Frame, FrameSource, VideoWriter, open_frames

# Rendered video container (by --render suffix) -> encoder.
RENDER_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9"}


def render_path(value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in RENDER_CODECS:
        raise CLIError(
            f"--render with --track writes a video: give a file ending in "
            f"{', '.join(RENDER_CODECS)}, got {value}"
        )
    return value


def open_source(args: argparse.Namespace) -> FrameSource:
    """The one video file or image folder of ``args.images``, checked before the model loads
    (a corrupt video is one error line, not a wait for the model)."""
    if len(args.images) != 1:
        raise CLIError(f"--track takes one video file or image folder, got {len(args.images)}")
    render_path(args.render)
    return open_frames(args.images[0], fps=args.fps or TrackConfig().fps)


def predict_video(
    args: argparse.Namespace, source: FrameSource, estimator: Any, summary: dict[str, Any]
) -> str:
    """Track ``source`` (from ``open_source``) with ``estimator`` (a ``PoseEstimator``); write
    ``args.output`` (+ ``args.render``). Returns a one-line summary."""
    render = render_path(args.render)
    base = estimator.info.config.track
    config = dataclasses.replace(
        base,
        detect_every=args.detect_every or base.detect_every,
        smoothing=args.smooth or base.smoothing,
        fps=source.info.fps,
    )
    writer = None
    if render is not None:
        render.parent.mkdir(parents=True, exist_ok=True)
        writer = VideoWriter(render, source.info.fps, RENDER_CODECS[render.suffix.lower()])
    frames = []
    pending: deque[Frame] = deque()  # frames read ahead by the tracker, not yet written

    def read() -> Iterator[Frame]:
        for frame in tqdm(source, total=source.info.frames, desc="track", unit="frame"):
            pending.append(frame)
            yield frame

    tracked = estimator.track(read(), detect_every=config.detect_every,
                              smooth=config.smoothing, fps=config.fps)  # fmt: skip
    try:
        for poses in tracked:
            frame = pending.popleft()
            name = {"file": frame.name} if frame.name else {}
            frames.append({"frame": frame.index, "time": round(frame.time, 6),
                           "persons": poses.to_json(), **name})  # fmt: skip
            if writer is not None:
                writer.write(poses.plot(frame.image))
    finally:
        if writer is not None:
            writer.close()
    info = source.info
    ids = sorted({p["track_id"] for f in frames for p in f["persons"]})
    result = {
        "model": summary,
        "detector": estimator.detector.info.label,
        "keypoint_names": list(estimator.keypoint_names),
        "skeleton": [list(limb) for limb in estimator.info.keypoints.skeleton],
        "video": {
            "source": str(args.images[0]), "width": info.width, "height": info.height,
            "fps": info.fps, "frames": len(frames), "codec": info.codec,
        },
        "track": dataclasses.asdict(config),
        "tracks": len(ids),
        "frames": frames,
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result) + "\n")
    rendered = f", video -> {render}" if render else ""
    return f"{len(frames)} frames, {len(ids)} tracks -> {args.output}{rendered}"
