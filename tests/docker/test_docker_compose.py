"""docker-compose.yml (and the Ascend Docker Runtime variant) against what the code reads."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deploy_files import (
    COMPOSE_FILE,
    DOCKERFILES,
    DRIVER_MOUNTS,
    ENV_NAME,
    NPU_CONTROL_DEVICES,
    NPU_DEVICE,
    REPO,
    RUNTIME_OVERRIDE,
    copy_sources,
    environment,
    exec_form,
    load_compose,
    merge,
    mount_for,
    mounts,
    option,
    settings_env_names,
)

from simplepose.cli import build_parser
from simplepose.config.presets import DEVICES
from simplepose.serving.settings import Settings
from simplepose.training.run_dir import BEST_CKPT

ASCEND_SERVICES = ("keypoints", "train")
SERVICE_VARIANTS = ("keypoints", "keypoints-cpu")
CONTAINER_CONFIGS = "/opt/simplepose/configs"


def compose_schema_errors(document: dict[str, Any]) -> list[str]:
    """Violations of the Compose Specification's JSON schema (as vendored by check-jsonschema)."""
    from importlib.resources import files

    import jsonschema

    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def load_healthcheck_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "docker_healthcheck", REPO / "docker" / "healthcheck.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def npu_devices(service: dict[str, Any]) -> list[str]:
    return [
        d.split(":")[0] for d in service.get("devices", []) if NPU_DEVICE.match(d.split(":")[0])
    ]


def test_compose_file_follows_the_compose_specification() -> None:
    binary = Path(sys.executable).with_name("check-jsonschema")
    if not binary.exists():
        pytest.fail("check-jsonschema not installed: pip install -e '.[dev]'")
    result = subprocess.run(
        [str(binary), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_interpolated_and_runtime_variant_models_follow_the_specification() -> None:
    """What Compose runs after substituting the defaults, with and without the runtime file."""
    env = {"NPU_ID": "2", "TRAIN_NPUS": "4", "KEYPOINTS_CPUS": "2.5"}
    assert compose_schema_errors(load_compose(COMPOSE_FILE, env)) == []
    variant = merge(load_compose(COMPOSE_FILE, env), load_compose(RUNTIME_OVERRIDE, env))
    assert compose_schema_errors(variant) == []


def test_plain_up_starts_only_the_ascend_keypoint_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    default = [name for name, svc in services.items() if not svc.get("profiles")]
    assert default == ["keypoints", "fetch-detector"]  # the one-shot detector pre-fetch
    assert services["keypoints"]["build"]["dockerfile"] == "docker/Dockerfile.ascend"
    assert services["keypoints-cpu"]["profiles"] == ["cpu"]
    assert services["keypoints-cpu"]["build"]["dockerfile"] == "docker/Dockerfile.cpu"
    assert services["train"]["profiles"] == ["train"]
    assert services["export"]["profiles"] == services["export-cpu"]["profiles"] == ["train"]
    for svc in services.values():
        if "build" in svc:
            assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize("name", ASCEND_SERVICES)
def test_ascend_services_get_npu_devices_and_read_only_driver(
    compose: dict[str, Any], name: str
) -> None:
    svc = compose["services"][name]
    devices = [d.split(":")[0] for d in svc["devices"]]
    for node in NPU_CONTROL_DEVICES:
        assert node in devices, f"{name}: {node} not passed"
    assert npu_devices(svc), f"{name}: no /dev/davinciN"
    by_target = {m.target: m for m in mounts(svc)}
    for path in DRIVER_MOUNTS:
        assert path in by_target, f"{name}: {path} not mounted"
        assert by_target[path].source == path and by_target[path].read_only
    assert svc["group_add"] == ["1000"]  # HwHiAiUser's group owns /dev/davinci*
    assert environment(svc)["SIMPLEPOSE_DEVICE"] == "Ascend"


def test_cpu_and_export_services_use_no_npu(compose: dict[str, Any]) -> None:
    for name in ("keypoints-cpu", "export", "export-cpu"):
        svc = compose["services"][name]
        assert "devices" not in svc
        targets = {m.target for m in mounts(svc)}
        assert not targets & set(DRIVER_MOUNTS)
        assert environment(svc)["SIMPLEPOSE_DEVICE"] == "CPU"


def test_npu_id_selects_the_host_npu_which_is_device_0_inside() -> None:
    compose = load_compose(COMPOSE_FILE, {"NPU_ID": "5"})
    svc = compose["services"]["keypoints"]
    assert npu_devices(svc) == ["/dev/davinci5"]
    assert environment(svc)["SIMPLEPOSE_DEVICE_ID"] == "0"


def test_train_maps_as_many_npus_as_it_launches_workers(compose: dict[str, Any]) -> None:
    svc = compose["services"]["train"]
    workers = int(option(svc["command"], "--devices"))
    assert len(npu_devices(svc)) == workers == 8
    four = load_compose(COMPOSE_FILE, {"TRAIN_NPUS": "4"})["services"]["train"]["command"]
    assert option(four, "--devices") == "4"
    # msrun workers and their data loaders share memory: a big /dev/shm or the host's IPC.
    shm = svc.get("shm_size", "")
    assert svc.get("ipc") == "host" or re.fullmatch(r"\d+g", shm) and int(shm[:-1]) >= 16
    assert svc["restart"] == "no" and svc["init"] is True


@pytest.mark.parametrize("name", SERVICE_VARIANTS)
def test_service_port_env_and_healthcheck(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    env = environment(svc)
    port = int(env["SIMPLEPOSE_PORT"])
    assert port == Settings.model_fields["port"].default == 8000
    assert svc["ports"] == [f"8000:{port}"]
    assert env["SIMPLEPOSE_HOST"] == "0.0.0.0"  # reachable through the published port
    assert env["SIMPLEPOSE_DEVICE"] in DEVICES
    assert svc["restart"] in ("unless-stopped", "always") and svc["init"] is True
    limits = svc["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0 and re.fullmatch(r"\d+[kmg]", limits["memory"])
    test = svc["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1:] == ["python", "/opt/simplepose/healthcheck.py"]


@pytest.mark.parametrize("name", SERVICE_VARIANTS)
def test_stop_waits_longer_than_the_service_drains(compose: dict[str, Any], name: str) -> None:
    grace = compose["services"][name]["stop_grace_period"]
    match = re.fullmatch(r"(\d+)(s|m)", grace)
    assert match, grace
    seconds = int(match[1]) * (60 if match[2] == "m" else 1)
    assert seconds > Settings.model_fields["graceful_timeout_s"].default


def test_published_port_follows_keypoints_port() -> None:
    compose = load_compose(COMPOSE_FILE, {"KEYPOINTS_PORT": "9000"})
    assert compose["services"]["keypoints"]["ports"] == ["9000:8000"]


def test_healthcheck_script_is_in_the_images_and_probes_a_real_route(dockerfiles) -> None:
    for name, instructions in dockerfiles.items():
        assert "docker/healthcheck.py" in copy_sources(instructions), name
        copy = next(i for i in instructions if "docker/healthcheck.py" in i.args)
        assert copy.args.split()[-1] == "/opt/simplepose/"
        health = next(i for i in instructions if i.keyword == "HEALTHCHECK")
        assert exec_form(health.args) == ["python", "/opt/simplepose/healthcheck.py"]
    ready_path = load_healthcheck_module().READY_PATH
    assert ready_path == "/readyz"
    assert ready_path in get_routes()


def get_routes() -> set[str]:
    """GET routes of the real FastAPI app, from its OpenAPI schema (building it loads no model)."""
    from simplepose.serving.main import create_app

    paths = create_app(Settings()).openapi()["paths"]
    return {path for path, methods in paths.items() if "get" in methods}


def test_app_serves_the_routes_the_deployment_relies_on() -> None:
    assert {"/healthz", "/readyz", "/metrics", "/v1/model"} <= get_routes()


def deployment_files() -> list[Path]:
    return [
        COMPOSE_FILE,
        RUNTIME_OVERRIDE,
        *DOCKERFILES.values(),
        REPO / "docker" / "entrypoint.sh",
        REPO / "docker" / "healthcheck.py",
    ]


def test_every_simplepose_variable_is_a_settings_field() -> None:
    known = settings_env_names()
    used = {}
    for path in deployment_files():
        for name in ENV_NAME.findall(path.read_text()):
            used.setdefault(name, path.name)
    assert used, "no SIMPLEPOSE_* variable found: parser broken?"
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, f"not fields of serving.settings.Settings: {unknown}"


@pytest.mark.parametrize("name", SERVICE_VARIANTS)
def test_service_environment_is_valid_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment(compose["services"][name])
    required = {"SIMPLEPOSE_MODEL", "SIMPLEPOSE_CACHE_DIR", "SIMPLEPOSE_DEVICE", "SIMPLEPOSE_HOST"}
    assert required <= {k for k, v in env.items() if v}
    for key, value in env.items():
        if value is not None:  # None: passed through from the host when set there
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert str(settings.model) == "/models/pose" and str(settings.cache_dir) == "/cache"


@pytest.mark.parametrize("name", SERVICE_VARIANTS)
def test_model_and_cache_live_on_volumes(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    env = environment(svc)
    model = mount_for(svc, env["SIMPLEPOSE_MODEL"])
    assert model is not None and model.source == "./models" and model.read_only
    cache = mount_for(svc, env["SIMPLEPOSE_CACHE_DIR"])
    assert cache is not None and not cache.read_only
    assert "cache" in compose["volumes"]


def test_train_export_serve_hand_over_through_the_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    train, export = services["train"]["command"], services["export"]["command"]
    assert train[0] == "train" and export[0] == "export"

    data = mount_for(services["train"], option(train, "--data"))
    assert data is not None and data.read_only and data.source == "./data/coco"
    run_dir = option(train, "--output")
    run_mount = mount_for(services["train"], run_dir)
    assert run_mount is not None and not run_mount.read_only

    checkpoint = option(export, "--checkpoint")
    assert Path(checkpoint).parent == Path(run_dir)
    # best.ckpt exists only when training validates: the compose job must ask for it.
    assert Path(checkpoint).name == BEST_CKPT and option(train, "--val-split")
    ckpt_mount = mount_for(services["export"], checkpoint)
    assert ckpt_mount is not None and ckpt_mount.source == run_mount.source

    out = option(export, "--output")
    out_mount = mount_for(services["export"], out)
    assert out_mount is not None and not out_mount.read_only
    served = environment(services["keypoints"])["SIMPLEPOSE_MODEL"]
    assert out == served
    assert out_mount.source == mount_for(services["keypoints"], served).source


def test_training_config_exists_in_the_image(compose: dict[str, Any], dockerfiles) -> None:
    config = option(compose["services"]["train"]["command"], "--config")
    assert config.startswith(CONTAINER_CONFIGS + "/")
    assert (REPO / "configs" / Path(config).name).is_file(), config
    for instructions in dockerfiles.values():
        assert any(
            i.keyword == "COPY" and i.args == f"configs {CONTAINER_CONFIGS}" for i in instructions
        )


@pytest.mark.parametrize(
    ("export_name", "service_name"), [("export", "keypoints"), ("export-cpu", "keypoints-cpu")]
)
def test_each_export_adds_the_buckets_its_service_runs_fastest(
    compose: dict[str, Any], export_name: str, service_name: str
) -> None:
    """``export`` (MindIR buckets, for the NPU) and ``export-cpu`` (ONNX buckets, for ONNX
    Runtime on the CPU image) write the same checkpoint into the directory their service
    reads; the exporter merges them, and ``auto`` on each device picks its own."""
    from simplepose.export.weights import bucket_format
    from simplepose.runtime.buckets import DEFAULT_BATCH_SIZES, parse_batch_sizes

    services = compose["services"]
    args = build_parser().parse_args(services[export_name]["command"])
    first = build_parser().parse_args(services["export"]["command"])
    service = services[service_name]
    env = environment(service)
    assert args.checkpoint == first.checkpoint and args.output == env["SIMPLEPOSE_MODEL"]
    assert mount_for(services[export_name], args.output).source == (
        mount_for(service, env["SIMPLEPOSE_MODEL"]).source
    )
    assert args.format == bucket_format("auto", env["SIMPLEPOSE_DEVICE"])
    assert parse_batch_sizes(args.batch_sizes) == DEFAULT_BATCH_SIZES
    assert Settings().max_batch in DEFAULT_BATCH_SIZES  # no call is split below the largest


@pytest.mark.parametrize("name", ["keypoints", "keypoints-cpu", "train", "export", "export-cpu"])
def test_compose_commands_parse_with_the_real_cli(compose: dict[str, Any], name: str) -> None:
    command = compose["services"][name]["command"]
    args = build_parser().parse_args(command)
    assert isinstance(args, argparse.Namespace) and args.command == command[0]


# ---------------------------------------------------------------- Ascend Docker Runtime variant


def runtime_variant() -> dict[str, Any]:
    return merge(load_compose(COMPOSE_FILE), load_compose(RUNTIME_OVERRIDE))


@pytest.mark.parametrize("name", ASCEND_SERVICES)
def test_runtime_variant_replaces_devices_and_driver_mounts(
    compose: dict[str, Any], name: str
) -> None:
    base, variant = compose["services"][name], runtime_variant()["services"][name]
    assert "runtime" not in base and "ASCEND_VISIBLE_DEVICES" not in environment(base)
    assert variant["runtime"] == "ascend"
    assert environment(variant)["ASCEND_VISIBLE_DEVICES"]
    assert not variant.get("devices"), "devices passed twice: runtime and device list"
    targets = {m.target for m in mounts(variant)}
    assert not targets & set(DRIVER_MOUNTS), "driver mounted twice: runtime and volumes"
    kept = [m for m in mounts(base) if m.target not in DRIVER_MOUNTS]
    assert mounts(variant) == kept  # model, data, run and cache volumes unchanged
    assert variant["command"] == base["command"]


def test_runtime_variant_selects_the_same_npus() -> None:
    env = {"NPU_ID": "3"}
    variant = merge(load_compose(COMPOSE_FILE, env), load_compose(RUNTIME_OVERRIDE, env))
    assert environment(variant["services"]["keypoints"])["ASCEND_VISIBLE_DEVICES"] == "3"
    train = variant["services"]["train"]
    visible = environment(train)["ASCEND_VISIBLE_DEVICES"]
    assert visible == "0-7" and int(option(train["command"], "--devices")) == 8


def test_the_default_detector_is_pre_fetched_into_the_service_cache(compose) -> None:
    """A one-shot service puts rtmdet-nano-person into the cache volume before each keypoint
    service starts; an offline host (fetch fails) still starts the service (required: false),
    which then runs the labelled fallback."""
    from simplepose.detection.zoo import DEFAULT_DETECTOR_WEIGHTS

    services = compose["services"]
    for service, fetch in (("keypoints", "fetch-detector"),
                           ("keypoints-cpu", "fetch-detector-cpu")):  # fmt: skip
        dependency = services[service]["depends_on"][fetch]
        assert dependency["condition"] == "service_completed_successfully"
        assert dependency["required"] is False
        job = services[fetch]
        assert job["command"] == ["weights", "get", DEFAULT_DETECTOR_WEIGHTS]
        assert job["image"] == services[service]["image"]
        assert job["environment"]["SIMPLEPOSE_CACHE_DIR"] == "/cache"
        assert "cache:/cache" in job["volumes"] and "cache:/cache" in services[service]["volumes"]
        assert services[service].get("profiles") == job.get("profiles")
