"""The task registry: ``emoscope train`` and ``emoscope evaluate`` find every task through
``training/tasks.py``; a new task is its own code plus one registration."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import yaml

from emoscope.cli.evaluate_tasks import EVALUATORS
from emoscope.training import tasks
from emoscope.training.tasks import Task, register_task, task_of_dataset, train_yaml

CALLS: list = []


@dataclass
class ToyData:
    val_split: str = "val"


@dataclass
class ToyConfig:
    task: str = "toy"
    name: str = "toy"
    lr: float = 0.1
    data: ToyData = field(default_factory=ToyData)


def is_toy_config(written) -> bool:
    return written.get("task") == "toy"


def train_toy(cfg: ToyConfig, resume: bool = False, command: str | None = None):
    CALLS.append((cfg, resume, command))
    return SimpleNamespace(metrics={"val/accuracy": 1.0}, model_path="m", run_dir="r")


def test_evaluate_datasets_map_onto_their_tasks():
    names = {d: task_of_dataset(d).name for d in ("caer_s", "emotic_clef", "affwild2", "emotic",
                                                  "ravdess", "crema_d", "fer2013", "ferplus")}
    assert names == {"caer_s": "clef", "emotic_clef": "clef", "affwild2": "affwild2",
                     "emotic": "emotic", "ravdess": "speech", "crema_d": "speech",
                     "fer2013": "classification", "ferplus": "classification"}


def test_every_task_loads_and_has_an_evaluator():
    assert set(tasks.TASKS) == set(EVALUATORS) == {"classification", "clef", "affwild2",
                                                   "emotic", "speech"}
    for task in tasks.TASKS.values():
        assert isinstance(tasks.config_class(task), type)
        assert callable(tasks.train_function(task))


def test_a_registered_task_trains_from_its_yaml(tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "TASKS", dict(tasks.TASKS))
    register_task(Task("toy", f"{__name__}:ToyConfig", f"{__name__}:train_toy",
                       f"{__name__}:is_toy_config", ("toyset",)))
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({"task": "toy", "name": "toy", "lr": 0.5,
                                    "data": {"val_split": "val"}}))
    CALLS.clear()
    cfg, result = train_yaml(path, ["lr=0.25"], resume=True, command="emoscope train toy.yaml")
    assert CALLS == [(cfg, True, "emoscope train toy.yaml")]
    assert isinstance(cfg, ToyConfig) and cfg.lr == 0.25
    assert result.metrics == {"val/accuracy": 1.0}
    assert task_of_dataset("toyset").name == "toy"
