"""Real studies on the tiny generated EMOTIC: trials are normal training runs, the chosen
configuration is evaluated on test, the shipped study YAMLs resolve, trials run in Ray
processes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from emoscope.cli.main import app
from emoscope.config import load_yaml
from emoscope.study.runner import _base_path, load_study
from emoscope.study.stages import base_config, make_trial, stage_options
from emotic_fixtures import make_images, write_face_cache, write_layout

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "study_tiny.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    images = make_images({"train": 8, "val": 4, "test": 3}, seed=4)
    root = write_layout("preprocessed", tmp_path_factory.mktemp("emotic") / "emotic_pre", images)
    write_face_cache(root, images)
    return root


def study_args(root, tmp_path, *extra):
    return ["study", str(TINY), "--set", f"out_dir={tmp_path / 'studies'}",
            "--trial", f"data.root={root}", "--trial", f"trainer.cache_dir={tmp_path / 'cache'}",
            "--trial", "trainer.num_threads=1", *extra]


@pytest.mark.slow
def test_tiny_study_runs_trains_and_evaluates_through_the_cli(tiny_root, tmp_path):
    result = CliRunner().invoke(app, study_args(tiny_root, tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "studies" / "study-tiny"
    trials = [p for p in (folder / "trials").iterdir() if p.is_dir()]
    assert len(trials) == 4  # 2 + 1 + 1 new configurations (the winner is not retrained)
    for trial in trials:  # each trial is a normal run folder
        for name in ("config.yaml", "metrics.csv", "model.safetensors", "final_metrics.json",
                     "checkpoints/best.ckpt"):
            assert (trial / name).is_file(), (trial, name)
    for stem in ("1-backbones", "2-fusion", "3-resampling"):
        for suffix in (".csv", ".md", ".png"):
            assert (folder / "stages" / f"{stem}{suffix}").is_file()
    chosen = load_yaml(folder / "chosen.yaml")
    summary = json.loads((folder / "summary.json").read_text())
    winner = summary["chosen"]["trial"]
    assert chosen["model"]["fusion"] == summary["chosen"]["overrides"]["model.fusion"]
    stored = load_yaml(folder / "trials" / winner / "config.yaml")
    assert {k: v for k, v in stored.items() if k not in ("name", "out_dir")} == \
        {k: v for k, v in chosen.items() if k not in ("name", "out_dir")}
    test = json.loads((folder / "test" / "evaluation_metrics.json").read_text())
    assert test["split"] == "test" and test["n"] == 6 and 0 < test["mAP"] <= 1
    if chosen["trainer"]["resample"] == "full":
        assert (folder / "trials" / winner / "resampling.json").is_file()
    assert "chosen configuration on test" in result.output
    # a rerun reads every trial back: nothing is trained again
    def stamps():
        files = [p / "final_metrics.json" for p in trials] + [folder / "test" / "report.json"]
        return {str(f): f.stat().st_mtime_ns for f in files}

    before = stamps()
    again = CliRunner().invoke(app, study_args(tiny_root, tmp_path))
    assert again.exit_code == 0, again.output
    assert stamps() == before and "mAP" in again.output


@pytest.mark.parametrize("name", ["study_emotic.yaml", "study_emotic_optuna.yaml",
                                  "study_tiny.yaml"])
def test_shipped_study_yamls_resolve_to_valid_trials(name):
    path = REPO / "configs" / name
    cfg = load_study(path)
    base = base_config(_base_path(cfg.base, path))
    carried = dict(cfg.set)
    for stage in cfg.stages:
        options = stage_options(stage)
        trials = [make_trial(stage, label, option, carried, base, str(path))
                  for label, option in options]
        assert len({t.key for t in trials}) == len(trials)
        carried = trials[0].overrides
    if name == "study_emotic.yaml":
        assert [s.name for s in cfg.stages] == ["backbones", "fusion", "loss", "augmentation",
                                                "resampling"]
        from emoscope.registry import FUSIONS

        assert sorted(cfg.stages[1].grid["model.fusion"]) == FUSIONS.names()
        assert trials[-1].config["trainer"]["feature_cache"] is True


def test_study_cli_reports_a_bad_study_in_one_line(tmp_path, monkeypatch, capsys):
    from emoscope.cli.main import main

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"stages": [{"name": "s"}]}))
    monkeypatch.setattr("sys.argv", ["emoscope", "study", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: stage 's' has neither 'grid' nor 'options'")


@pytest.mark.slow
def test_trials_of_a_stage_run_in_parallel_ray_processes(tiny_root, tmp_path):
    from emoscope.study.runner import run_study

    cfg = load_study(TINY, [f"out_dir={tmp_path / 'studies'}", "parallel=2",
                            "evaluate_test=false"])
    cfg.set.update({"data.root": str(tiny_root), "trainer.cache_dir": str(tmp_path / "cache"),
                    "trainer.num_threads": 1})
    cfg.stages = cfg.stages[:1]
    result = run_study(cfg, TINY)
    trials = result.stages[0].trials
    assert [t.status for t in trials] == ["done", "done"]
    # trained in Ray worker processes, not here (Ray may hand both to one worker when the
    # other starts slowly, so two distinct processes are not asserted)
    pids = {t.pid for t in trials}
    assert os.getpid() not in pids and 0 not in pids
    assert (tmp_path / "studies" / "study-tiny" / "ray").is_dir()  # Ray's files stay there
