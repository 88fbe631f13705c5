"""The training tasks: what a YAML describes, its typed config, the function that trains it and
the ``emoscope evaluate --dataset`` names its evaluator scores.

``emoscope train CONFIG`` and ``emoscope evaluate`` both look tasks up here. A new task is its
own files (a config dataclass with an ``is_<task>_config`` detector, a ``TaskModule``
subclass, a ``train_<task>(cfg, resume, command) -> TrainResult``) plus one ``register_task``
call below. References are ``"module:attribute"`` strings inside ``emoscope.training``, so
reading the registry imports no task's code (nor torch).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Task:
    name: str
    config: str  # "module:Class" of its typed config
    train: str  # "module:function(cfg, resume=False, command=None) -> TrainResult"
    detector: str = ""  # "module:function(mapping) -> bool": whether a YAML is of this task
    datasets: tuple[str, ...] = ()  # the evaluate --dataset names of this task's evaluator


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task``; YAML detectors are tried in registration order."""
    TASKS[task.name] = task
    return task


def _load(reference: str) -> Any:
    module, attribute = reference.split(":")
    return getattr(importlib.import_module(module), attribute)


_T = "emoscope.training."
register_task(Task("clef", f"{_T}clef_config:ClefConfig", f"{_T}train_clef:train_clef",
                   f"{_T}clef_config:is_clef_config", ("caer_s", "emotic_clef")))
register_task(Task("affwild2", f"{_T}affwild2_config:AffWild2Config",
                   f"{_T}train_affwild2:train_affwild2",
                   f"{_T}affwild2_config:is_affwild2_config", ("affwild2",)))
register_task(Task("emotic", f"{_T}emotic_config:EmoticConfig", f"{_T}train_emotic:train_emotic",
                   f"{_T}emotic_config:is_emotic_config", ("emotic",)))
register_task(Task("speech", f"{_T}speech_config:SpeechTrainConfig",
                   f"{_T}train_speech:train_speech", f"{_T}speech_config:is_speech_config",
                   ("ravdess", "crema_d")))
# Face-expression classification (FER2013, FER+, image folders): any YAML no detector claims.
FACE_CLASSIFICATION = register_task(Task("classification", f"{_T}config:TrainConfig",
                                         f"{_T}train:train"))


def task_of(written: dict[str, Any] | None) -> Task:
    """The task of a YAML mapping (``task:`` key or dataset name; see each detector)."""
    for task in TASKS.values():
        if task.detector and _load(task.detector)(written or {}):
            return task
    return FACE_CLASSIFICATION


def task_of_dataset(dataset: str) -> Task:
    """The task whose evaluator scores ``evaluate --dataset``; face classification otherwise."""
    for task in TASKS.values():
        if dataset in task.datasets:
            return task
    return FACE_CLASSIFICATION


def config_class(task: Task) -> type:
    return _load(task.config)


def train_function(task: Task):
    return _load(task.train)


def train_yaml(config: str | Path, overrides: list[str] | None = None, resume: bool = False,
               command: str | None = None) -> tuple[Any, Any]:
    """Merge ``config`` (+ ``key=value`` overrides) into its task's config and train it:
    ``(config, TrainResult)``."""
    from emoscope.config import load_yaml, merge_config

    task = task_of(load_yaml(config))
    cfg = merge_config(config_class(task), config, overrides)
    return cfg, train_function(task)(cfg, resume=resume, command=command)
