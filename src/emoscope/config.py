"""Typed dataclass configs merged from defaults, a YAML file and ``--set key=value`` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from emoscope.errors import UserError

C = TypeVar("C")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn YAML/CLI values into the field's declared type (nested dataclasses included)."""
    tp = _strip_optional(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, dict):
            raise UserError(f"config '{where}' must be a mapping, got {value!r}")
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_coerce(v, inner, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is Any or origin is typing.Literal:
        return value
    try:
        if tp is bool and isinstance(value, str):
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return lowered in ("true", "1", "yes")
        if tp in (int, float, str, bool):
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return tp(value)
    except (TypeError, ValueError):
        raise UserError(f"config '{where}': cannot read {value!r} as {tp.__name__}") from None
    return value


def from_dict(cls: type[C], data: dict[str, Any], where: str = "") -> C:
    """Build dataclass ``cls`` from a mapping; unknown keys fail naming the known ones."""
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        prefix = f"{where}." if where else ""
        raise UserError(
            f"unknown config key(s) {', '.join(prefix + k for k in sorted(unknown))}; "
            f"known: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _deep_update(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def parse_key_values(items: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``, values parsed as YAML."""
    pairs: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"{flag} expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        pairs[key.strip()] = yaml.safe_load(raw) if raw != "" else ""
    return pairs


def parse_overrides(overrides: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    """``["train.lr=0.1", "model.backbone=resnet18"]`` -> nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for key, value in parse_key_values(overrides, flag).items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({err.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config file must hold a mapping at the top level")
    return data


def merge_config(
    cls: type[C], yaml_path: str | Path | None = None, overrides: list[str] | None = None
) -> C:
    """Defaults of ``cls`` <- YAML file <- ``key=value`` overrides, validated by type."""
    merged = to_dict(cls())
    if yaml_path is not None:
        _deep_update(merged, load_yaml(yaml_path))
    _deep_update(merged, parse_overrides(overrides))
    return from_dict(cls, merged)


def save_config(cfg: Any, path: str | Path) -> None:
    from emoscope.utils.files import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))
