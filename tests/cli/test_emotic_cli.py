"""EMOTIC through the command line, in-process: ``emoscope train EXP.yaml`` (dispatched on
``task: emotic``), ``emoscope evaluate --dataset emotic`` and the study's ``train-emotic``
flags."""

from __future__ import annotations

import json

import pytest
import yaml

from cli_runner import run_cli
from emoscope.config import to_dict
from emoscope.training.emotic_config import EmoticConfig
from emotic_fixtures import make_images, write_face_cache, write_layout

TINY = "tiny_cnn_test"  # tests/tiny_components.py


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def emotic_root(tmp_path_factory):
    images = make_images({"train": 6, "val": 3, "test": 3}, seed=1)
    root = write_layout("kaggle", tmp_path_factory.mktemp("emotic") / "archive", images)
    write_face_cache(root, images, drop_every=3)
    return root


def test_train_then_evaluate_an_emotic_run(monkeypatch, capsys, tmp_path, emotic_root):
    config = to_dict(EmoticConfig())
    config.update(name="cli-emotic", out_dir=str(tmp_path / "runs"))
    config["data"]["root"] = str(emotic_root)
    config["data"]["normalise_vad"] = True
    for stream in ("context", "body", "face"):
        config["model"][stream] = {"backbone": TINY, "image_size": 32, "augment": "basic"}
    config["model"].update(pretrained="none", fusion="attention", fusion_dim=16)
    config["trainer"].update(max_epochs=2, batch_size=8, accelerator="cpu", num_threads=1)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    code, out, err = run_cli(monkeypatch, capsys, "train", tmp_path / "exp.yaml",
                             "--set", "optim.optimizer=adamw")
    assert code == 0, err
    run = tmp_path / "runs" / "cli-emotic"
    assert f"model: {run / 'model.safetensors'}" in out and "val/mAP" in out
    for name in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.csv",
                 "history.png", "model.json", "final_metrics.json", "val_metrics.txt"):
        assert (run / name).is_file(), name
    card = json.loads((run / "model.json").read_text())
    assert card["command"].startswith("emoscope train ") and card["architecture"]["name"] == (
        "multistream")
    assert card["extra"]["emotic"]["vad_stats"] is not None

    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "emotic", "--root",
                             emotic_root, "--model", run / "model.json", "--split", "test")
    assert code == 0, err
    assert "mAP:" in out and "VAD MAE valence" in out and "Engagement: 100.00" in out
    report = json.loads((run / "evaluation_metrics.json").read_text())
    assert report["split"] == "test" and report["n"] == 6
    assert report["per_class"]["Engagement"] == pytest.approx(1.0)  # set for every person
    assert 0 <= report["vad_mae"]["mean"] < 9  # on the 1-10 scale, not [-1, 1]
    assert (run / "evaluation_metrics.txt").read_text().startswith("mAP: ")

    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "emotic", "--root",
                           emotic_root, "--model", run / "checkpoints" / "best.ckpt",
                           "--out", tmp_path / "from_ckpt")
    assert code == 0, err
    again = json.loads((tmp_path / "from_ckpt" / "evaluation_metrics.json").read_text())
    assert again["mAP"] == pytest.approx(report["mAP"])


def test_study_command_runs_as_written(monkeypatch, capsys, tmp_path, emotic_root):
    code, out, err = run_cli(
        monkeypatch, capsys, "train-emotic", "--data_path", emotic_root,
        "--context_model", TINY, "--body_model", TINY, "--face_model", TINY,
        "--fusion", "weighted", "--loss", "discrete", "--epochs", "1",
        "--context_aug_level", "basic", "--body_aug_level", "full", "--face_aug_level", "none",
        "--ablation", "all", "--model_dir", tmp_path / "results", "--batch_size", "8",
        "--lr", "0.001", "--set", "model.pretrained=none", "--set", "trainer.num_threads=1",
        *(f"--set=model.{s}.image_size=32" for s in ("context", "body", "face")))
    assert code == 0, err
    run = tmp_path / "results" / f"{TINY}-{TINY}-{TINY}_weighted_discrete_all"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["body"]["augment"] == "full" and saved["optim"]["lr"] == 0.001
    assert saved["trainer"]["max_epochs"] == 1 and saved["model"]["fusion"] == "weighted"
    assert (run / "model.safetensors").is_file()


def test_emotic_evaluate_needs_a_model(monkeypatch, capsys, emotic_root):
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "emotic", "--root",
                           emotic_root)
    assert code == 2 and "needs --model" in err
