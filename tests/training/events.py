"""Read TensorBoard event files back (TFRecord framing + tensorboardX's ``Event`` protobuf), so
the tests check what TensorBoard would show without installing TensorBoard."""

from __future__ import annotations

import struct
from pathlib import Path

from tensorboardX.crc32c import crc32c
from tensorboardX.proto.event_pb2 import Event

MASK_DELTA = 0xA282EAD8


def _masked(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def records(path: Path) -> list[bytes]:
    """The records of one TFRecord file; a bad checksum fails the test."""
    out, blob, at = [], path.read_bytes(), 0
    while at < len(blob):
        header = blob[at : at + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", blob[at + 8 : at + 12])[0] == _masked(header), path
        data = blob[at + 12 : at + 12 + length]
        assert struct.unpack("<I", blob[at + 12 + length : at + 16 + length])[0] == _masked(data)
        out.append(data)
        at += 16 + length
    return out


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value), ...] of every scalar in the event files of ``run_dir``."""
    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for record in records(path):
            event = Event.FromString(record)
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found
