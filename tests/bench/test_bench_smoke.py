"""Every bench/ script runs: each one, with tiny arguments, in its own process, exits 0 and ends
with a JSON line holding the keys its readers rely on (and, in it or an earlier JSON line, the
machine it ran on).

A new bench script needs an entry in ``BENCHES`` (arguments that finish in seconds, the keys of
its JSON); ``test_every_bench_script_has_an_entry`` fails until it has one. Arguments may name
``{data}`` (coco-mini), ``{clip}`` (the PoseTrack clip), ``{work}`` (an empty directory of its
own), ``{run}`` (a run directory holding a tiny random-weight ``last.ckpt``), ``{upper9}`` (the
nine-point dataset file built from coco-mini, tests/custom_keypoints.py), or
``{out:SCRIPT}``, the work directory of another entry (which then runs first).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "bench"
TIMEOUT_S = 900
SMALL = "res18_128x96"  # the smallest preset: what the service benches serve here
# The tiny network of the {run} checkpoint (tests/conftest.py tiny_config), as overrides.
TINY = ("model.input_size=[64,96]", "model.heatmap_size=[16,24]", "model.deconv_channels=32")


@dataclass(frozen=True)
class Bench:
    args: tuple[str, ...]
    keys: frozenset[str]  # top-level keys of the last JSON line
    needs: tuple[str, ...] = ()  # "coco", "clip", "venv" (REPO/.venv installed, for make)


def _bench(*args: str, keys: str, needs: str = "") -> Bench:
    return Bench(args, frozenset(keys.split()), tuple(needs.split()))


BENCHES: dict[str, Bench] = {
    "auth_overhead.py": _bench(
        "--keys", "2", "--calls", "50", "--repeats", "1",
        keys="bare_app_us auth_on_us auth_off_us wrong_key_401_us auth_overhead_us keys_in_file",
    ),
    "codec_fidelity.py": _bench("--data", "{data}", keys="ap mean_err max_err", needs="coco"),
    "convert_parity.py": _bench(
        "--depths", "18", "--batch", "1", keys="layouts max_abs_diff max_abs_value"
    ),
    "demo_recipe.py": _bench(
        "--steps", "2", keys="input_wh steps build_s train_image_ap load_avg_1min_before"
    ),
    "detect_pose_throughput.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--preset", SMALL, "--images", "2",
        "--clients", "1", "--requests", "2", "--rounds", "1", "--max-batch", "4",
        keys="detector service_images_per_s series_images_per_s ratio_to_series model",
        needs="coco",
    ),
    "detector_quality.py": _bench(
        "--data", "{data}", "--preset", SMALL, keys="detectors", needs="coco"
    ),
    "first_answer.py": _bench(
        "--runs", "1", "--demo-steps", "2", keys="runs median_s", needs="venv"
    ),
    "finetune.py": _bench(
        "--dataset", "{upper9}", "--init", "{run}", "--batch-size", "42", "--max-steps", "2",
        "--eval-every", "2", "--target", "0", "--output", "{work}/runs", *TINY,
        "data.num_workers=1",
        keys="finetuned_steps scratch_steps fewer_steps keypoints instances", needs="coco",
    ),
    "fused_decode.py": _bench(
        "--config", SMALL, "--batches", "2", "--repeats", "1", keys="config repeats results"
    ),
    "fuzz_api.py": _bench(
        "--workdir", "{work}", "--max-examples", "1",
        keys="passed test_cases checks process_alive hostile_statuses hostile_5xx",
    ),
    "fuzz_checkpoint.py": _bench(
        "--cases", "8", keys="cases crashes unmapped_exceptions max_rss_mb max_seconds"
    ),
    "ort_op_profile.py": _bench(
        "--model-dir", "{out:quantization_quality.py}/overfit_onnx", "--batch-size", "2",
        "--rounds", "1", "--seconds", "0.2", "--profile-runs", "1",
        keys="persons_per_s int8_vs_fp32 ms_per_call_by_op batch_size threads machine",
        needs="coco",
    ),
    "overfit.py": _bench(
        "--data", "{data}", "--steps", "2", "--batch-size", "2", "--output", "{work}/run",
        keys="ap ap50 steps seconds final_loss preset persons", needs="coco",
    ),
    "quantization_quality.py": _bench(
        "--data", "{data}", "--run-dir", "{run}", "--workdir", "{work}", "--batch-sizes", "1,2",
        keys="ap_fp32 ap_int8 ap_drop median_displacement_px keypoints_compared quantization",
        needs="coco",
    ),
    "render_example.py": _bench(
        "--model", "{run}/last.ckpt", "--data", "{data}", "--image", "000000370162.jpg",
        "--output", "{work}/example.png", keys="output persons", needs="coco",
    ),
    "serve_throughput.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--preset", SMALL, "--clients", "1",
        "--requests", "2", "--warmup-requests", "1", "--images", "1", "--min-persons", "1",
        "--max-batch", "2", "--batch-sizes", "1,2", "--direct-seconds", "0.1", "--rounds", "1",
        keys="backends cpu_default ratios threads machine model load_average", needs="coco",
    ),
    "cores_sweep.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--preset", SMALL, "--batch-sizes", "1,2",
        "--clients", "1", "--requests", "2", "--rounds", "1", "--images", "1",
        keys="cores base_cores machine", needs="coco",
    ),
    "roofline.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--small", "--batch-sizes", "1,2",
        "--gemm-sizes", "256", "--gemm-repeats", "3", "--seconds", "0.3", "--rounds", "1",
        keys="gemm model backends load_average", needs="coco",
    ),
    "infer_peer.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--small", "--batch-sizes", "1,2",
        "--batch", "2", "--seconds", "0.3", "--rounds", "1", "--requests", "4", "--clients", "2",
        keys="persons_per_s vs_torch_channels_last cpu_ms_per_person cpu_default_backend",
        needs="coco",
    ),
    "precision_quality.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--small-random", "--batch-sizes", "1,2",
        keys="precisions eval_split calibration_split persons", needs="coco",
    ),
    "soak.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--small", "--batch-sizes", "1,2",
        "--requests", "12", "--warmup", "4",
        "--clients", "2", "--segments", "2", "--skip-worst-upload",
        keys="requests status_counts server_errors_5xx process_alive rss_growth_mb",
        needs="coco",
    ),
    "spin_wait.py": _bench(
        "--data", "{data}", "--workdir", "{work}", "--preset", SMALL, "--batch-sizes", "1,2",
        "--clients", "1", "--requests", "2", "--direct-seconds", "0.1", "--rounds", "1",
        "--max-batch", "2", keys="spin_off spin_on ratios backend", needs="coco",
    ),
    "tracking.py": _bench(
        "--data", "{data}", "--images", "1", "--preset", SMALL,
        keys="results clips_per_speed goal_zero_switches_perfect_keypoints", needs="coco",
    ),
    "train_throughput.py": _bench(
        "--data", "{data}", "--preset", SMALL, "--batch", "2", "--steps", "1", "--rounds", "1",
        "--pipeline-batches", "2",
        keys="mindspore_img_s torch_img_s ratio pipeline_img_s preset", needs="coco",
    ),
    "video_throughput.py": _bench(
        "--clip", "{clip}", "--rounds", "1",
        keys="video_detect_every_1_fps independent_calls_fps ratio_video_1 frames", needs="clip",
    ),
}  # fmt: skip

# Scripts whose smoke test lives beside the code they attack and asserts their findings too.
OWN_SMOKE_TESTS = {
    "fuzz_video.py": "tests/serving/test_bench_fuzz_video_smoke.py",
    "hostile_uploads.py": "tests/serving/test_bench_hostile_smoke.py",
}

FIXTURES = {"coco": "coco_mini", "clip": "posetrack_clip"}  # they skip when ../shared is absent
VENV_STAMP = REPO_ROOT / ".venv" / ".installed-dev"  # what `make` checks before `make serve`
PLACEHOLDER = re.compile(r"\{(data|clip|work|run|upper9|out:[\w.]+)\}")


def scripts() -> list[str]:
    return sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_"))


class Runner:
    """Runs bench scripts once per session each, in their own work directories."""

    def __init__(self, root: Path, tiny_checkpoint: Path) -> None:
        self.root = root
        self.tiny_checkpoint = tiny_checkpoint
        self.done: dict[str, tuple[subprocess.CompletedProcess[str], float]] = {}

    def _value(self, name: str, script: str, request: pytest.FixtureRequest) -> str:
        if name == "data":
            return str(request.getfixturevalue("coco_mini"))
        if name == "clip":
            return str(request.getfixturevalue("posetrack_clip"))
        if name == "work":
            return str(self.root / script)
        if name == "upper9":
            from custom_keypoints import YAML_NAME, write_custom_dataset

            out = self.root / "_upper9"
            if not (out / YAML_NAME).is_file():
                return str(write_custom_dataset(Path(self._value("data", script, request)), out))
            return str(out / YAML_NAME)
        if name == "run":
            run = self.root / "_run"
            if not (run / "last.ckpt").is_file():
                run.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.tiny_checkpoint, run / "last.ckpt")
            return str(run)
        other = name.removeprefix("out:")
        result, _ = self.run(other, request)
        if result.returncode != 0:
            pytest.fail(f"{other}, which makes this bench's input, failed")
        return str(self.root / other)

    def run(
        self, script: str, request: pytest.FixtureRequest
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        if script not in self.done:
            bench = BENCHES[script]
            for need in bench.needs:
                if need in FIXTURES:
                    request.getfixturevalue(FIXTURES[need])
                elif need == "venv" and not (
                    VENV_STAMP.is_file()
                    and VENV_STAMP.stat().st_mtime >= (REPO_ROOT / "pyproject.toml").stat().st_mtime
                ):
                    pytest.skip("runs `make serve`: needs this repository's .venv (make venv)")
            (self.root / script).mkdir(parents=True, exist_ok=True)
            args = [
                PLACEHOLDER.sub(lambda m, s=script: self._value(m.group(1), s, request), a)
                for a in bench.args
            ]
            env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
            # whatever the script leaves in tempfile's directory goes with its work directory
            tmp = self.root / script / "tmp"
            tmp.mkdir()
            env["TMPDIR"] = str(tmp)
            start = time.monotonic()
            result = subprocess.run(
                [sys.executable, str(BENCH / script), *args], cwd=REPO_ROOT, env=env,
                capture_output=True, text=True, timeout=TIMEOUT_S,
            )  # fmt: skip
            self.done[script] = (result, time.monotonic() - start)
        return self.done[script]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Runner:
    return Runner(tmp_path_factory.mktemp("bench"), tiny_checkpoint)


def test_every_bench_script_has_an_entry() -> None:
    for script, test in OWN_SMOKE_TESTS.items():
        assert f'"{script}"' in (REPO_ROOT / test).read_text(), f"{test} does not run {script}"
    missing = sorted(set(scripts()) - set(BENCHES) - set(OWN_SMOKE_TESTS))
    assert not missing, (
        f"bench scripts without tiny arguments in {Path(__file__).name} BENCHES: {missing} "
        "(add an entry: arguments that finish in seconds, the keys of the last JSON line)"
    )
    assert sorted(set(BENCHES) - set(scripts())) == [], "entries for scripts that do not exist"
    assert [name for name, bench in BENCHES.items() if not bench.keys] == [], "entries without keys"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(BENCHES))
def test_bench_script_runs_with_tiny_arguments(
    runner: Runner, script: str, request: pytest.FixtureRequest
) -> None:
    result, seconds = runner.run(script, request)
    output = f"exit {result.returncode} after {seconds:.0f} s\n{result.stdout[-3000:]}\n"
    output += result.stderr[-3000:]
    assert result.returncode == 0, output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, output
    last = json.loads(lines[-1])
    assert isinstance(last, dict), output
    assert BENCHES[script].keys <= set(last), f"missing {BENCHES[script].keys - set(last)}"
    # every figure names its machine (bench/_machine.py), in the last or an earlier JSON line
    objects = [json.loads(line) for line in lines if line.startswith("{")]
    assert any("cpu_model" in o.get("machine", {}) for o in objects), "no machine facts"
    if not any(f"{{out:{script}}}" in arg for bench in BENCHES.values() for arg in bench.args):
        shutil.rmtree(runner.root / script)  # models and venvs take GBs over the whole list
