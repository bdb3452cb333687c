"""Reading configs: a preset name or YAML file, ``section.key=value`` overrides, and the
plain dicts ``Config.to_dict()`` saves (checkpoints, model.json, a run's config.yaml).

Every value is checked against the dataclass field types in ``simplepose.config.presets``; unknown keys
and wrong types are ``ValueError`` naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from simplepose.config.presets import Config, get_preset
from simplepose.pose.keypoints import KeypointSet


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{key} expects a list, got {value!r}")
        args = get_args(hint)
        item = args[0]
        if (len(args) != 2 or args[1] is not Ellipsis) and len(value) != len(args):
            raise ValueError(f"{key} expects {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, item, key) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} expects true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} expects an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} expects a number, got {value!r}")
        return float(value)
    if hint is str:
        return str(value)
    return value


def _apply(obj: Any, updates: Mapping[str, Any], prefix: str = "") -> Any:
    hints = get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    changes = {}
    for key, value in updates.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ValueError(f"unknown config key {full!r}; allowed: {', '.join(sorted(names))}")
        current = getattr(obj, key)
        if isinstance(current, KeypointSet):
            changes[key] = KeypointSet.from_dict(value, full)
        elif dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ValueError(f"{full} is a section; give a mapping, got {value!r}")
            changes[key] = _apply(current, value, f"{full}.")
        else:
            changes[key] = _coerce(value, hints[key], full)
    if "keypoints" in changes and "num_joints" not in updates.get("model", {}):
        model = changes.get("model", obj.model)
        changes["model"] = replace(model, num_joints=changes["keypoints"].num_keypoints)
    return replace(obj, **changes)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["train.lr=0.01", "model.input_size=[96,128]"]`` into a nested mapping."""
    nested: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        node = nested
        parts = dotted.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def load_config(
    name_or_path: str | Path = "res50_256x192",
    overrides: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve a preset name or a YAML file, then apply ``extra`` and ``key=value`` overrides.

    A YAML file may name a base preset with ``preset: NAME`` and override any key below it.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: top level must be a mapping")
        base = get_preset(str(data.pop("preset", "res50_256x192")))
        data.setdefault("name", path.stem)
        cfg = _apply(base, data)
    else:
        cfg = get_preset(str(name_or_path))
    if extra:
        cfg = _apply(cfg, extra)
    cfg = _apply(cfg, parse_overrides(overrides))
    return cfg.validate()


# Keys older versions wrote into saved configs (checkpoints, model.json, run config.yaml) that are
# no longer read; dropped on load so those files keep working.
RETIRED_KEYS = {"test": ("bbox_thre",)}


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Rebuild a Config from ``Config.to_dict()`` output (e.g. a run's saved config); one
    saved without a ``keypoints`` section describes COCO-17."""
    data = dict(data)
    for section, keys in RETIRED_KEYS.items():
        if isinstance(data.get(section), Mapping):
            data[section] = {k: v for k, v in data[section].items() if k not in keys}
    return _apply(Config(), data).validate()
