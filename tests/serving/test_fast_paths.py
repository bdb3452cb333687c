"""Static-shape buckets, ONNX Runtime and INT8 on a real export: every bucket equals the eager
two-pass flip reference, ONNX Runtime equals the MindSpore graph, and the service serves INT8.

The network is the tiny test preset with its head weights scaled up (x30), so heatmaps are O(1) and a
1e-5 tolerance is a real bound (randomly initialised heads output ~1e-7).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from simplepose.config.model_info import ModelInfo
from simplepose.config.presets import Config
from simplepose.export.exporter import export_model
from simplepose.pose.keypoints import COCO17
from simplepose.runtime.model_loader import load_model
from simplepose.runtime.onnx_model import cpu_session

SIZES = (1, 4, 8)
HEAD_GAIN = 30.0


def crops(config: Config, n: int, seed: int) -> np.ndarray:
    w, h = config.model.input_size
    return np.random.default_rng(seed).standard_normal((n, 3, h, w)).astype(np.float32)


@pytest.fixture(scope="module")
def loud_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_config: Config) -> Path:
    import mindspore as ms

    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    ms.set_seed(3)
    net = PoseResNet(tiny_config.model)
    for param in net.get_parameters():  # heads are initialised with std 0.001
        if param.name.startswith(("deconv_layers", "final_layer")) and param.name.endswith(
            "weight"
        ):
            param.set_data(ms.Tensor(param.asnumpy() * HEAD_GAIN))
    path = tmp_path_factory.mktemp("loud") / "loud.ckpt"
    save_pose_checkpoint(net, path, tiny_config, {"epoch": 0})
    return path


@pytest.fixture(scope="module")
def bucket_dir(tmp_path_factory: pytest.TempPathFactory, loud_checkpoint: Path) -> Path:
    """ONNX FP32 buckets (the main model.onnx is the batch-1 one), then MindIR buckets added to
    the same directory."""
    out = tmp_path_factory.mktemp("buckets")
    export_model(loud_checkpoint, out, fmt="onnx", batch_sizes=SIZES)
    export_model(loud_checkpoint, out, batch_sizes=SIZES)
    return out


@pytest.fixture(scope="module")
def int8_dir(bucket_dir: Path, loud_checkpoint: Path, coco_mini: Path) -> Path:
    """INT8 buckets (with their FP32 sources) added, calibrated on coco-mini train persons."""
    export_model(loud_checkpoint, bucket_dir, fmt="onnx", batch_sizes=SIZES, quantize="int8",
                 calibration=coco_mini, calibration_persons=8)  # fmt: skip
    return bucket_dir


@pytest.fixture(scope="module")
def reference(loud_checkpoint: Path):
    """The eager two-pass flip test (two network calls, NumPy flip-back, mean)."""
    import mindspore as ms

    from simplepose.network.checkpoint import build_network
    from simplepose.pose.codec import flip_back

    net, _, _ = build_network(loud_checkpoint)

    def run(batch: np.ndarray) -> np.ndarray:
        plain = net(ms.Tensor(batch)).asnumpy()
        flipped = net(ms.Tensor(np.ascontiguousarray(batch[..., ::-1]))).asnumpy()
        return (plain + flip_back(flipped, COCO17.flip_index())) * 0.5

    return run


@pytest.mark.slow
def test_model_json_lists_every_bucket(int8_dir: Path, tiny_config):
    bucket_dir = int8_dir
    info = ModelInfo.load(bucket_dir)
    assert info.format == "onnx" and info.batch_size == 1  # the first export's main graph stays
    main, b1 = (cpu_session(bucket_dir / f) for f in ("model.onnx", "model_fp32_b1.onnx"))
    x = {
        main.get_inputs()[0].name: np.ones((1, 3, *tiny_config.model.input_size[::-1]), np.float32)
    }
    np.testing.assert_array_equal(main.run(None, x)[0], b1.run(None, x)[0])
    for fmt, precision in (("mindir", "fp32"), ("onnx", "fp32"), ("onnx", "int8")):
        assert info.bucket_sizes(fmt, precision) == SIZES
        assert all((bucket_dir / f).is_file() for f in info.bucket_files(fmt, precision).values())
    q = info.quantization["int8"]
    assert q["calibration_persons"] == 8 and q["calibration_split"] == "train2017"


@pytest.mark.slow
def test_every_bucket_equals_the_two_pass_flip_reference(bucket_dir, reference, tiny_config):
    model = load_model(bucket_dir, backend="mindspore-buckets")
    assert model.batch_sizes == SIZES
    for n in SIZES:
        batch = crops(tiny_config, n, seed=n)
        expected = reference(batch)
        assert np.abs(expected).max() > 0.05  # heatmaps of a real scale: the bound means something
        out = model.graphs[n](ms.Tensor(batch)).asnumpy()  # the bucket graph itself
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
    mixed = crops(tiny_config, 11, seed=11)  # padded and split: 8 + 3 (in the 4 bucket)
    np.testing.assert_allclose(model(mixed), reference(mixed), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_onnxruntime_buckets_equal_the_mindspore_graph(bucket_dir, tiny_config):
    ms_model = load_model(bucket_dir, backend="mindspore-buckets")
    ort_model = load_model(bucket_dir, backend="onnxruntime", threads=1)
    assert ort_model.runtime == "onnxruntime" and ort_model.threads.intra_op == 1
    for n in SIZES:
        batch = crops(tiny_config, n, seed=10 + n)
        out = ort_model.sessions[n].run(None, {ort_model._input: batch})[0]
        np.testing.assert_allclose(out, ms_model(batch), rtol=0, atol=1e-4)


@pytest.mark.slow
def test_int8_buckets_run_in_int8_from_input_to_output(int8_dir: Path, tmp_path: Path):
    """What ONNX Runtime runs for each INT8 bucket: the input quantized once, every convolution
    (the deconv head's too) an int8 kernel, one dequantization at the output; no float island."""
    import onnx
    import onnxruntime as ort

    from simplepose.runtime.onnx_model import session_options
    from simplepose.runtime.threads import thread_settings

    for n, file in ModelInfo.load(int8_dir).bucket_files("onnx", "int8").items():
        options = session_options(thread_settings(1))
        options.optimized_model_filepath = str(tmp_path / f"optimized_{n}.onnx")
        ort.InferenceSession(str(int8_dir / file), options, providers=["CPUExecutionProvider"])
        ops = Counter(
            node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node
        )
        assert ops["QuantizeLinear"] == 1 and ops["DequantizeLinear"] == 1, ops
        assert not {"Conv", "FusedConv", "ConvTranspose", "MaxPool", "Concat"} & set(ops), ops
        assert ops["QLinearConv"] >= 20 + 4 * 3  # ResNet-18 + three deconvs as four phases each


@pytest.mark.slow
def test_service_serves_the_int8_export(int8_dir, coco_mini, png_bytes):
    bucket_dir = int8_dir
    from fastapi.testclient import TestClient
    from serving_helpers import make_test_settings

    from simplepose.export.quantize import calibration_crops
    from simplepose.serving.main import create_app

    model = load_model(bucket_dir, backend="onnxruntime-int8")
    fp32 = load_model(bucket_dir, backend="onnxruntime")
    batch = calibration_crops(coco_mini, model.info, persons=3, split="val2017")  # real persons
    ref, out = fp32(batch), model(batch)
    # INT8 follows FP32 (a quantization that zeroed activations would not), and is not a copy
    corr = np.corrcoef(ref.ravel(), out.ravel())[0, 1]
    assert corr > 0.9 and np.abs(out - ref).max() > 0, (corr, np.abs(out - ref).max())
    with TestClient(create_app(make_test_settings(), model=model, device="CPU")) as client:
        r = client.post("/keypoints", files={"image": ("a.png", png_bytes, "image/png")},
                        data={"boxes": "[[4, 4, 60, 90], [10, 2, 50, 80]]"})  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["persons"]) == 2
        card = body["model"]
        assert (card["runtime"], card["backend"], card["precision"]) == (
            "onnxruntime", "onnxruntime-int8", "int8"
        )  # fmt: skip
        assert card["batch_sizes"] == list(SIZES)
        served = client.get("/v1/model").json()
        assert (served["runtime"], served["backend"], served["precision"]) == (
            "onnxruntime", "onnxruntime-int8", "int8"
        )  # fmt: skip
        assert served["batch_sizes"] == list(SIZES)


# Run in a process of its own: this one has MindSpore loaded with oneDNN capped at AVX2.
UNCAPPED_SCRIPT = """
import json, os, sys, threading
import numpy as np
from pathlib import Path
from simplepose.config.model_info import ModelInfo
from simplepose.runtime.cpu_loader import load_cpu_model
from simplepose.runtime.onnx_model import OnnxModel
from simplepose.runtime.on_device import model_summary

d = Path(sys.argv[1])
model = load_cpu_model(d, ModelInfo.load(d), "auto", threads=1, sessions=2)
fp32 = OnnxModel(d, threads=1)
w, h = model.info.model.input_size
x = np.random.default_rng(5).standard_normal((11, 3, h, w)).astype(np.float32)
ref = fp32(x)
outs = [None, None]
def call(i):
    outs[i] = model(x)
threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
[t.start() for t in threads]; [t.join() for t in threads]
err = max(float(np.abs(o - ref).max()) for o in outs)
print(json.dumps({"card": model_summary(model, "CPU"), "err": err,
                  "scale": float(np.abs(ref).max())}), flush=True)
os._exit(0)  # the answer is out; do not wait on the runtimes' thread pools at interpreter exit
"""


@pytest.mark.slow
def test_openvino_bf16_serves_the_onnx_buckets_where_oneDNN_is_uncapped(bucket_dir):
    """On an AMX CPU, in a process without the oneDNN cap: ``auto`` picks OpenVINO bf16, the
    model card says so, two sessions run side by side, and the heatmaps are FP32's within
    bf16 rounding."""
    import json
    import os
    import subprocess
    import sys

    from simplepose.runtime.cpu_features import has_amx
    from simplepose.runtime.openvino_model import openvino_installed

    if not (openvino_installed() and has_amx()):
        pytest.skip("needs openvino and a CPU with AMX (amx_bf16 in /proc/cpuinfo)")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "ALL"}
    run = subprocess.run([sys.executable, "-c", UNCAPPED_SCRIPT, str(bucket_dir)], env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    card = result["card"]
    assert (card["runtime"], card["backend"], card["precision"], card["sessions"]) == (
        "openvino", "openvino-bf16", "bf16", 2
    )  # fmt: skip
    assert card["batch_sizes"] == list(SIZES)
    assert result["scale"] > 0.05  # heatmaps of a real scale
    # bf16 keeps 8 mantissa bits: within a few percent of the largest value, not a copy
    assert 0 < result["err"] < 0.05 * result["scale"], result


def test_openvino_is_refused_in_a_capped_process_and_auto_says_why(bucket_dir, caplog):
    """This process has oneDNN capped (MindSpore): asking for OpenVINO fails with the reason;
    ``auto`` serves with ONNX Runtime and logs why."""
    from simplepose.runtime.cpu_features import has_amx
    from simplepose.runtime.cpu_loader import load_cpu_model
    from simplepose.runtime.openvino_model import OpenVinoModel, openvino_installed

    if not (openvino_installed() and has_amx()):
        pytest.skip("needs openvino and a CPU with AMX (amx_bf16 in /proc/cpuinfo)")
    assert os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2"
    with pytest.raises(RuntimeError, match="ONEDNN_MAX_CPU_ISA=AVX2 caps oneDNN below AMX"):
        OpenVinoModel(bucket_dir)
    with pytest.raises(ValueError, match="'openvino-bf16' cannot run here"):
        load_model(bucket_dir, backend="openvino-bf16")
    with caplog.at_level("INFO"):
        model = load_cpu_model(bucket_dir, ModelInfo.load(bucket_dir), "auto", threads=1)
    assert model is not None and model.backend == "onnxruntime"
    assert "not serving with OpenVINO bf16 (AMX): ONEDNN_MAX_CPU_ISA=AVX2" in caplog.text


@pytest.mark.slow
def test_export_refuses_to_mix_two_checkpoints(tmp_path, tiny_checkpoint, loud_checkpoint):
    export_model(tiny_checkpoint, tmp_path, batch_sizes=(1,))
    with pytest.raises(ValueError, match="holds an export of another checkpoint"):
        export_model(loud_checkpoint, tmp_path, batch_sizes=(2,))
    assert ModelInfo.load(tmp_path).bucket_sizes("mindir") == (1,)
