"""CLEF training: on a CAER-S fixture with a planted context shortcut the debiased prediction
beats the factual one; short end-to-end runs through ``emoscope train`` / ``evaluate`` (joint
schedule) and wrapping an already trained (frozen) factual model."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from emoscope.config import merge_config
from emoscope.data.caer_s import load_caer_s
from emoscope.data.caer_shortcut import write_shortcut_caer
from emoscope.models.counterfactual import CounterfactualModel
from emoscope.models.files.checkpoint import load_model
from emoscope.training.clef_config import ClefConfig
from emoscope.training.losses_counterfactual import CounterfactualLoss
from emoscope.training.train_clef import train_clef

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = "tiny_cnn_test"
FACTUAL = {"face": TINY, "context": TINY, "width": 32, "hidden_dim": 32, "dropout": 0.0,
           "image_sizes": {"face": 32, "context_masked": 32}}


def _tensors(root, split: str) -> dict[str, torch.Tensor]:
    spec = {"size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    dataset = load_caer_s(root, split, streams={"face": spec, "context": spec}, train=False)
    items = [dataset[i] for i in range(len(dataset))]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


@pytest.mark.slow
def test_debiased_prediction_beats_the_factual_one_on_a_planted_shortcut(tmp_path):
    """Background colour = label in 95% of training frames, random in test frames."""
    root = write_shortcut_caer(tmp_path / "CAER-S", train_per_class=40, test_per_class=30,
                               correlation=0.95, seed=0)
    train, test = _tensors(root, "train"), _tensors(root, "test")
    torch.manual_seed(0)
    model = CounterfactualModel({"architecture": "caernet_s", "kwargs": FACTUAL}, 7,
                                context_backbone=TINY)
    loss_fn = CounterfactualLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for step in range(100):
        rows = torch.randint(0, len(train["label"]), (32,), generator=generator)
        batch = {k: v[rows] for k, v in train.items()}
        loss = loss_fn(model(batch), batch["label"], model, step)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        out = model(test)
    accuracy = {head: float((out[key].argmax(1) == test["label"]).float().mean())
                for head, key in (("factual", "fused_log_prob"), ("context", "context"),
                                  ("tie", "tie"))}
    assert accuracy["context"] < 0.5  # the shortcut is gone in test (3 classes: chance 1/3)
    assert accuracy["tie"] > accuracy["factual"] + 0.1  # 0.90 vs 0.56 when run
    assert accuracy["tie"] > 0.8


@pytest.fixture(scope="module")
def small_caer(tmp_path_factory):
    return write_shortcut_caer(tmp_path_factory.mktemp("caer") / "CAER-S", train_per_class=4,
                               test_per_class=2, seed=3)


def _overrides(root, out_dir, *extra: str) -> list[str]:
    return [f"data.root={root}", f"out_dir={out_dir}", "model.pretrained=none",
            "trainer.accelerator=cpu", "trainer.num_threads=1", "trainer.batch_size=6",
            "trainer.max_epochs=2", f"model.context_backbone={TINY}",
            "model.context_image_size=32", f"model.factual_kwargs={json.dumps(FACTUAL)}",
            *extra]


def test_train_and_evaluate_through_the_cli(small_caer, tmp_path):
    from emoscope.cli.main import app

    runner = CliRunner()
    args = ["train", "configs/clef_caer_s.yaml", "--set", "data.augment=none"]
    for item in _overrides(small_caer, tmp_path, "name=joint"):
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "joint"
    for name in ("config.yaml", "checkpoints/best.ckpt", "metrics.csv", "model.safetensors",
                 "model.json", "val_report.json"):
        assert (run / name).is_file(), name
    report = json.loads((run / "val_report.json").read_text())
    assert list(report["heads"]) == ["factual", "factual_model", "context", "tie"]
    assert report["n"] == 6 and report["main_head"] == "tie"
    card = json.loads((run / "model.json").read_text())
    assert card["architecture"]["name"] == "clef"
    assert card["architecture"]["kwargs"]["factual"]["architecture"] == "caernet_s"
    json_path = tmp_path / "eval.json"
    evaluated = runner.invoke(app, ["evaluate", "--dataset", "caer_s", "--root",
                                    str(small_caer), "--model", str(run / "model.json"),
                                    "--json", str(json_path)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "tie" in evaluated.output and "debiased" in evaluated.output
    scores = json.loads(json_path.read_text())
    assert scores["heads"]["tie"]["accuracy"] == pytest.approx(
        report["heads"]["tie"]["accuracy"])  # the exported model scores as in training
    missing = runner.invoke(app, ["evaluate", "--dataset", "caer_s", "--root", str(small_caer)])
    assert missing.exit_code != 0


def test_wrap_a_trained_frozen_factual_model(small_caer, tmp_path):
    face_only = merge_config(ClefConfig, None, _overrides(
        small_caer, tmp_path, "name=face-only", "model.factual=face_only",
        f"model.factual_kwargs={{face: {TINY}, image_size: 32}}", "model.debias=false",
        "trainer.max_epochs=1"))
    control = train_clef(face_only)
    report = json.loads((control.run_dir / "val_report.json").read_text())
    assert list(report["heads"]) == ["factual"]
    trained, _ = load_model(control.model_path)
    wrapped = merge_config(ClefConfig, None, _overrides(
        small_caer, tmp_path, "name=wrapped", f"model.factual_from={control.model_path}",
        "model.freeze_factual=true", "trainer.max_epochs=1"))
    result = train_clef(wrapped)
    network = result.network
    assert isinstance(network, CounterfactualModel)
    for name, value in trained.state_dict().items():
        assert torch.equal(network.factual.state_dict()[name], value), name  # frozen
    assert not torch.equal(network.no_subject.detach(), torch.zeros(7))  # Y_e* trained
    loaded, card = load_model(result.model_path)
    assert card.architecture_kwargs["factual"]["architecture"] == "face_only"
    # every head next to the face-only control
    from emoscope.cli.main import app

    out = tmp_path / "context.json"
    shown = CliRunner().invoke(app, ["context-report", str(result.model_path), "--root",
                                     str(small_caer), "--control", str(control.model_path),
                                     "--json", str(out)])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(out.read_text())["rows"]
    assert [r["head"] for r in rows] == ["factual (control)", "factual", "factual_model",
                                         "context", "tie"]
    control_accuracy = report["accuracy"]
    assert rows[0]["accuracy"] == pytest.approx(control_accuracy)
    assert rows[4]["vs_control"] == pytest.approx(rows[4]["accuracy"] - control_accuracy)


def test_multilabel_clef_on_emotic_around_emotnet(tmp_path):
    from emoscope.cli.main import app
    from emotic_fixtures import make_images, write_layout

    images = make_images({"train": 8, "val": 4, "test": 2}, seed=1)
    root = write_layout("preprocessed", tmp_path / "emotic_pre", images)
    emotnet = {"body": TINY, "image": TINY, "body_size": 32, "image_size": 32,
               "fusion_dim": 16}  # 26 categories + 3 VAD
    cfg = merge_config(ClefConfig, None, [
        f"data.root={root}", "data.dataset=emotic", "data.val_split=val", f"out_dir={tmp_path}",
        "name=emotic-clef", "model.factual=emotnet", f"model.factual_kwargs={json.dumps(emotnet)}",
        f"model.context_backbone={TINY}", "model.context_image_size=32", "model.pretrained=none",
        "loss.warmup_steps=2", "loss.vad_weight=0.5", "trainer.accelerator=cpu",
        "trainer.num_threads=1", "trainer.batch_size=8", "trainer.max_epochs=2"])
    result = train_clef(cfg)
    assert result.network.kind == "multi_label" and result.network.space == "prob"
    report = json.loads((result.run_dir / "val_report.json").read_text())
    assert list(report["heads"]) == ["factual", "factual_model", "context", "tie"]
    assert 0.0 <= report["mAP"] <= 1.0 and report["n"] == 8  # 4 images x 2 persons
    assert "val/mAP_tie" in result.metrics and "val/vad_mae" in result.metrics
    assert 0.0 < report["vad_mae"]["mean"] < 9.0  # VAD on the 1-10 scale
    evaluated = CliRunner().invoke(app, ["evaluate", "--dataset", "emotic_clef", "--root",
                                         str(root), "--split", "val", "--model",
                                         str(result.model_path)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "mAP" in evaluated.output and "tie" in evaluated.output


def test_ema_weights_are_kept_in_a_clef_run(small_caer, tmp_path):
    cfg = merge_config(ClefConfig, "configs/clef_caer_s.yaml", _overrides(
        small_caer, tmp_path, "name=ema", "data.augment=none", "trainer.max_epochs=1",
        "trainer.ema_decay=0.9"))
    train_clef(cfg)
    last = torch.load(tmp_path / "ema" / "checkpoints" / "last.ckpt", weights_only=True)
    assert int(last["averaging_state"]["n_averaged"]) == last["global_step"] > 0
