"""The .pth reader against files written to attack it (bytes crafted here, no torch needed).

Crash-type cases (memory bombs, deep nesting, memory-safety tricks) run in a child process
under an address-space cap: it must exit normally, refuse with ``CheckpointFormatError``
naming the file, and stay small.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from crafted_pth import (
    FALSE,
    NONE,
    call,
    dict_,
    floats,
    glob,
    honest,
    i,
    legacy_pth,
    load_in_child,
    pickle_of,
    state_dict,
    tensor,
    tup,
    uni,
    zip_pth,
)

from simplepose.export import pth_reader
from simplepose.export.layouts import unwrap_state_dict
from simplepose.export.pth_reader import (
    CheckpointFormatError,
    InertRecord,
    UnsafeCheckpointError,
    load_pth,
)

W = tensor("0", 6, (2, 3))
W_DATA = {"0": floats(0, 1, 2, 3, 4, 5)}


def with_meta(meta: bytes, weights: bytes = W) -> bytes:
    """A zip checkpoint ``{"meta": <meta>, "state_dict": {"w": <weights>}}``."""
    body = dict_([(uni("meta"), meta), (uni("state_dict"), state_dict({"w": weights}))])
    return zip_pth(pickle_of(body), W_DATA)


def reconstruct(dtype: bytes, shape: bytes, raw: bytes) -> bytes:
    """NumPy's array pickle: ``_reconstruct(ndarray, (0,), b"b")`` then BUILD with the state."""
    new = call(glob("numpy.core.multiarray", "_reconstruct"), glob("numpy", "ndarray"),
               tup(i(0)), b"C\x01b")  # fmt: skip
    return new + tup(i(1), shape, dtype, FALSE, raw) + b"b"


def np_dtype(name: str) -> bytes:
    return call(glob("numpy", "dtype"), uni(name), FALSE, b"\x88")


def short_bytes(raw: bytes) -> bytes:
    return b"C" + bytes([len(raw)]) + raw


def zip_bomb_member() -> bytes:
    """A storage member that inflates to 96 MB from ~100 kB, declared with its true size."""
    out = io.BytesIO()
    numel = 24 << 20
    sd = pickle_of(state_dict({"w": tensor("0", numel, (numel,))}))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", sd)
        with archive.open("archive/data/0", "w") as member:
            for _ in range(96):
                member.write(bytes(1 << 20))
    return out.getvalue()


def deep(n: int) -> bytes:
    return i(0) + b"\x85" * n  # TUPLE1, n times: ((((0,),),),)


CRASH_CASES = {
    # memory safety: no buffer/offset/strides/dtype reaches NumPy
    "ndarray_with_object_buffer": (
        with_meta(call(glob("numpy", "ndarray"), tup(i(2)), uni("O"), short_bytes(bytes(16)))),
        "refusing to call numpy.ndarray",
    ),
    "negative_offset": (with_meta(b"N", tensor("0", 6, (2,), offset=-4)), "bad tensor geometry"),
    "object_dtype_reconstruct": (
        with_meta(reconstruct(np_dtype("O8"), tup(i(1)), b"]")),
        "refusing NumPy dtype",
    ),
    "void_dtype_reconstruct": (
        with_meta(reconstruct(np_dtype("V8"), tup(i(1)), short_bytes(bytes(8)))),
        "refusing NumPy dtype",
    ),
    "string_as_dtype": (with_meta(reconstruct(uni("O"), tup(i(1)), b"]")), "without a plain dtype"),
    # memory and CPU bombs
    "zero_stride_tensor": (with_meta(b"N", tensor("0", 6, (1 << 14, 1 << 14), (0, 0))), "exceed"),
    "one_storage_many_tensors": (
        zip_pth(
            pickle_of(state_dict({f"t{k}": tensor("0", 1 << 18, (1 << 18,)) for k in range(600)})),
            {"0": bytes(1 << 20)},
        ),
        "exceed",
    ),
    "legacy_huge_placeholder": (
        legacy_pth(
            pickle_of(state_dict({"w": tensor("1", 1 << 38, (4,), legacy=True)})),
            {"1": (1 << 38, b"")},
        ),
        "truncated or mis-sized",
    ),
    "huge_memo_index": (pickle_of(NONE + b"r\xf0\xff\xff\x0f"), "memo index"),
    "zip_member_bomb": (zip_bomb_member(), "unzipped members would exceed"),
    "deep_tuple_dict_key": (pickle_of(dict_([(deep(100_000), i(1))])), "nesting deeper"),
    "deep_list": (pickle_of(b"(" * 100_000 + NONE + b"l" * 100_000), "nesting deeper"),
    "huge_integer": (with_meta(i(1 << 4000)), "integer of"),
    "size_beyond_2_40": (with_meta(b"N", tensor("0", 6, (1 << 70,))), "outside"),
    "bytes8_length_past_the_end": (pickle_of(b"\x8e" + b"\xff" * 8), "malformed pickle"),
}


@pytest.mark.parametrize("case", sorted(CRASH_CASES))
def test_crafted_file_is_refused_in_a_child_that_exits_normally(tmp_path: Path, case: str):
    data, reason = CRASH_CASES[case]
    path = tmp_path / f"{case}.pth"
    path.write_bytes(data)
    report = load_in_child(str(path))
    assert report["returncode"] == 0, report["stderr"]
    assert report["outcome"] == "refused", report
    assert str(path) in report["message"] and reason in report["message"], report["message"]
    assert report["max_rss_mb"] < 4 * len(data) / 2**20 + 200, report
    assert report["seconds"] < 10


def test_build_on_stand_ins_cannot_change_later_loads(tmp_path: Path):
    attacks = {
        "storage_type": glob("torch", "FloatStorage") + dict_([(uni("dtype"), uni("f8"))]) + b"b",
        "function": glob("torch._utils", "_rebuild_tensor_v2")
        + tup(NONE, dict_([(uni("__defaults__"), tup(i(1)))]))
        + b"b",
        "dtype": np_dtype("f4") + tup(i(3), uni("<"), NONE, NONE, NONE, i(8), i(1), i(0)) + b"b",
    }
    good = tmp_path / "good.pth"
    good.write_bytes(honest())
    for name, attack in attacks.items():
        bad = tmp_path / f"{name}.pth"
        bad.write_bytes(with_meta(attack))
        with pytest.raises(CheckpointFormatError, match=str(bad)):
            load_pth(bad)
        got = load_pth(good)
        np.testing.assert_array_equal(got["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
        assert got["w"].dtype == np.float32


def test_metadata_objects_become_inert_records(tmp_path: Path):
    marker = tmp_path / "pwned"
    hub = glob("mmengine.logging.message_hub", "MessageHub")
    meta = dict_([
        (uni("hub"), hub + b")\x81" + dict_([(uni("_log_scalars"), dict_([]))]) + b"b"),  # NEWOBJ
        (uni("cmd"), call(glob("posix", "system"), uni(f"touch {marker}"))),
        (uni("sigmas"), reconstruct(np_dtype("f4"), tup(i(2)), short_bytes(floats(0.5, 0.25)))),
        (uni("ap"), call(glob("numpy.core.multiarray", "scalar"), np_dtype("f8"),
                         short_bytes(np.float64(0.718).tobytes()))),
    ])  # fmt: skip
    path = tmp_path / "mmpose1.pth"
    path.write_bytes(with_meta(meta))
    obj = load_pth(path)
    assert not marker.exists()
    hub_record, cmd = obj["meta"]["hub"], obj["meta"]["cmd"]
    assert isinstance(hub_record, InertRecord) and isinstance(cmd, InertRecord)
    assert hub_record.global_name == "mmengine.logging.message_hub.MessageHub"
    assert cmd.global_name == "posix.system" and cmd.args == (f"touch {marker}",)
    np.testing.assert_array_equal(obj["meta"]["sigmas"], np.array([0.5, 0.25], np.float32))
    assert obj["meta"]["ap"] == 0.718 and obj["meta"]["ap"].dtype == np.float64
    assert list(unwrap_state_dict(obj)) == ["w"]  # conversion ignores the metadata
    with pytest.raises(CheckpointFormatError, match="refusing to set"):
        cmd.args = ()


def test_objects_where_weights_belong_are_refused(tmp_path: Path):
    evil = call(glob("posix", "system"), uni("true"))
    body = dict_([(uni("state_dict"), state_dict({"w": W, "x": evil}))])
    path = tmp_path / "in_sd.pth"
    path.write_bytes(zip_pth(pickle_of(body), W_DATA))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global 'posix.system'"):
        unwrap_state_dict(load_pth(path))
    top = tmp_path / "top.pth"
    for obj in (evil, glob("builtins", "print")):  # an object, or a bare global at the top
        top.write_bytes(zip_pth(pickle_of(obj), {}))
        with pytest.raises(UnsafeCheckpointError, match=f"{top}: refusing to load global"):
            load_pth(top)
    bare = dict_([(uni("state_dict"), state_dict({"w": W, "x": glob("posix", "system")}))])
    path.write_bytes(zip_pth(pickle_of(bare), W_DATA))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global 'posix.system'"):
        unwrap_state_dict(load_pth(path))


@pytest.mark.parametrize("error", [MemoryError, OverflowError, RecursionError, KeyError])
def test_any_exception_inside_becomes_a_format_error(tmp_path, monkeypatch, error):
    def boom(*_):
        raise error("inside")

    path = tmp_path / "x.pth"
    path.write_bytes(honest())
    monkeypatch.setattr(pth_reader, "_read_zip", boom)
    with pytest.raises(CheckpointFormatError, match=f"{path}: .*{error.__name__}"):
        load_pth(path)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (zip_pth(pickle_of(state_dict({"w": W})), {"0": floats(0, 1, 2)}), "holds 12 bytes, 24"),
        (zip_pth(pickle_of(state_dict({"w": W})), {}), "storage 0 is missing"),
        (
            legacy_pth(
                pickle_of(state_dict({"w": tensor("0", 2, (2,), legacy=True)})),
                {"0": (2, floats(1, 2)), "9": (1, floats(3))},
            ),
            "bad storage key list",
        ),
        (
            legacy_pth(
                pickle_of(state_dict({"w": tensor("0", 2, (2,), legacy=True)})),
                {"0": (3, floats(1, 2))},
            ),
            "mis-sized",
        ),
        (pickle_of(b"\x82\x01"), "unsupported pickle opcode EXT1"),
        (b"PK\x03\x04 not really a zip", "not a PyTorch checkpoint|malformed"),
    ],
    ids=["short_member", "missing_member", "extra_legacy_key", "legacy_count", "ext", "junk"],
)
def test_inconsistent_files_name_the_file_and_reason(tmp_path, data, reason):
    path = tmp_path / "bad.pth"
    path.write_bytes(data)
    with pytest.raises(CheckpointFormatError, match=f"{path}: .*({reason})"):
        load_pth(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_honest_crafted_files_load_exactly(tmp_path: Path, legacy: bool):
    path = tmp_path / "ok.pth"
    path.write_bytes(honest(legacy))
    got = load_pth(path)
    np.testing.assert_array_equal(got["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(got["b"], np.array([7, 8], np.float32))
