"""Which experiment a YAML describes: its config dataclass and the command module that runs it.

``emoscope train CONFIG`` and the shipped-config tests both go through ``task_of``, so a new
task is one entry in ``TASKS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    name: str
    detector: str  # "module:function" telling whether a YAML mapping is of this task
    config: str  # "module:Class" of its typed config
    runner: str  # "module:function(config_path, overrides, resume, command)"


def _load(reference: str) -> Any:
    module, attribute = reference.split(":")
    return getattr(importlib.import_module(module), attribute)


# Checked in order; the first match wins and FER-style classification is the fallback.
TASKS = (
    Task("clef", "emoscope.training.clef_config:is_clef_config",
         "emoscope.training.clef_config:ClefConfig", "emoscope.cli.caer_cmd:run_clef"),
    Task("affwild2", "emoscope.training.affwild2_config:is_affwild2_config",
         "emoscope.training.affwild2_config:AffWild2Config",
         "emoscope.cli.affwild2_cmd:run_affwild2"),
    Task("emotic", "emoscope.training.emotic_config:is_emotic_config",
         "emoscope.training.emotic_config:EmoticConfig", "emoscope.cli.emotic_cmd:run_emotic"),
    Task("speech", "emoscope.training.speech_config:is_speech_config",
         "emoscope.training.speech_config:SpeechTrainConfig",
         "emoscope.cli.speech_cmd:run_speech_training"),
)
FACE_CLASSIFICATION = Task("classification", "", "emoscope.training.config:TrainConfig", "")


def task_of(written: dict[str, Any] | None) -> Task:
    """The task of a YAML mapping (``task:`` key or dataset name; see each detector)."""
    for task in TASKS:
        if _load(task.detector)(written or {}):
            return task
    return FACE_CLASSIFICATION


def config_class(task: Task) -> type:
    return _load(task.config)


def runner(task: Task):
    return _load(task.runner)
