"""Stage logic: a stage's options, the configuration of each trial, the winner carried on.

A trial is identified by its resolved configuration (a hash of everything but its name and
folder), so the same configuration met again in a later stage, or after an interruption,
is the same trial and is never trained twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoscope.config import _deep_update, from_dict, load_yaml, to_dict
from emoscope.errors import UserError
from emoscope.study.config import StageConfig
from emoscope.training.emotic_config import EmoticConfig

IDENTITY_EXCLUDED = ("name", "out_dir")  # where a trial lives is not what it is


@dataclass
class Trial:
    """One training run of a stage: its option label, overrides and resolved config."""

    stage: str
    label: str
    overrides: dict[str, Any]  # everything on top of the base: carried + stage set + option
    config: dict[str, Any]  # the resolved EMOTIC config (as a dict)
    key: str = ""
    status: str = "pending"  # pending | done | failed
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    pid: int = 0  # the process that trained it (0: read back from an earlier run)

    def score(self, metric: str) -> float:
        value = self.metrics.get(metric)
        return float(value) if isinstance(value, int | float) and math.isfinite(value) \
            else float("nan")


def flatten(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys all the way down (``{"data": {"root": x}}`` -> ``{"data.root": x}``), so
    overrides written either way, and ``--set set.data.root=...``, combine key by key."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"model.fusion": "x"}`` -> ``{"model": {"fusion": "x"}}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def base_config(base: str | Path | None) -> dict[str, Any]:
    """The EMOTIC defaults updated by the base experiment YAML (if any), as a dict."""
    merged = to_dict(EmoticConfig())
    if base:
        _deep_update(merged, load_yaml(base))
    return merged


def resolve(base: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """``base`` + dotted ``overrides``, validated as an ``EmoticConfig``; a dict back."""
    merged = json.loads(json.dumps(base))
    _deep_update(merged, nest(overrides))
    try:
        return to_dict(from_dict(EmoticConfig, merged))
    except UserError as err:
        raise UserError(f"{where}: {err}") from None


def trial_key(config: dict[str, Any]) -> str:
    identity = {k: v for k, v in config.items() if k not in IDENTITY_EXCLUDED}
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def stage_options(stage: StageConfig) -> list[tuple[str, dict[str, Any]]]:
    """(label, overrides) of every combination: named options x grid values, in file order."""
    named = list(stage.options.items()) or [("", {})]
    keys = list(stage.grid)
    combos = list(itertools.product(*(stage.grid[k] for k in keys))) if keys else [()]
    options = []
    for (name, option), values in itertools.product(named, combos):
        grid_part = dict(zip(keys, values, strict=True))
        label = ", ".join([name] * bool(name) + [f"{_short(k)}={v}" for k, v in
                                                 grid_part.items()])
        options.append((label, {**option, **grid_part}))
    return options


def make_trial(stage: StageConfig, label: str, option: dict[str, Any], carried: dict[str, Any],
               base: dict[str, Any], where: str) -> Trial:
    overrides = {**flatten(carried), **flatten(stage.set), **flatten(option)}
    config = resolve(base, overrides, f"{where}: stage '{stage.name}' option '{label}'")
    return Trial(stage.name, label, overrides, config, trial_key(config))


def best_trial(trials: list[Trial], metric: str, mode: str = "max") -> Trial | None:
    """The finished trial with the best ``metric`` (first one on ties); None if none scored."""
    scored = [t for t in trials if t.status == "done" and not math.isnan(t.score(metric))]
    if not scored:
        return None
    sign = 1.0 if mode == "max" else -1.0
    return max(scored, key=lambda t: sign * t.score(metric))  # max keeps the first of equals


def option_from_params(stage: StageConfig, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(label, overrides) of the combination an Optuna trial chose (see ``stage_options``)."""
    name = params.get("option", "")
    grid_part = {k: params[k] for k in stage.grid}
    label = ", ".join([name] * bool(name) + [f"{_short(k)}={v}" for k, v in grid_part.items()])
    return label, {**stage.options.get(name, {}), **grid_part}
