"""Where trials run: in this process one after another, in parallel processes through Ray, and
(for search spaces too big to enumerate) chosen by Optuna's sampler.

A trial is a normal EMOTIC training run in its own folder (config.yaml, checkpoints,
metrics.csv, model, final_metrics.json). A trial whose folder holds ``final_metrics.json`` is
finished and is read back, never rerun; an interrupted one continues from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emoscope.study.config import StageConfig
from emoscope.study.stages import Trial
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)

FINISHED = "final_metrics.json"


def trial_dir(config: dict[str, Any]) -> Path:
    return Path(config["out_dir"]) / config["name"]


def finished_metrics(config: dict[str, Any]) -> dict[str, Any] | None:
    """The best validation scores of a finished trial, or None."""
    path = trial_dir(config) / FINISHED
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("best", {})


def execute_trial(config: dict[str, Any]) -> dict[str, Any]:
    """Train one trial (continuing its folder); ``{"status", "metrics", "error"}``.

    Runs in this process or in a Ray worker; a failing trial is recorded, not raised, so the
    other trials of the stage still run (its traceback goes to ``error.txt`` in its folder).
    """
    from emoscope.config import from_dict
    from emoscope.training.emotic_config import EmoticConfig
    from emoscope.training.train_emotic import train_emotic

    cfg = from_dict(EmoticConfig, config)
    try:
        result = train_emotic(cfg, resume=True, command=f"emoscope study (trial {cfg.name})")
    except Exception as err:  # noqa: BLE001  (any failure is this trial's result)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        atomic_write_text(trial_dir(config) / "error.txt", traceback.format_exc())
        log.warning("trial %s failed: %s", cfg.name, reason)
        return {"status": "failed", "metrics": {}, "error": reason[:300], "pid": os.getpid()}
    return {"status": "done", "metrics": result.metrics, "error": "", "pid": os.getpid()}


# Ray's socket paths (about 70 characters below its temp dir) must fit in 107 bytes.
RAY_MAX_TEMP_PATH = 36


def _execute_with_ray(configs: list[dict[str, Any]], parallel: int,
                      temp_dir: Path) -> list[dict[str, Any]]:
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    temp_dir = temp_dir.resolve()
    temp_dir.mkdir(parents=True, exist_ok=True)
    short = None
    if len(str(temp_dir)) > RAY_MAX_TEMP_PATH:  # too deep for Ray's sockets: a short link
        short = Path(tempfile.mkdtemp(prefix="emoscope-ray-")) / "r"
        short.symlink_to(temp_dir, target_is_directory=True)
    ray.init(address="local", num_cpus=parallel, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(short or temp_dir), ignore_reinit_error=True)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(execute_trial)
        return ray.get([task.remote(config) for config in configs])
    finally:
        ray.shutdown()
        if short is not None:  # Ray's files stay in temp_dir; only the link goes
            short.unlink()
            short.parent.rmdir()


def run_trials(trials: list[Trial], parallel: int = 1, temp_dir: Path | None = None,
               execute: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
    """Fill each trial's status and metrics: finished ones are read back, the others run
    (in ``parallel`` Ray processes when more than one is pending)."""
    pending: dict[str, Trial] = {}
    for trial in trials:
        metrics = finished_metrics(trial.config)
        if metrics is not None:
            trial.status, trial.metrics = "done", metrics
        elif trial.key not in pending:
            pending[trial.key] = trial
    todo = list(pending.values())
    if todo:
        log.info("study: %d trial(s) to run, %d finished before", len(todo),
                 len(trials) - len(todo))
    if parallel > 1 and len(todo) > 1:
        outcomes = _execute_with_ray([t.config for t in todo], parallel,
                                     temp_dir or Path(".ray"))
    else:
        run = execute or execute_trial
        outcomes = [run(t.config) for t in todo]
    for trial, outcome in zip(todo, outcomes, strict=True):
        trial.status, trial.metrics, trial.error = (outcome["status"], outcome["metrics"],
                                                    outcome.get("error", ""))
        trial.pid = int(outcome.get("pid", 0))
    by_key = {t.key: t for t in todo}
    for trial in trials:  # the same configuration twice in one stage: one run
        if trial.status == "pending" and trial.key in by_key:
            done = by_key[trial.key]
            trial.status, trial.metrics, trial.error = done.status, done.metrics, done.error


def optuna_params(trial: Any, stage: StageConfig) -> dict[str, Any]:
    """One Optuna parameter per grid key (and ``option`` for named options)."""
    params = {}
    if stage.options:
        params["option"] = trial.suggest_categorical("option", list(stage.options))
    for key, values in stage.grid.items():
        params[key] = trial.suggest_categorical(key, list(values))
    return params


def run_optuna_stage(stage: StageConfig, make: Callable[[dict[str, Any]], Trial],
                     journal: Path, metric: str, mode: str, parallel: int, seed: int,
                     temp_dir: Path,
                     execute: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                     ) -> list[Trial]:
    """``stage.n_trials`` trials chosen by Optuna's TPE sampler (ask/tell, ``parallel`` at a
    time); the journal file keeps Optuna's state, so a rerun continues the search."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=stage.name, storage=JournalStorage(JournalFileBackend(str(journal))),
        load_if_exists=True, direction="maximize" if mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed))
    trials = [make(dict(t.params)) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))]
    run_trials(trials, 1, temp_dir, execute)  # finished before: read back
    total = stage.n_trials or 1
    while len(trials) < total:
        asked = [study.ask() for _ in range(min(parallel, total - len(trials)))]
        batch = [make(optuna_params(t, stage)) for t in asked]
        run_trials(batch, parallel, temp_dir, execute)
        for optuna_trial, trial in zip(asked, batch, strict=True):
            score = trial.score(metric)
            if trial.status == "done" and score == score:
                study.tell(optuna_trial, score)
            else:
                study.tell(optuna_trial, state=TrialState.FAIL)
        trials += batch
    return trials
