"""Bucket planning, the choice of backend, and the bucket padding of a model: pure, no runtime."""

from __future__ import annotations

import numpy as np
import pytest

from simplepose.config.loading import load_config
from simplepose.config.model_info import Bucket, ModelInfo
from simplepose.runtime.backends import choose_backend
from simplepose.runtime.buckets import bucket_for, parse_batch_sizes, plan_calls
from simplepose.runtime.locked_model import LockedModel
from simplepose.runtime.threads import thread_settings

SIZES = (1, 2, 4, 8, 16)


def test_bucket_plan():
    assert bucket_for(5, SIZES) == 8 and bucket_for(16, SIZES) == 16 and bucket_for(1, SIZES) == 1
    assert plan_calls(5, SIZES) == [(5, 8)]
    assert plan_calls(20, SIZES) == [(16, 16), (4, 4)]
    assert plan_calls(37, SIZES) == [(16, 16), (16, 16), (5, 8)]
    assert plan_calls(3, (4,)) == [(3, 4)]
    with pytest.raises(ValueError, match="exceed the largest bucket 16"):
        bucket_for(17, SIZES)
    with pytest.raises(ValueError, match="at least one crop"):
        bucket_for(0, SIZES)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "at least one"), ("1,x", "comma-separated integers"), ("0,4", "within 1..256"),
     ("1,100000", "within 1..256"), ("-1", "within")],
)  # fmt: skip
def test_bad_batch_sizes(text, message):
    with pytest.raises(ValueError, match=message):
        parse_batch_sizes(text)


def test_batch_sizes_are_sorted_and_unique():
    assert parse_batch_sizes("8, 1,4,4") == (1, 4, 8)


def test_thread_settings(monkeypatch):
    monkeypatch.setenv("SIMPLEPOSE_THREADS", "3")
    assert thread_settings().intra_op == 3 and thread_settings(5).intra_op == 5
    monkeypatch.setenv("SIMPLEPOSE_THREADS", "many")
    with pytest.raises(ValueError, match="SIMPLEPOSE_THREADS must be an integer"):
        thread_settings()
    with pytest.raises(ValueError, match=">= 1"):
        thread_settings(0)


def test_spin_wait_is_off_unless_asked(monkeypatch):
    monkeypatch.delenv("SIMPLEPOSE_SPIN_WAIT", raising=False)
    assert thread_settings().spin_wait is False
    monkeypatch.setenv("SIMPLEPOSE_SPIN_WAIT", "1")
    assert (
        thread_settings().spin_wait is True and thread_settings(spin_wait=False).spin_wait is False
    )
    monkeypatch.setenv("SIMPLEPOSE_SPIN_WAIT", "yes please")
    with pytest.raises(ValueError, match="SIMPLEPOSE_SPIN_WAIT must be 0 or 1"):
        thread_settings()


def test_onnx_runtime_sessions_get_the_spin_setting():
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from simplepose.runtime.onnx_model import session_options

    for spin in (False, True):
        options = session_options(thread_settings(2, spin_wait=spin))
        for pool in ("intra_op", "inter_op"):
            key = f"session.{pool}.allow_spinning"
            assert options.get_session_config_entry(key) == ("1" if spin else "0")


def _info(fmt="mindir", batch_size=None, buckets=()) -> ModelInfo:
    config = load_config("res18_128x96")
    return ModelInfo(config=config, format=fmt, batch_size=batch_size, buckets=tuple(buckets))


def _buckets(fmt, precision="fp32", sizes=SIZES):
    return [Bucket(Bucket.file_name(fmt, n, precision), fmt, n, precision) for n in sizes]


def test_choose_backend():
    full = _info(buckets=_buckets("mindir") + _buckets("onnx") + _buckets("onnx", "int8"))
    assert choose_backend(full, "CPU").name == "onnxruntime"
    assert choose_backend(full, "CPU", onnxruntime_installed=False).name == "mindspore-dynamic"
    assert choose_backend(full, "Ascend").name == "mindspore-buckets"
    assert choose_backend(full, "CPU", "onnxruntime-int8").precision == "int8"
    plain = _info()
    assert choose_backend(plain, "Ascend").name == "mindspore-dynamic"
    with pytest.raises(ValueError, match="export with --batch-sizes.*mindspore-dynamic"):
        choose_backend(plain, "CPU", "mindspore-buckets")
    with pytest.raises(ValueError, match="backend must be one of"):
        choose_backend(plain, "CPU", "tensorrt")
    fixed_onnx = _info("onnx", batch_size=1)
    assert choose_backend(fixed_onnx, "CPU").name == "onnxruntime"
    with pytest.raises(ValueError, match="needs onnxruntime"):
        choose_backend(fixed_onnx, "CPU", onnxruntime_installed=False)


def test_amx_path_is_chosen_only_where_it_can_run():
    full = _info(buckets=_buckets("mindir") + _buckets("onnx") + _buckets("onnx", "int8"))
    amx = choose_backend(full, "CPU", openvino_problem=None)
    # OpenVINO computes the FP32 ONNX buckets in bf16: the card says bf16, the files are fp32.
    assert (amx.name, amx.runtime, amx.precision, amx.graph_precision) == (
        "openvino-bf16", "openvino", "bf16", "fp32"
    )  # fmt: skip
    assert choose_backend(full, "CPU", "openvino-int8", openvino_problem=None).precision == "int8"
    assert choose_backend(full, "Ascend", openvino_problem=None).name == "mindspore-buckets"
    capped = "ONEDNN_MAX_CPU_ISA=AVX2 caps oneDNN below AMX"
    assert choose_backend(full, "CPU", openvino_problem=capped).name == "onnxruntime"
    with pytest.raises(ValueError, match="'openvino-bf16' cannot run here: ONEDNN_MAX_CPU_ISA"):
        choose_backend(full, "CPU", "openvino-bf16", openvino_problem=capped)
    only_int8 = _info("onnx", buckets=_buckets("onnx", "int8"))
    with pytest.raises(ValueError, match="export with --format onnx --batch-sizes"):
        choose_backend(only_int8, "CPU", "openvino-bf16", openvino_problem=None)


@pytest.mark.parametrize(
    ("env", "capped"),
    [({}, False), ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, True), ({"ONEDNN_MAX_CPU_ISA": "all"}, False),
     ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, False),
     ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, True)],
)  # fmt: skip
def test_isa_cap(env, capped):
    from simplepose.runtime.cpu_features import has_amx, isa_cap

    assert (isa_cap(env) is not None) == capped
    assert has_amx(frozenset({"avx512f", "amx_bf16", "amx_tile"}))
    assert not has_amx(frozenset({"avx512f", "avx512_vnni"}))


def test_model_json_round_trip_and_hostile_buckets(tmp_path):
    info = _info(buckets=_buckets("onnx", "int8", (1, 8)))
    info.save(tmp_path)
    assert ModelInfo.load(tmp_path).bucket_files("onnx", "int8") == {
        1: "model_int8_b1.onnx", 8: "model_int8_b8.onnx"
    }  # fmt: skip
    with pytest.raises(ValueError, match="bad bucket"):
        Bucket("../../etc/passwd", "onnx", 1)  # a file outside the model directory
    with pytest.raises(ValueError, match="precision"):
        Bucket("m.onnx", "onnx", 1, "int4")


class Recording(LockedModel):
    """Returns each crop's first value; records the batch size of every call."""

    def __init__(self, sizes):
        super().__init__(_info(), sizes)
        self.calls: list[int] = []

    def _run(self, batch, slot=0):
        self.calls.append(len(batch))
        return batch[:, 0, 0, :1].copy()


def test_model_pads_to_a_bucket_and_splits_above_the_largest():
    h, w = 128, 96
    model = Recording(SIZES)
    crops = np.arange(20, dtype=np.float32)[:, None, None, None] * np.ones((1, 3, h, w), np.float32)
    assert model(crops[:5])[:, 0].tolist() == list(range(5)) and model.calls == [8]
    model.calls.clear()
    assert model(crops)[:, 0].tolist() == list(range(20)) and model.calls == [16, 4]
