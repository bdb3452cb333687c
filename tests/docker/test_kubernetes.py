"""deploy/kubernetes without a cluster: every manifest validates against the Kubernetes API
schemas offline, and everything it names (routes, settings, CLI arguments, paths, metrics)
is what the code really has."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_files import DRIVER_MOUNTS, ENV_NAME, REPO, settings_env_names

from simplepose.serving.settings import Settings

KUBE_DIR = REPO / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.34.0"  # a pinned recent release; its schemas ship in kubernetes-validate
NPU_RESOURCE = re.compile(r"^huawei\.com/Ascend(910|310|310P)$")
VARIANTS = ("ascend", "cpu")
DEVICES = {"ascend": "Ascend", "cpu": "CPU"}  # where each variant's service runs


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(KUBE_DIR.glob("*/*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in _docs(path)
    ]


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl apply -k folder`` creates (resources only: no patches are used)."""
    (kustomization,) = _docs(folder / "kustomization.yaml")
    assert set(kustomization) <= {"apiVersion", "kind", "resources"}, "only plain resources"
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        target = (folder / resource).resolve()
        objects += _kustomize(target) if target.is_dir() else _docs(target)
    return objects


def _one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _container(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(
        c for c in pod_spec["containers"] + pod_spec.get("initContainers", []) if c["name"] == name
    )


def _env(container: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """The container's environment: its ConfigMap sources, then its own ``env`` values."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(_one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return env


def _parse_cli(args: list[str]):
    """The container's arguments through the real ``simplepose`` parser (the image's
    entrypoint runs ``simplepose ARGS``)."""
    from simplepose.cli import build_parser

    return build_parser().parse_args([a.replace("$(NODE_RANK)", "0") for a in args])


# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize(
    "path,doc",
    _manifests(),
    ids=lambda v: v.relative_to(KUBE_DIR).as_posix() if isinstance(v, Path) else v["kind"],
)
def test_manifest_validates_against_the_api_schema(path: Path, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    """The schema check is not vacuous: one wrong key in a real manifest fails it."""
    deployment = copy.deepcopy(_one(_kustomize(KUBE_DIR / "ascend"), "Deployment"))
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_manifest_file_is_applied_by_its_kustomization() -> None:
    for folder in sorted(p for p in KUBE_DIR.iterdir() if p.is_dir()):
        (kustomization,) = _docs(folder / "kustomization.yaml")
        listed = {r for r in kustomization["resources"] if not r.startswith("..")}
        files = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == files, folder.name


# ---------------------------------------------------------------- the service


@pytest.mark.parametrize("variant", VARIANTS)
def test_probes_point_at_real_routes(variant: str) -> None:
    from simplepose.serving.main import create_app

    routes = set(create_app(Settings()).openapi()["paths"])
    spec = _one(_kustomize(KUBE_DIR / variant), "Deployment")["spec"]["template"]["spec"]
    container = _container(spec, "keypoints")
    probes = {
        k: container[k]["httpGet"]["path"]
        for k in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["readinessProbe"] == "/readyz" and probes["livenessProbe"] == "/healthz"
    assert set(probes.values()) <= routes
    port = container["ports"][0]
    assert all(container[k]["httpGet"]["port"] == port["name"] for k in probes)
    assert port["containerPort"] == Settings().port


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_setting_name_is_a_settings_field(variant: str) -> None:
    objects = _kustomize(KUBE_DIR / variant)
    spec = _one(objects, "Deployment")["spec"]["template"]["spec"]
    known = settings_env_names()
    for name in ("keypoints", "fetch-model"):
        named = {k for k in _env(_container(spec, name), objects) if ENV_NAME.fullmatch(k)}
        assert named and named <= known, f"{name}: not Settings fields: {named - known}"
    # and the values are ones the service accepts
    Settings(
        **{
            k[len("SIMPLEPOSE_") :].lower(): v
            for k, v in _env(_container(spec, "keypoints"), objects).items()
            if k != "SIMPLEPOSE_API_KEYS_FILE"
        }
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_commands_parse_and_the_model_is_where_the_service_reads_it(variant: str) -> None:
    from simplepose.hub.registry import lookup, model_path

    objects = _kustomize(KUBE_DIR / variant)
    spec = _one(objects, "Deployment")["spec"]["template"]["spec"]
    service, init = _container(spec, "keypoints"), _container(spec, "fetch-model")
    assert _parse_cli(service["args"]).command == "serve"
    fetch = _parse_cli(init["args"])
    assert (fetch.command, fetch.weights_command) == ("weights", "get")
    env = _env(service, objects)
    written = model_path(
        lookup(fetch.name), fetch.cache_dir, flip=not fetch.no_flip, fmt=fetch.format
    )
    assert Path(env["SIMPLEPOSE_MODEL"]) == written
    assert env["SIMPLEPOSE_OFFLINE"] == "true"  # the init step fetched it; never download again
    # both containers see the same volume at the cache path
    mounts = {
        c["name"]: {m["mountPath"]: m["name"] for m in c["volumeMounts"]} for c in (service, init)
    }
    assert mounts["keypoints"][fetch.cache_dir] == mounts["fetch-model"][fetch.cache_dir]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_init_container_exports_the_graphs_its_service_runs_fastest(variant: str) -> None:
    """The served directory gets the buckets ``auto`` picks on the service's device: ONNX on
    CPU (ONNX Runtime is in the CPU image), MindIR on Ascend. Asked for explicitly: the init
    container itself sees no NPU, so ``--buckets auto`` would guess from the wrong device."""
    from simplepose.config.model_info import Bucket, ModelInfo
    from simplepose.config.presets import get_preset
    from simplepose.export.weights import bucket_format
    from simplepose.runtime.backends import choose_backend
    from simplepose.runtime.buckets import parse_batch_sizes

    objects = _kustomize(KUBE_DIR / variant)
    spec = _one(objects, "Deployment")["spec"]["template"]["spec"]
    service, fetch = (
        _container(spec, "keypoints"),
        _parse_cli(_container(spec, "fetch-model")["args"]),
    )
    device = _env(service, objects)["SIMPLEPOSE_DEVICE"]
    assert device == DEVICES[variant]
    fmt = bucket_format(fetch.buckets, device)
    assert fmt == {"CPU": "onnx", "Ascend": "mindir"}[device] == bucket_format("auto", device)
    sizes = parse_batch_sizes(fetch.batch_sizes)
    # what `weights get` writes with these arguments, as the service will find it
    served = ModelInfo(
        config=get_preset("res50_256x192"),
        format=fetch.format,
        buckets=tuple(Bucket(Bucket.file_name(fmt, n), fmt, n) for n in sizes),
    )
    backend = choose_backend(served, device)
    assert backend.name == {"CPU": "onnxruntime", "Ascend": "mindspore-buckets"}[device]
    # the service's largest batch has a bucket of its own (no call is split below it)
    assert int(_env(service, objects)["SIMPLEPOSE_MAX_BATCH"]) in sizes


@pytest.mark.parametrize("variant", VARIANTS)
def test_shutdown_outlasts_the_drain_and_keys_come_from_the_secret(variant: str) -> None:
    objects = _kustomize(KUBE_DIR / variant)
    spec = _one(objects, "Deployment")["spec"]["template"]["spec"]
    container = _container(spec, "keypoints")
    env = _env(container, objects)
    drain = float(env.get("SIMPLEPOSE_GRACEFUL_TIMEOUT_S", Settings().graceful_timeout_s))
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > drain + pre_stop
    assert env["SIMPLEPOSE_AUTH"] == "required"
    keys = Path(env["SIMPLEPOSE_API_KEYS_FILE"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(keys.parent))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert mount["readOnly"] and "subPath" not in mount  # rotations reach the running pod
    assert "items" not in volume["secret"] and keys.name == "api_keys"  # the secret's data key
    security = spec["securityContext"]
    assert security["runAsNonRoot"] and security["runAsUser"] != 0


def test_npu_resources_and_driver_mounts_only_on_npu_variants() -> None:
    def npu_bits(spec: dict[str, Any]) -> tuple[set[str], set[str]]:
        resources, mounts = set(), set()
        for c in spec["containers"] + spec.get("initContainers", []):
            limits = c.get("resources", {}).get("limits", {})
            resources |= {k for k in limits if NPU_RESOURCE.match(k)}
            mounts |= {m["mountPath"] for m in c.get("volumeMounts", [])} & set(DRIVER_MOUNTS)
        return resources, mounts

    ascend = _one(_kustomize(KUBE_DIR / "ascend"), "Deployment")["spec"]["template"]["spec"]
    cpu = _one(_kustomize(KUBE_DIR / "cpu"), "Deployment")["spec"]["template"]["spec"]
    job = _one(_kustomize(KUBE_DIR / "training"), "Job")["spec"]["template"]["spec"]
    for npu_spec in (ascend, job):
        resources, mounts = npu_bits(npu_spec)
        assert resources and mounts == set(DRIVER_MOUNTS)
        assert npu_spec["nodeSelector"] and npu_spec["tolerations"]
        for mount in (
            m
            for c in npu_spec["containers"]
            for m in c["volumeMounts"]
            if m["mountPath"] in DRIVER_MOUNTS
        ):
            assert mount["readOnly"]
    assert npu_bits(cpu) == (set(), set())
    assert "nodeSelector" not in cpu and "tolerations" not in cpu
    # one NPU per service replica, requested and limited alike
    keypoints = _container(ascend, "keypoints")["resources"]
    npu = next(k for k in keypoints["limits"] if NPU_RESOURCE.match(k))
    assert keypoints["limits"][npu] == keypoints["requests"][npu] == 1


def test_cpu_variant_is_the_ascend_one_without_the_npu() -> None:
    """The two Deployments differ only in what the NPU needs and in the buckets the model is
    exported with (no drift in probes, settings...)."""

    def strip(deployment: dict[str, Any]) -> dict[str, Any]:
        d = copy.deepcopy(deployment)
        spec = d["spec"]["template"]["spec"]
        for key in ("nodeSelector", "tolerations"):
            spec.pop(key, None)
        spec["securityContext"].pop("supplementalGroups", None)
        spec["volumes"] = [v for v in spec["volumes"] if "hostPath" not in v]
        for c in spec["containers"] + spec["initContainers"]:
            c["image"] = c["image"].split(":")[0]
            if "--buckets" in c["args"]:  # the device's own fast path, tested above
                c["args"][c["args"].index("--buckets") + 1] = "<device's buckets>"
            c["volumeMounts"] = [
                m for m in c["volumeMounts"] if m["mountPath"] not in DRIVER_MOUNTS
            ]
            c["env"] = [e for e in c.get("env", []) if e["name"] != "SIMPLEPOSE_DEVICE_ID"]
            for e in c["env"]:
                if e["name"] == "SIMPLEPOSE_DEVICE":
                    e["value"] = "<device>"
            for part in c.get("resources", {}).values():
                for key in [k for k in part if NPU_RESOURCE.match(k)]:
                    del part[key]
        return d

    ascend = _one(_kustomize(KUBE_DIR / "ascend"), "Deployment")
    cpu = _one(_kustomize(KUBE_DIR / "cpu"), "Deployment")
    assert strip(ascend) == strip(cpu)


def test_autoscaler_reads_the_queue_depth_the_service_exports() -> None:
    from simplepose.serving.metrics import ServiceMetrics

    exported = ServiceMetrics().queue_depth._name
    objects = _kustomize(KUBE_DIR / "ascend")
    hpa = _one(objects, "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == exported
    assert hpa["spec"]["scaleTargetRef"]["name"] == _one(objects, "Deployment")["metadata"]["name"]
    pdb, service = _one(objects, "PodDisruptionBudget"), _one(objects, "Service")
    labels = _one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["maxUnavailable"]


# ---------------------------------------------------------------- training


def test_training_job_wires_msrun_across_the_indexed_pods() -> None:
    objects = _kustomize(KUBE_DIR / "training")
    job, headless = _one(objects, "Job"), _one(objects, "Service")
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    args = _parse_cli(container["args"])
    assert args.command == "train"
    nodes = job["spec"]["completions"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == nodes == args.nodes > 1
    # node rank = the pod's completion index, through the downward API
    assert "$(NODE_RANK)" in container["args"]
    rank = next(e for e in container["env"] if e["name"] == "NODE_RANK")
    assert rank["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    # rank 0's stable DNS name through the headless Service: <job>-0.<subdomain>
    assert headless["spec"]["clusterIP"] == "None"
    assert spec["subdomain"] == headless["metadata"]["name"]
    assert args.master_addr == f"{job['metadata']['name']}-0.{spec['subdomain']}"
    assert headless["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    assert headless["spec"]["publishNotReadyAddresses"]
    assert args.master_port == headless["spec"]["ports"][0]["port"]
    assert args.master_port == container["ports"][0]["containerPort"]
    # one msrun worker per NPU of the pod
    npu = next(k for k in container["resources"]["limits"] if NPU_RESOURCE.match(k))
    assert args.devices == container["resources"]["limits"][npu] == 8
    # checkpoints on the shared volume, resumed after a pod is rescheduled
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert args.auto_resume and str(args.output).startswith("/runs/")
    runs = next(v for v in spec["volumes"] if v["name"] == mounts["/runs"]["name"])
    claim = _one(objects, "PersistentVolumeClaim", runs["persistentVolumeClaim"]["claimName"])
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    assert str(args.data) in mounts and mounts[str(args.data)]["readOnly"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_default_detector_is_fetched_where_the_service_reads_it(variant: str) -> None:
    """An init container puts the default detector (``auto`` = rtmdet-nano-person) into the
    cache volume the offline service reads, so images without boxes get real person boxes."""
    from simplepose.detection.zoo import DEFAULT_DETECTOR_WEIGHTS
    from simplepose.hub.registry import detector_path, lookup

    objects = _kustomize(KUBE_DIR / variant)
    spec = _one(objects, "Deployment")["spec"]["template"]["spec"]
    service, init = _container(spec, "keypoints"), _container(spec, "fetch-detector")
    fetch = _parse_cli(init["args"])
    assert (fetch.command, fetch.weights_command, fetch.name) == (
        "weights", "get", DEFAULT_DETECTOR_WEIGHTS)  # fmt: skip
    env = _env(service, objects)
    assert env["SIMPLEPOSE_DETECTOR"] == "auto" and env["SIMPLEPOSE_OFFLINE"] == "true"
    graph = detector_path(lookup(fetch.name), fetch.cache_dir)
    mounts = {c["name"]: {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
              for c in (service, init)}  # fmt: skip
    assert graph.is_relative_to(env["SIMPLEPOSE_CACHE_DIR"]) and fetch.cache_dir == "/cache"
    assert mounts["keypoints"]["/cache"] == mounts["fetch-detector"]["/cache"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_model_is_exported_where_mindspore_is(variant: str) -> None:
    """``weights get`` converts and exports (MindSpore): the init container runs the Ascend image
    (on a CPU too); the CPU variant's service runs the CPU image, which has no MindSpore."""
    objects = _kustomize(KUBE_DIR / variant)
    spec = _one(objects, "Deployment")["spec"]["template"]["spec"]
    assert _container(spec, "fetch-model")["image"].split(":")[1].startswith("ascend")
    assert _container(spec, "keypoints")["image"].split(":")[1].startswith(variant)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_pod_reads_the_pinned_digests_of_the_cluster(variant: str, tmp_path: Path) -> None:
    """Each pod's emptyDir cache is a new first download: the init container (which downloads)
    and the service read the cluster's pins from the ConfigMap, and the shipped file parses."""
    from simplepose.hub.pins import PINNED_DIGESTS_ENV, read_pins

    objects = _kustomize(KUBE_DIR / variant)
    spec = _one(objects, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v.get("configMap", {}).get("name")
                 == "simplepose-digests"]  # fmt: skip
    pins = _one(objects, "ConfigMap", "simplepose-digests")["data"]
    for name in ("fetch-model", "fetch-detector", "keypoints"):
        container = _container(spec, name)
        where = Path(_env(container, objects)[PINNED_DIGESTS_ENV])
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert where.parent == Path(mount["mountPath"]) and where.name in pins
    sums = tmp_path / "sha256sums"
    sums.write_text(pins["sha256sums"])
    assert read_pins(sums) == {}  # shipped empty: the operator pins what they downloaded
