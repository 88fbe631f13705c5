"""``emoscope train`` and ``emoscope evaluate`` end to end, in-process, and their error lines."""

from __future__ import annotations

import json

import pytest
import yaml

from cli_runner import run_cli
from synthetic_faces import write_fer2013_folders


@pytest.fixture
def known_answer_fer(tmp_path):
    """35 test faces, 7 of them filed under the wrong emotion: the oracle scores 28/35."""
    return write_fer2013_folders(tmp_path / "fer2013", train_per_class=1, test_per_class=5,
                                 wrong_test=1)


def test_evaluate_prints_and_writes_json_and_png(monkeypatch, capsys, tmp_path,
                                                   bar_oracle_path, known_answer_fer):
    code, out, err = run_cli(
        monkeypatch, capsys, "evaluate", "--model", bar_oracle_path, "--dataset", "fer2013",
        "--root", known_answer_fer.root, "--split", "test", "--json", tmp_path / "r.json",
        "--out", tmp_path / "plots",
    )
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert {"accuracy", "macro_f1", "per_class", "n", "confusion_matrix", "labels",
            "model"} <= set(report)
    assert report["accuracy"] == pytest.approx(0.8) and report["n"] == 35
    assert report["per_class"]["happy"]["support"] == 5
    assert (tmp_path / "plots" / "confusion.png").is_file()
    assert "accuracy 80.00%" in out and "happy" in out


def test_evaluate_png_defaults_beside_json(monkeypatch, capsys, tmp_path, bar_oracle_path,
                                           known_answer_fer):
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--model", bar_oracle_path,
                           "--root", known_answer_fer.root, "--json", tmp_path / "e.json",
                           "--tta-flip")
    assert code == 0, err
    assert (tmp_path / "e_confusion.png").is_file()
    assert json.loads((tmp_path / "e.json").read_text())["tta_flip"] is True


def test_evaluate_refuses_to_write_its_report_over_a_model_card(monkeypatch, capsys, tmp_path,
                                                                 bar_oracle_path,
                                                                 known_answer_fer):
    """``--json`` naming the model's own card (x.json beside x.safetensors) would leave the
    weights without a card; an old report in the same place is replaced as before."""
    card = bar_oracle_path.with_suffix(".json")
    before = card.read_text()
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--model", bar_oracle_path,
                           "--root", known_answer_fer.root, "--json", card)
    assert code == 2 and card.read_text() == before
    assert err.strip() == (f"error: {card}: is a model card; --json would overwrite it "
                           "(choose another report file)")
    report = tmp_path / "report.json"
    report.write_text('{"accuracy": 0.1}')
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--model", bar_oracle_path,
                           "--root", known_answer_fer.root, "--json", report)
    assert code == 0, err
    assert json.loads(report.read_text())["accuracy"] == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--root", "{tmp}/missing"], "dataset root not found"),
        (["--root", "{tmp}", "--dataset", "affectnet"], "unknown dataset 'affectnet'"),
        (["--root", "{tmp}", "--model", "{tmp}/bad.safetensors"], "not a readable safetensors"),
        (["--root", "{tmp}", "--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--root", "{tmp}", "--model", "{tmp}/x.ckpt"], "checkpoint not found"),
    ],
)
def test_evaluate_errors_are_one_line_exit_2(monkeypatch, capsys, tmp_path, bar_oracle_path,
                                              args, message):
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    (tmp_path / "bad.json").write_text(bar_oracle_path.with_suffix(".json").read_text())
    code, _, err = run_cli(monkeypatch, capsys, "evaluate",
                           *(a.format(tmp=tmp_path) for a in args))
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_train_errors_are_one_line_exit_2(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "train", tmp_path / "none.yaml")
    assert code == 2 and "config file not found" in err and err.count("\n") == 1
    (tmp_path / "c.yaml").write_text("name: x\n")
    code, _, err = run_cli(monkeypatch, capsys, "train", tmp_path / "c.yaml", "--set",
                           "optim.lrr=1")
    assert code == 2 and "unknown config key(s) optim.lrr" in err
    code, _, err = run_cli(monkeypatch, capsys, "train", tmp_path / "c.yaml", "--set",
                           f"data.root={tmp_path}/nothing", "--set", "data.cache_dir=")
    assert code == 2 and "dataset root not found" in err


def test_train_then_evaluate_the_run(monkeypatch, capsys, tmp_path):
    fixture = write_fer2013_folders(tmp_path / "fer2013", train_per_class=6, test_per_class=2)
    config = {
        "name": "cli-run", "out_dir": str(tmp_path / "runs"),
        "data": {"root": str(fixture.root), "image_size": 32, "cache_dir": ""},
        "model": {"backbone": "tiny_cnn_test", "pretrained": "none"},
        "trainer": {"max_epochs": 1, "batch_size": 8, "accelerator": "cpu", "num_threads": 1},
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    code, out, err = run_cli(monkeypatch, capsys, "train", tmp_path / "exp.yaml", "--set",
                             "trainer.tta_flip=false")
    assert code == 0, err
    run = tmp_path / "runs" / "cli-run"
    assert f"model: {run / 'model.safetensors'}" in out
    card = json.loads((run / "model.json").read_text())
    assert card["command"].startswith("emoscope train ") and "--set=trainer.tta_flip=false" in (
        card["command"])
    code, _, err = run_cli(monkeypatch, capsys, "train", tmp_path / "exp.yaml")
    assert code == 2 and "pass --resume" in err
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--model",
                             run / "checkpoints" / "last.ckpt", "--root", fixture.root)
    assert code == 0, err
    assert "14 faces" in out


def test_evaluate_defaults_to_the_shipped_model(monkeypatch, capsys, tmp_path, bar_oracle_path,
                                                known_answer_fer):
    from emoscope.models.files import zoo
    from emoscope.models.files.checkpoint import load_model, save_model

    model, card = load_model(bar_oracle_path)
    card.name = zoo.DEFAULT_FOR_TASK["face_expression"]
    save_model(model, card, tmp_path / "weights" / card.name)
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--root", known_answer_fer.root,
                           "--json", tmp_path / "default.json")
    assert code == 0, err
    report = json.loads((tmp_path / "default.json").read_text())
    assert report["model"] == card.name and report["accuracy"] == pytest.approx(0.8)


def test_evaluate_refuses_onnx_where_it_is_not_wired(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "emotic", "--root",
                           tmp_path, "--runtime", "onnx")
    assert code == 2
    assert "--runtime onnx is available for face-expression and speech datasets" in err
