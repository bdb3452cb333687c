"""The torch-free .pth reader: exact tensors in both formats, and no code execution."""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from simplepose.export.layouts import unwrap_state_dict
from simplepose.export.pth_reader import (
    CheckpointFormatError,
    InertRecord,
    UnsafeCheckpointError,
    load_pth,
    state_dict_arrays,
)


def sample_state_dict():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return OrderedDict(
        dense=torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0)),
        transposed=base.t(),  # non-contiguous strides
        sliced=base[1:3, 2:5],  # storage offset into a shared storage
        param=torch.nn.Parameter(torch.ones(3)),
        long=torch.tensor([1, -2, 3]),
        scalar=torch.tensor(7),
        half=torch.tensor([0.5, -1.25], dtype=torch.float16),
        bf16=torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
        flag=torch.tensor([True, False]),
        empty=torch.zeros(0, 3),
    )


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_mmengine_style_meta_with_numpy_values(tmp_path: Path, zip_format: bool):
    """mmpose publishes in the legacy format with a ``meta`` holding NumPy arrays/scalars."""
    meta = {
        "epoch": 210,
        "dataset_meta": {"sigmas": np.linspace(0.025, 0.107, 17), "flip_indices": [0, 2, 1]},
        "best_ap": np.float32(0.718),
        "iters": np.int64(7),
    }
    path = tmp_path / "mmpose.pth"
    torch.save(
        {"meta": meta, "state_dict": {"w": torch.ones(2)}},
        path,
        _use_new_zipfile_serialization=zip_format,
    )
    got = load_pth(path)["meta"]
    np.testing.assert_array_equal(got["dataset_meta"]["sigmas"], meta["dataset_meta"]["sigmas"])
    assert got["dataset_meta"]["flip_indices"] == [0, 2, 1]
    assert got["best_ap"] == np.float32(0.718) and got["iters"] == 7


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_tensors_round_trip_exactly(tmp_path: Path, zip_format: bool):
    sd = sample_state_dict()
    path = tmp_path / "w.pth"
    torch.save(
        {"state_dict": sd, "meta": {"epoch": 3, "note": "x", "raw": b"\x00\xff", "t": (1, None)}},
        path,
        _use_new_zipfile_serialization=zip_format,
    )
    obj = load_pth(path)
    assert obj["meta"] == {"epoch": 3, "note": "x", "raw": b"\x00\xff", "t": (1, None)}
    assert list(obj["state_dict"]) == list(sd)
    for name, tensor in sd.items():
        expected = tensor.detach().float().numpy() if name == "bf16" else tensor.detach().numpy()
        got = obj["state_dict"][name]
        assert got.shape == expected.shape and got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert sorted(state_dict_arrays(obj)) == sorted(f"state_dict.{k}" for k in sd)


class Evil:
    """Unpickling this with a normal loader would run ``os.system``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_malicious_reduce_never_runs_and_never_becomes_weights(tmp_path: Path, zip_format: bool):
    marker = tmp_path / "pwned"
    outside, inside = tmp_path / "outside.pth", tmp_path / "inside.pth"
    torch.save(
        {"state_dict": {"w": torch.ones(2)}, "x": Evil(marker)},
        outside,
        _use_new_zipfile_serialization=zip_format,
    )
    torch.save(
        {"state_dict": {"w": torch.ones(2), "x": Evil(marker)}},
        inside,
        _use_new_zipfile_serialization=zip_format,
    )
    obj = load_pth(outside)  # metadata: an inert record of the name, nothing called
    assert isinstance(obj["x"], InertRecord) and obj["x"].global_name in (
        "posix.system",
        "os.system",
    )
    assert list(unwrap_state_dict(obj)) == ["w"]
    with pytest.raises(
        UnsafeCheckpointError, match=r"refusing to load global '(posix|os)\.system'"
    ):
        unwrap_state_dict(load_pth(inside))
    assert not marker.exists()


def test_disallowed_global_in_a_hand_written_zip_is_refused(tmp_path: Path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Evil(marker), protocol=2)
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
    with pytest.raises(UnsafeCheckpointError, match="could run code"):
        load_pth(path)
    assert not marker.exists()


def test_tensor_reading_past_its_storage_is_rejected(tmp_path: Path):
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(4.0)}, buffer)
    archive_in = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    path = tmp_path / "bad.pth"
    with zipfile.ZipFile(path, "w") as out:
        for info in archive_in.infolist():
            data = archive_in.read(info)
            if info.filename.endswith("data.pkl"):
                # size (4,) -> (9,): the tensor now claims more elements than its storage has
                data = data.replace(b"K\x04\x85", b"K\x09\x85", 1)
            out.writestr(info, data)
    with pytest.raises(CheckpointFormatError, match="past its storage"):
        load_pth(path)


def test_not_a_checkpoint(tmp_path: Path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a pickle at all")
    with pytest.raises(CheckpointFormatError, match="junk.pth"):
        load_pth(junk)
    with pytest.raises(FileNotFoundError):
        load_pth(tmp_path / "missing.pth")


def test_object_arrays_are_refused(tmp_path: Path):
    """An object array would unpickle arbitrary elements through NumPy: not a weight."""
    path = tmp_path / "obj.pth"
    torch.save({"meta": np.array([{"a": 1}], dtype=object), "w": torch.ones(1)}, path)
    with pytest.raises(UnsafeCheckpointError, match="NumPy dtype"):
        load_pth(path)
