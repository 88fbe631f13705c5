"""``run_study``: run the stages of a study, carrying each stage's winner into the next, then
write the tables, plots and the chosen configuration, and evaluate it on test."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emoscope.config import from_dict, merge_config
from emoscope.errors import UserError
from emoscope.study import report
from emoscope.study.config import StageConfig, StudyConfig, validate_study
from emoscope.study.engines import run_optuna_stage, run_trials, trial_dir
from emoscope.study.stages import (
    Trial,
    base_config,
    best_trial,
    make_trial,
    option_from_params,
    stage_options,
)
from emoscope.training.emotic_config import EmoticConfig
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)

Executor = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class StageResult:
    stage: StageConfig
    trials: list[Trial]
    best: Trial


@dataclass
class StudyResult:
    folder: Path
    stages: list[StageResult] = field(default_factory=list)
    chosen: dict[str, Any] = field(default_factory=dict)  # the final EMOTIC config
    chosen_path: Path | None = None
    test: dict[str, Any] | None = None  # the final configuration's test scores


def load_study(path: str | Path, overrides: list[str] | None = None) -> StudyConfig:
    """The study YAML merged with ``--set`` overrides (``set.data.root=...`` etc.)."""
    try:
        cfg = merge_config(StudyConfig, path, overrides)
    except UserError as err:
        message = str(err)
        raise UserError(message if message.startswith(str(path)) else f"{path}: {message}") \
            from None
    validate_study(cfg, path)
    return cfg


def _base_path(base: str, source: Path) -> Path | None:
    if not base:
        return None
    beside = source.parent / base
    return beside if not Path(base).is_absolute() and beside.is_file() else Path(base)


def _placed(trial: Trial, trials_dir: Path) -> Trial:
    trial.config["name"], trial.config["out_dir"] = trial.key, str(trials_dir)
    return trial


def _run_stage(index: int, stage: StageConfig, cfg: StudyConfig, carried: dict[str, Any],
               base: dict[str, Any], source: Path, folder: Path,
               execute: Executor | None) -> list[Trial]:
    trials_dir = folder / "trials"

    def make(label: str, option: dict[str, Any]) -> Trial:
        return _placed(make_trial(stage, label, option, carried, base, str(source)), trials_dir)

    if stage.engine == "optuna":
        return run_optuna_stage(stage, lambda params: make(*option_from_params(stage, params)),
                                folder / "optuna.journal", cfg.metric, cfg.mode, cfg.parallel,
                                cfg.seed + index, folder / "ray", execute)
    trials = [make(label, option) for label, option in stage_options(stage)]
    run_trials(trials, cfg.parallel, folder / "ray", execute)
    return trials


def run_study(cfg: StudyConfig, source: str | Path, execute: Executor | None = None,
              evaluate: Callable[[dict[str, Any], Path], dict[str, Any]] | None = None
              ) -> StudyResult:
    """Every stage in order; finished trials are read back (a rerun resumes the study).

    execute/evaluate: replace the training of a trial / the test evaluation (tests).
    """
    source = Path(source)
    validate_study(cfg, source)
    folder = Path(cfg.out_dir) / cfg.name
    base = base_config(_base_path(cfg.base, source))
    result = StudyResult(folder)
    carried = dict(cfg.set)
    for index, stage in enumerate(cfg.stages):
        log.info("study %s: stage %d/%d '%s'", cfg.name, index + 1, len(cfg.stages), stage.name)
        trials = _run_stage(index, stage, cfg, carried, base, source, folder, execute)
        best = best_trial(trials, cfg.metric, cfg.mode)
        if best is None:
            reasons = "; ".join(sorted({t.error for t in trials if t.error})) or "no score"
            raise UserError(f"{source}: no trial of stage '{stage.name}' produced "
                            f"{cfg.metric} ({reasons})")
        result.stages.append(StageResult(stage, trials, best))
        report.write_stage(folder, index, stage.name, trials, best, cfg.metric)
        carried = dict(best.overrides)
    final = result.stages[-1].best
    result.chosen, result.chosen_path = _write_chosen(cfg, final, folder)
    if cfg.evaluate_test:
        result.test = (evaluate or evaluate_on_test)(final.config, folder / "test")
    report.write_overall(folder, cfg, result.stages, result.test)
    return result


def _write_chosen(cfg: StudyConfig, final: Trial, folder: Path) -> tuple[dict[str, Any], Path]:
    """``chosen.yaml``: the winning configuration as a ready EMOTIC experiment YAML."""
    chosen = from_dict(EmoticConfig, dict(final.config))
    chosen.name, chosen.out_dir = f"{cfg.name}-chosen", "runs/emotic"
    from emoscope.config import to_dict

    data = to_dict(chosen)
    header = (f"# Chosen by 'emoscope study' ({cfg.name}): trial {final.key}, "
              f"{cfg.metric} {final.score(cfg.metric):.4f} on validation.\n"
              f"# Overrides on top of the study's base: {final.overrides}\n")
    path = folder / "chosen.yaml"
    atomic_write_text(path, header + yaml.safe_dump(data, sort_keys=False))
    return data, path


def evaluate_on_test(config: dict[str, Any], out: Path) -> dict[str, Any]:
    """The final trial's exported model scored on the test split: the evaluation report
    (thresholds chosen on the validation split) and evaluation_metrics.{txt,json} in ``out``."""
    from emoscope.evaluation.multilabel import write_report
    from emoscope.evaluation.report import emotic_report

    model = trial_dir(config) / "model.safetensors"
    done = out / "report.json"
    if done.is_file() and done.stat().st_mtime >= model.stat().st_mtime:
        stored = json.loads(done.read_text())
        if stored.get("model_path") == str(model):  # a rerun: this model was evaluated
            return stored
    data = config["data"]
    report_data = emotic_report(model, data["root"],
                                data["test_split"], out, data["val_split"],
                                config["trainer"]["eval_batch_size"])
    write_report(report_data, out)
    return report_data
