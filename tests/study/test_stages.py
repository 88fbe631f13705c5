"""Staged study logic on fake metrics: options, carry-over of each stage's winner, outputs,
resume after an interruption, Optuna stages that continue their search."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from emoscope.errors import UserError
from emoscope.study.config import StageConfig
from emoscope.study.engines import trial_dir
from emoscope.study.runner import load_study, run_study
from emoscope.study.stages import Trial, best_trial, stage_options

FUSION = {"simple": 0.10, "weighted": 0.30, "attention": 0.20}
LOSS = {"bce": 0.00, "asl": 0.05, "dice": -0.05}


def fake_map(config: dict) -> float:
    """Known answer: weighted fusion and asl loss win; body backbone 'resnet50' adds 0.01."""
    score = FUSION[config["model"]["fusion"]] + LOSS[config["loss"]["categorical"]]
    return score + (0.01 if config["model"]["body"]["backbone"] == "resnet50" else 0.0)


class FakeTrainer:
    """Stands in for a training run: writes final_metrics.json like one, counts calls."""

    def __init__(self, fail_after: int | None = None):
        self.calls: list[dict] = []
        self.fail_after = fail_after

    def __call__(self, config: dict) -> dict:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt  # the study is interrupted mid-stage
        self.calls.append(config)
        metrics = {"val/mAP": fake_map(config), "best_epoch": 0}
        folder = trial_dir(config)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "final_metrics.json").write_text(json.dumps({"best": metrics}))
        return {"status": "done", "metrics": metrics}


def write_study(tmp_path, **extra) -> tuple:
    study = {
        "name": "fake", "out_dir": str(tmp_path / "studies"), "evaluate_test": False,
        "set": {"data.root": "/nowhere", "trainer.max_epochs": 1, "loss.categorical": "bce"},
        "stages": [
            {"name": "backbones", "grid": {"model.body.backbone": ["resnet18", "resnet50"]}},
            {"name": "fusion", "grid": {"model.fusion": list(FUSION)}},
            {"name": "loss", "grid": {"loss.categorical": list(LOSS)}},
            {"name": "augmentation", "options": {
                "none": {"model.context.augment": "none", "model.body.augment": "none"},
                "basic": {"model.context.augment": "basic", "model.body.augment": "basic"}}},
        ],
        **extra,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path, load_study(path)


def test_stage_options_cross_named_options_with_the_grid():
    stage = StageConfig("s", grid={"model.fusion": ["simple", "weighted"]},
                        options={"frozen": {"model.freeze_backbones": True}, "tuned": {}})
    options = stage_options(stage)
    assert [label for label, _ in options] == [
        "frozen, fusion=simple", "frozen, fusion=weighted", "tuned, fusion=simple",
        "tuned, fusion=weighted"]
    assert options[1][1] == {"model.freeze_backbones": True, "model.fusion": "weighted"}


def test_best_trial_skips_failed_and_unscored_and_keeps_the_first_of_equals():
    def trial(label, score, status="done"):
        return Trial("s", label, {}, {}, label, status, {"val/mAP": score})

    trials = [trial("a", 0.2), trial("b", float("nan")), trial("c", 0.9, "failed"),
              trial("d", 0.4), trial("e", 0.4)]
    assert best_trial(trials, "val/mAP").label == "d"
    assert best_trial(trials, "val/mAP", mode="min").label == "a"
    assert best_trial(trials[1:3], "val/mAP") is None


def test_each_stage_carries_its_winner_into_the_next(tmp_path):
    path, cfg = write_study(tmp_path)
    fake = FakeTrainer()
    result = run_study(cfg, path, execute=fake)
    winners = [s.best.label for s in result.stages]
    assert winners == ["backbone=resnet50", "fusion=weighted", "categorical=asl", "none"]
    # stage 2 trained every fusion on the stage 1 winner's backbone
    fusion_trials = result.stages[1].trials
    assert {t.config["model"]["body"]["backbone"] for t in fusion_trials} == {"resnet50"}
    # the winner met again in a later stage (same config) is the same trial, trained once
    assert len(fake.calls) == 2 + 2 + 2 + 1
    assert result.stages[-1].best.score("val/mAP") == pytest.approx(0.36)
    chosen = yaml.safe_load(result.chosen_path.read_text())
    assert (chosen["model"]["fusion"], chosen["loss"]["categorical"]) == ("weighted", "asl")
    assert chosen["model"]["body"]["backbone"] == "resnet50"
    assert chosen["trainer"]["max_epochs"] == 1 and chosen["name"] == "fake-chosen"
    folder = result.folder
    with open(folder / "stages" / "2-fusion.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["option"] for r in rows] == ["fusion=weighted", "fusion=attention",
                                           "fusion=simple"]
    assert [r["best"] for r in rows] == ["*", "", ""] and rows[0]["val/mAP"] == "0.3100"
    assert (folder / "stages" / "2-fusion.png").stat().st_size > 1000
    assert "| fusion=weighted | 0.3100 |" in (folder / "stages" / "2-fusion.md").read_text()
    overall = (folder / "results.md").read_text()
    assert "| loss | 3 | categorical=asl | 0.3600 |" in overall and "chosen.yaml" in overall
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["chosen"]["overrides"]["loss.categorical"] == "asl"


def test_rerun_after_an_interruption_runs_only_the_missing_trials(tmp_path):
    path, cfg = write_study(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_study(cfg, path, execute=FakeTrainer(fail_after=3))
    resumed = FakeTrainer()
    result = run_study(cfg, path, execute=resumed)
    assert len(resumed.calls) == 7 - 3
    again = FakeTrainer()
    run_study(cfg, path, execute=again)
    assert again.calls == []
    assert result.stages[-1].best.label == "none"


def test_a_failing_trial_is_recorded_and_the_stage_goes_on(tmp_path):
    path, cfg = write_study(tmp_path)
    fake = FakeTrainer()

    def flaky(config):
        if config["model"]["fusion"] == "weighted":
            return {"status": "failed", "metrics": {}, "error": "out of memory"}
        return fake(config)

    result = run_study(cfg, path, execute=flaky)
    assert result.stages[1].best.label == "fusion=attention"
    table = (result.folder / "stages" / "2-fusion.md").read_text()
    assert "failed" in table and "out of memory" in table


def test_optuna_stage_samples_and_continues_its_search(tmp_path):
    stages = [{"name": "search", "engine": "optuna", "n_trials": 4,
               "grid": {"model.fusion": list(FUSION), "loss.categorical": list(LOSS)}}]
    path, cfg = write_study(tmp_path, stages=stages)
    first = FakeTrainer()
    result = run_study(cfg, path, execute=first)
    trials = result.stages[0].trials
    assert len(trials) == 4 and 1 <= len(first.calls) <= 4  # repeats are not retrained
    assert result.stages[0].best.score("val/mAP") == max(t.score("val/mAP") for t in trials)
    cfg.stages[0].n_trials = 6
    more = FakeTrainer()
    result = run_study(cfg, path, execute=more)
    assert len(result.stages[0].trials) == 6 and len(more.calls) <= 2
    assert (tmp_path / "studies" / "fake" / "optuna.journal").is_file()


def test_bad_studies_fail_with_one_line_naming_the_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"stages": [{"name": "x", "grid": {"model.fusion": []}}]}))
    with pytest.raises(UserError, match=r"s.yaml: stage 'x' grid key 'model.fusion' needs"):
        load_study(path)
    path.write_text(yaml.safe_dump({"stages": [{"name": "x", "grid": {"model.fuse": ["a"]}}]}))
    with pytest.raises(UserError, match=r"s.yaml: stage 'x' option 'fuse=a': unknown config"):
        run_study(load_study(path), path, execute=FakeTrainer())
    path.write_text(yaml.safe_dump({"stages": [{"name": "x", "grids": {}}]}))
    with pytest.raises(UserError, match=r"s.yaml: unknown config key\(s\) stages.grids"):
        load_study(path)
    path.write_text(yaml.safe_dump({"stages": []}))
    with pytest.raises(UserError, match="at least one entry under 'stages'"):
        load_study(path)
