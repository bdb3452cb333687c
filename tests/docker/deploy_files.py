"""Readers for the deployment files, without a Docker engine: Dockerfiles, docker-compose.yml
(with ``${VAR:-default}`` interpolation, ``<<`` merge keys and the ``!reset``/``!override``
tags of override files), .dockerignore; plus the service settings they must agree with."""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simplepose.serving.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = REPO / "docker-compose.yml"
RUNTIME_OVERRIDE = DOCKER_DIR / "compose.ascend-runtime.yml"
DOCKERFILES = {"cpu": DOCKER_DIR / "Dockerfile.cpu", "ascend": DOCKER_DIR / "Dockerfile.ascend"}
ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"
INSTALL_SH = DOCKER_DIR / "install.sh"
HEALTHCHECK = DOCKER_DIR / "healthcheck.py"

# What a container needs to reach an NPU without the Ascend Docker Runtime (the device nodes
# and driver paths the Ascend container guide lists).
NPU_CONTROL_DEVICES = ("/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc")
NPU_DEVICE = re.compile(r"^/dev/davinci\d+$")
DRIVER_MOUNTS = (
    "/usr/local/Ascend/driver",
    "/usr/local/dcmi",
    "/usr/local/bin/npu-smi",
    "/etc/ascend_install.info",
)
ENV_NAME = re.compile(re.escape(ENV_PREFIX) + r"[A-Z0-9_]+")


def settings_env_names() -> set[str]:
    """Every environment variable the service reads: ``SIMPLEPOSE_<FIELD>``."""
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


# ---------------------------------------------------------------- Dockerfiles


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the logical line, continuations joined
    stage: int  # index of the FROM it belongs to


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Logical instructions of a Dockerfile (comments dropped, ``\\`` continuations joined)."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, args.strip(), stage))
    if pending:
        raise ValueError(f"{path}: dangling line continuation")
    return instructions


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    """Default values of the ``ARG NAME=value`` declarations."""
    args = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            args[name.strip()] = value.strip().strip('"')
    return args


def env_settings(instructions: list[Instruction], stage: int | None = None) -> dict[str, str]:
    """``ENV`` key=value pairs (of one stage, or all)."""
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ENV" and (stage is None or ins.stage == stage):
            for token in shlex.split(ins.args):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form instruction (CMD, ENTRYPOINT, HEALTHCHECK ... CMD)."""
    match = re.search(r"\[.*\]", args)
    if not match:
        raise ValueError(f"not in exec form: {args!r}")
    return yaml.safe_load(match.group(0))


def copy_sources(instructions: list[Instruction]) -> list[str]:
    """Build-context paths used by ``COPY`` (not ``COPY --from``)."""
    sources = []
    for ins in instructions:
        if ins.keyword == "COPY" and "--from" not in ins.args:
            parts = [p for p in shlex.split(ins.args) if not p.startswith("--")]
            sources.extend(parts[:-1])
    return sources


# ---------------------------------------------------------------- compose


class Reset:
    """``!reset``: drop the attribute inherited from the base file."""


@dataclass
class Override:
    """``!override``: replace the attribute inherited from the base file."""

    value: Any


class ComposeLoader(yaml.SafeLoader):
    pass


def _reset(loader: ComposeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: ComposeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    return Override(loader.construct_scalar(node))


ComposeLoader.add_constructor("!reset", _reset)
ComposeLoader.add_constructor("!override", _override)

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR-default}`` and ``${VAR:-default}`` substitution."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, op, default = match["name"], match["op"], match["default"]
            if name in env and (op != ":-" or env[name]):
                return env[name]
            if op:
                return default
            return ""

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, Override):
        return Override(interpolate(value.value, env))
    return value


def load_compose(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    with path.open() as f:
        data = yaml.load(f, Loader=ComposeLoader)  # noqa: S506 - SafeLoader subclass
    return interpolate(data, env or {})


def merge(base: Any, override: Any) -> Any:
    """Compose's merge of an override file: mappings merge, sequences append, tags win."""
    if isinstance(override, Reset):
        return None
    if isinstance(override, Override):
        return override.value
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            result = merge(base.get(key), value)
            if result is None and isinstance(value, Reset):
                merged.pop(key, None)
            else:
                merged[key] = result
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + [v for v in override if v not in base]
    return override


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def mounts(service: Mapping[str, Any]) -> list[Mount]:
    """Short-syntax ``volumes`` entries as (source, target, read-only)."""
    result = []
    for entry in service.get("volumes", []):
        parts = entry.split(":")
        if len(parts) == 2:
            parts.append("rw")
        source, target, mode = parts
        result.append(Mount(source, target, "ro" in mode.split(",")))
    return result


def environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def mount_for(service: Mapping[str, Any], container_path: str) -> Mount | None:
    """The volume a container path lives on (longest matching target)."""
    holding = [
        m
        for m in mounts(service)
        if container_path == m.target or container_path.startswith(m.target.rstrip("/") + "/")
    ]
    return max(holding, key=lambda m: len(m.target), default=None)


def option(command: list[str], name: str) -> str:
    """Value of ``--name VALUE`` in a command list."""
    if name not in command:
        raise AssertionError(f"{name} missing from {command}")
    return command[command.index(name) + 1]


# ---------------------------------------------------------------- .dockerignore


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether ``path`` (relative, ``/``-separated) is left out of the build context.

    Docker's rule: the last pattern matching the path or one of its parent directories wins;
    ``!`` re-includes; ``**`` matches any number of directories.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        regex = _dockerignore_regex(pattern.strip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    pieces = []
    for piece in pattern.split("/"):
        if piece == "**":
            pieces.append("(?:[^/]+/)*")
        else:  # fnmatch's regex without its (?s: ... )\Z wrapper; * stays within one name
            pieces.append(fnmatch.translate(piece)[4:-3].replace(".*", "[^/]*") + "/")
    return re.compile("".join(pieces).removesuffix("/"))


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
