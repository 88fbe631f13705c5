"""Typed configuration of a staged study (``emoscope study STUDY.yaml``).

A study starts every trial from ``base`` (an EMOTIC experiment YAML, or the EMOTIC defaults)
plus ``set``; each stage then tries its options on top of the best configuration of the
stages before it. Keys of ``set``, ``grid`` and ``options`` are dotted config keys
(``model.fusion``, ``loss.categorical``), exactly as ``--set`` takes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoscope.errors import UserError

ENGINES = ("grid", "optuna")


@dataclass
class StageConfig:
    """One stage: the cartesian product of ``grid`` times the named ``options``.

    grid: key -> values (every combination is a trial). options: label -> overrides (explicit
    alternatives, e.g. an augmentation level that sets three keys). set: overrides shared by
    every trial of this stage (and carried on with its winner). engine ``optuna``: sample
    ``n_trials`` of the combinations with Optuna's TPE sampler instead of trying them all.
    """

    name: str = ""
    grid: dict[str, list[Any]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    engine: str = "grid"
    n_trials: int = 0


@dataclass
class StudyConfig:
    name: str = "study"
    out_dir: str = "runs/studies"
    base: str = ""  # experiment YAML every trial starts from (relative to the study file)
    set: dict[str, Any] = field(default_factory=dict)  # overrides of every trial
    metric: str = "val/mAP"  # a key of the trials' best validation scores
    mode: str = "max"  # max | min
    parallel: int = 1  # >1: trials of a stage run in that many processes (Ray)
    evaluate_test: bool = True  # evaluate the final configuration on the test split
    seed: int = 0  # Optuna's sampler seed
    stages: list[StageConfig] = field(default_factory=list)


def validate_study(cfg: StudyConfig, source: str | Path) -> None:
    """Fail with one line naming the study file and the problem."""
    if not cfg.stages:
        raise UserError(f"{source}: a study needs at least one entry under 'stages'")
    if cfg.mode not in ("max", "min"):
        raise UserError(f"{source}: mode '{cfg.mode}'; known: max, min")
    if cfg.parallel < 1:
        raise UserError(f"{source}: parallel must be at least 1, got {cfg.parallel}")
    names = [stage.name for stage in cfg.stages]
    for i, stage in enumerate(cfg.stages):
        label = stage.name or f"#{i + 1}"
        if not stage.name:
            raise UserError(f"{source}: stage {label} has no name")
        if names.count(stage.name) > 1:
            raise UserError(f"{source}: stage name '{stage.name}' is used twice")
        if stage.engine not in ENGINES:
            raise UserError(f"{source}: stage '{label}' engine '{stage.engine}'; known: "
                            + ", ".join(ENGINES))
        if not stage.grid and not stage.options:
            raise UserError(f"{source}: stage '{label}' has neither 'grid' nor 'options'")
        empty = [key for key, values in stage.grid.items()
                 if not isinstance(values, list) or not values]
        if empty:
            raise UserError(f"{source}: stage '{label}' grid key '{empty[0]}' needs a non-empty "
                            "list of values")
        bad = [k for k, v in stage.options.items() if not isinstance(v, dict)]
        if bad:
            raise UserError(f"{source}: stage '{label}' option '{bad[0]}' must map keys to "
                            "values")
