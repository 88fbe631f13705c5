"""Real ``train()`` runs on generated bar faces with a tiny CNN: it learns, writes every output,
exports loadable weights and resumes after an interruption."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from emoscope.config import merge_config
from emoscope.errors import UserError
from emoscope.models.files.checkpoint import load_model
from emoscope.training.config import TrainConfig
from emoscope.training.train import train
from synthetic_faces import write_fer2013_folders


def tiny_config(root, out_dir, *overrides: str) -> TrainConfig:
    """A run small enough for a shared CPU: 32x32 input, tiny CNN, no geometric augmentation."""
    settings = [
        f"data.root={root}", "data.image_size=32", "data.cache_dir=",
        f"out_dir={out_dir}", "name=tiny",
        "model.backbone=tiny_cnn_test", "model.pretrained=none", "model.dropout=0.0",
        "augment.rotate_deg=0", "augment.translate=0", "augment.scale_min=1",
        "augment.scale_max=1", "augment.erase_p=0",
        "loss.label_smoothing=0", "optim.lr=3e-3", "optim.weight_decay=0",
        "optim.warmup_epochs=0", "trainer.batch_size=16", "trainer.eval_batch_size=64",
        "trainer.accelerator=cpu", "trainer.num_threads=1", "trainer.tta_flip=false",
        "trainer.max_epochs=6",
    ]
    return merge_config(TrainConfig, None, [*settings, *overrides])


@pytest.fixture(scope="module")
def learnable(tmp_path_factory):
    return write_fer2013_folders(tmp_path_factory.mktemp("learnable") / "fer2013",
                                 train_per_class=24, test_per_class=8, seed=3)


@pytest.fixture(scope="module")
def trained(learnable, tmp_path_factory):
    cfg = tiny_config(learnable.root, tmp_path_factory.mktemp("runs"))
    return cfg, train(cfg, command="pytest tiny run")


def test_loss_falls_and_accuracy_beats_chance(trained):
    _, result = trained
    losses = [row["train/loss"] for row in result.history if "train/loss" in row]
    assert len(losses) == 6
    assert losses[-1] < 0.5 * losses[0]
    assert result.metrics["val/accuracy"] >= 0.6  # chance is 1/7
    assert 0 <= result.metrics["best_epoch"] < 6


def test_run_writes_every_output(trained):
    cfg, result = trained
    run = result.run_dir
    for name in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.csv",
                 "history.png", "model.safetensors", "model.json", "final_metrics.json",
                 "val_report.json", "confusion.png"):
        assert (run / name).is_file(), name
    assert merge_config(TrainConfig, run / "config.yaml") == cfg
    report = json.loads((run / "val_report.json").read_text())
    assert report["n"] == 56 and report["accuracy"] == pytest.approx(
        result.metrics["val/accuracy"], abs=1e-3)
    card = json.loads((run / "model.json").read_text())
    assert card["command"] == "pytest tiny run"
    assert card["preprocessing"]["input_size"] == [3, 32, 32]
    assert card["preprocessing"]["grayscale"] is True
    assert card["scores"]["val/accuracy"] == round(result.metrics["val/accuracy"], 4)


def test_exported_model_and_checkpoint_agree(trained):
    _, result = trained
    model, card = load_model(result.model_path)
    from_ckpt, ckpt_card = load_model(result.run_dir / "checkpoints" / "best.ckpt")
    assert ckpt_card.label_space == card.label_space
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["logits"], from_ckpt(x)["logits"])
    raw = torch.load(result.run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    assert {"state_dict", "emoscope_config", "emoscope_card"} <= set(raw)


def test_resume_continues_the_epoch_counter(learnable, tmp_path):
    cfg = tiny_config(learnable.root, tmp_path, "trainer.max_epochs=1")
    train(cfg)
    last = tmp_path / "tiny" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0
    with pytest.raises(UserError, match="pass --resume"):
        train(cfg)
    resumed = tiny_config(learnable.root, tmp_path, "trainer.max_epochs=2")
    result = train(resumed, resume=True)
    state = torch.load(last, weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 2 * (7 * 24 // 16)
    epochs = sorted(pd.read_csv(tmp_path / "tiny" / "metrics.csv")["epoch"].dropna().unique())
    assert epochs == [0, 1]  # the epoch before the interruption is still in the history
    assert [row["epoch"] for row in result.history] == [0, 1]
    assert not list((tmp_path / "tiny").glob("metrics.part*.csv"))
    assert sorted(p.name for p in last.parent.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_last_checkpoint_is_the_latest_epoch_not_the_best(learnable, tmp_path):
    """A killed run resumes from its latest epoch: last.ckpt is rewritten after every epoch,
    also when the monitored score did not improve (Lightning's save_last alone rewrites it
    only with a new best)."""
    cfg = tiny_config(learnable.root, tmp_path, "trainer.max_epochs=3", "trainer.monitor=val/loss")
    train(cfg)  # maximising the loss: the best epoch is an early one
    history = pd.read_csv(tmp_path / "tiny" / "metrics.csv").dropna(subset=["val/loss"])
    best_epoch = int(history.loc[history["val/loss"].idxmax(), "epoch"])
    assert best_epoch < 2  # the loss falls as the network learns
    checkpoints = tmp_path / "tiny" / "checkpoints"
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["epoch"] == best_epoch
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["epoch"] == 2
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_seed_recipe_switches_train_together(learnable, tmp_path):
    cfg = tiny_config(
        learnable.root, tmp_path, "trainer.max_epochs=2", "trainer.sampler=class_weighted",
        "loss.name=focal", "loss.focal_gamma=2", "trainer.mixup_alpha=0.2",
        "model.freeze_stages=1", "optim.backbone_lr_mult=0.1", "optim.scheduler=plateau",
        "trainer.early_stopping_patience=1", "loss.class_weights=true",
    )
    result = train(cfg)
    assert result.model_path.is_file()
    frozen = [n for n, p in result.network.named_parameters() if not p.requires_grad]
    assert any(n.startswith("backbone.conv_stem") for n in frozen)
    assert any(n.startswith("backbone.blocks.0") for n in frozen)
    assert not any(n.startswith("backbone.blocks.1") for n in frozen)


def test_hybrid_architecture_trains_and_reloads(learnable, tmp_path):
    cfg = tiny_config(
        learnable.root, tmp_path, "trainer.max_epochs=1", "model.architecture=resnet_transformer",
        "model.backbone=test_resnet", "model.kwargs={embed_dim: 16, depth: 1, num_heads: 2, "
        "mlp_dim: 32, grid_size: 1, head_hidden: 8}", "model.freeze_stages=1",
    )
    result = train(cfg)
    model, card = load_model(result.model_path)
    assert card.architecture == "resnet_transformer"
    assert card.architecture_kwargs["embed_dim"] == 16
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32))["logits"].shape == (2, 7)


def test_distillation_from_a_trained_teacher(trained, learnable, tmp_path):
    """A student trained only on the teacher's soft targets (alpha=1) still learns the task,
    and the distillation term is logged every epoch."""
    _, teacher = trained
    cfg = tiny_config(learnable.root, tmp_path, "name=student", "trainer.max_epochs=4",
                      f"distill.teacher={teacher.model_path}", "distill.alpha=1.0",
                      "distill.temperature=2.0")
    result = train(cfg, command="pytest distillation")
    distill = [row["train/distill"] for row in result.history if "train/distill" in row]
    assert len(distill) == 4
    assert distill[-1] < distill[0]
    assert result.metrics["val/accuracy"] >= 0.5  # chance is 1/7


def test_ema_weights_are_validated_exported_and_resumed(learnable, tmp_path):
    """With ``trainer.ema_decay`` the checkpoints and the exported model hold the moving
    average (the raw weights kept beside it), and --resume continues the same average."""
    cfg = tiny_config(learnable.root, tmp_path, "trainer.max_epochs=1", "trainer.ema_decay=0.9")
    train(cfg)
    resumed = tiny_config(learnable.root, tmp_path, "trainer.max_epochs=2",
                          "trainer.ema_decay=0.9")
    result = train(resumed, resume=True)
    last = torch.load(tmp_path / "tiny" / "checkpoints" / "last.ckpt", weights_only=True)
    steps = 2 * (7 * 24 // 16)
    assert last["global_step"] == steps
    assert int(last["averaging_state"]["n_averaged"]) == steps  # one update per step, kept
    averaged, raw = last["state_dict"], last["current_model_state"]
    name = next(k for k in raw if k.startswith("network.") and raw[k].is_floating_point()
                and raw[k].ndim > 1)
    assert not torch.allclose(averaged[name], raw[name])
    best = torch.load(tmp_path / "tiny" / "checkpoints" / "best.ckpt", weights_only=True)
    exported = result.network.state_dict()
    for key, value in exported.items():
        torch.testing.assert_close(value, best["state_dict"]["network." + key])


def test_a_bad_ema_decay_is_a_user_error(learnable, tmp_path):
    with pytest.raises(UserError, match="trainer.ema_decay must be in"):
        train(tiny_config(learnable.root, tmp_path, "trainer.ema_decay=1.0"))
    assert not (tmp_path / "tiny").exists()  # refused before the run folder is made
