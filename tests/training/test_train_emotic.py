"""EMOTIC training: each stream learns its own label on the learnable fixture, the frozen-
backbone feature cache gives the uncached features, runs resume, the module's AP agrees with
torchmetrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emoscope.config import merge_config
from emoscope.errors import UserError
from emoscope.training.emotic_config import EmoticConfig, study_overrides
from emoscope.training.train_emotic import build_emotic_network, load_emotic_splits, train_emotic
from emotic_fixtures import (
    BODY_CAT,
    CONTEXT_CAT,
    FACE_CAT,
    make_images,
    write_face_cache,
    write_layout,
)

TINY = "tiny_cnn_test"  # tests/tiny_components.py


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def learnable_root(tmp_path_factory):
    """Learnable EMOTIC (preprocessed layout) with a face cache; every 5th face missing."""
    images = make_images({"train": 32, "val": 16, "test": 4}, seed=4)  # val rates 0.44-0.5
    root = write_layout("preprocessed", tmp_path_factory.mktemp("emotic") / "emotic_pre", images)
    write_face_cache(root, images, drop_every=5)
    return root


def tiny_config(root, out_dir, *overrides: str) -> EmoticConfig:
    sets = [f"data.root={root}", f"out_dir={out_dir}", "model.pretrained=none",
            "model.fusion_dim=32", "model.head_kwargs={dropout: 0.0}",
            "trainer.accelerator=cpu", "trainer.num_threads=1", "trainer.batch_size=16",
            "trainer.early_stopping_patience=0", "optim.lr=3e-3", "loss.categorical=bce",
            "data.normalise_vad=true"]
    for stream in ("context", "body", "face"):
        sets += [f"model.{stream}.backbone={TINY}", f"model.{stream}.image_size=32"]
    return merge_config(EmoticConfig, None, sets + list(overrides))


@pytest.mark.parametrize(("ablation", "category"),
                         [("context", CONTEXT_CAT), ("body", BODY_CAT), ("face", FACE_CAT)])
def test_each_stream_learns_its_own_label(learnable_root, tmp_path, ablation, category):
    cfg = tiny_config(learnable_root, tmp_path, f"model.ablation={ablation}",
                      "trainer.max_epochs=10", f"name={ablation}", "trainer.seed=0")
    result = train_emotic(cfg)
    report = json.loads((result.run_dir / "val_metrics.json").read_text())["per_class"]
    _, val = load_emotic_splits(cfg, result.network)
    chance = float(np.stack([p.categories for p in val.persons])[:, category].mean())
    assert 0.2 < chance < 0.8  # the AP of random scores
    label = val.category_space.labels[category]
    assert report[label] > chance + (0.15 if ablation == "face" else 0.25), report
    if ablation == "face":  # the background colour is not in the face crop (body boxes
        # of the fixture's second person reach past the drawn body into the background)
        assert report[label] > report[val.category_space.labels[CONTEXT_CAT]] + 0.1, report
    assert result.model_path.is_file() and (result.run_dir / "history.png").is_file()


def test_feature_cache_gives_the_uncached_features(learnable_root, tmp_path, monkeypatch):
    from emoscope.training import feature_cache

    cfg = tiny_config(learnable_root, tmp_path, "model.freeze_backbones=true",
                      f"trainer.cache_dir={tmp_path / 'cache'}")
    torch.manual_seed(0)
    network = build_emotic_network(cfg)
    network.backbones.requires_grad_(False)
    train, _ = load_emotic_splits(cfg, network)
    cached = feature_cache.cached_features(network, train, cfg.trainer.cache_dir, 16)
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 3
    network.eval()
    with torch.no_grad():
        batch = torch.utils.data.default_collate([train[i] for i in range(len(train))])
        direct = network.features(batch)
    for stream, values in direct.items():
        torch.testing.assert_close(cached.features[stream], values, rtol=1e-5, atol=1e-5)
    assert torch.equal(cached.targets["stream_mask"], batch["stream_mask"])
    assert torch.equal(cached.targets["categories"], batch["categories"])
    with torch.no_grad():
        from_cache = network.forward_features(cached.features, cached.targets["stream_mask"])
        full = network(batch)
    torch.testing.assert_close(from_cache["categories"], full["categories"], rtol=1e-4,
                               atol=1e-5)

    def no_compute(*args, **kwargs):
        raise AssertionError("features were computed again")

    monkeypatch.setattr(feature_cache, "compute_features", no_compute)
    again = feature_cache.cached_features(network, train, cfg.trainer.cache_dir, 16)
    assert torch.equal(again.features["body"], cached.features["body"])
    network.backbones["body"].conv_stem.weight.data.add_(0.1)  # other weights: another key
    with pytest.raises(AssertionError, match="computed again"):
        feature_cache.cached_features(network, train, cfg.trainer.cache_dir, 16)


def test_feature_cache_refuses_what_changes_per_epoch(learnable_root, tmp_path):
    from emoscope.training.feature_cache import check_cacheable

    cfg = tiny_config(learnable_root, tmp_path, "model.context.augment=basic")
    network = build_emotic_network(cfg)
    train, _ = load_emotic_splits(cfg, network)
    with pytest.raises(UserError, match="trained"):
        check_cacheable(network, train)
    network.backbones.requires_grad_(False)
    with pytest.raises(UserError, match="augmentation"):
        check_cacheable(network, train)


def test_cached_training_run_learns_and_exports(learnable_root, tmp_path):
    cfg = tiny_config(learnable_root, tmp_path, "model.freeze_backbones=true",
                      "trainer.feature_cache=true", f"trainer.cache_dir={tmp_path / 'cache'}",
                      "model.ablation=context", "trainer.max_epochs=6", "optim.lr=1e-2",
                      "name=cached")
    result = train_emotic(cfg)
    report = json.loads((result.run_dir / "val_metrics.json").read_text())
    assert report["per_class"]["Affection"] > 0.8  # the red background, on frozen random convs
    card = json.loads(result.model_path.with_suffix(".json").read_text())
    assert card["extra"]["emotic"]["streams"]["context"]["size"] == [32, 32]


def test_resume_continues_the_run(learnable_root, tmp_path):
    cfg = tiny_config(learnable_root, tmp_path, "trainer.max_epochs=1", "name=resumable",
                      "model.ablation=context_body", "data.normalise_vad=true",
                      "data.limit=16")
    train_emotic(cfg)
    with pytest.raises(UserError, match="pass --resume"):
        train_emotic(cfg)
    cfg.trainer.max_epochs = 2
    result = train_emotic(cfg, resume=True)
    assert [int(row["epoch"]) for row in result.history] == [0, 1]
    card = json.loads(result.model_path.with_suffix(".json").read_text())
    stats = card["extra"]["emotic"]["vad_stats"]
    assert stats["low"] == [3.0, 3.0, 3.0] and stats["high"] == [7.0, 7.0, 7.0]
    assert set(card["extra"]["stream_preprocessing"]) == {"context", "body"}
    assert "val/vad_mae" in result.metrics


def test_study_flags_map_onto_the_config():
    items = study_overrides({"data_path": "/d", "context_model": "swin", "face_model": None,
                             "loss": "focal", "epochs": 20, "model_dir": "./results/"})
    cfg = merge_config(EmoticConfig, None, items)
    assert (cfg.data.root, cfg.model.context.backbone, cfg.trainer.max_epochs) == ("/d", "swin",
                                                                                   20)
    assert cfg.loss.categorical_kwargs == {"multi_label": True} and cfg.out_dir == "./results/"
    with pytest.raises(UserError, match="unknown study flag"):
        study_overrides({"context_modle": "swin"})


def test_our_ap_agrees_with_torchmetrics():
    from torchmetrics.classification import MultilabelAveragePrecision

    from emoscope.evaluation.emotic import score_outputs

    gen = torch.Generator().manual_seed(0)
    targets = (torch.rand(64, 5, generator=gen) < 0.3).int()
    targets[0] = 1  # every class has a positive
    logits = torch.randn(64, 5, generator=gen) + targets  # informative, not perfect
    logits[:8] = logits[:8].round()  # ties
    ours = score_outputs({"categories": logits.numpy(), "categories_target": targets.numpy()},
                         list("abcde"))
    theirs = MultilabelAveragePrecision(5, average=None)(torch.sigmoid(logits), targets)
    assert list(ours["per_class"].values()) == pytest.approx(theirs.tolist(), abs=1e-6)


def test_frozen_backbones_keep_their_batchnorm_statistics(learnable_root, tmp_path):
    cfg = tiny_config(learnable_root, tmp_path, "model.freeze_backbones=true",
                      "trainer.max_epochs=2", "name=frozen")
    before = build_emotic_network(cfg)
    stats = {k: v.clone() for k, v in before.backbones.state_dict().items() if "running" in k}
    assert stats  # the tiny backbones have BatchNorm layers
    result = train_emotic(cfg)
    after = result.network.backbones.state_dict()
    changed = [k for k, v in stats.items() if not torch.equal(v, after[k])]
    assert not changed, changed


def test_ema_weights_are_what_an_emotic_run_exports(learnable_root, tmp_path):
    cfg = tiny_config(learnable_root, tmp_path, "trainer.max_epochs=1", "name=ema",
                      "model.ablation=context", "data.limit=16", "trainer.batch_size=4",
                      "trainer.ema_decay=0.9")
    train_emotic(cfg)
    last = torch.load(tmp_path / "ema" / "checkpoints" / "last.ckpt", weights_only=True)
    assert int(last["averaging_state"]["n_averaged"]) == last["global_step"] > 0
    raw = last["current_model_state"]
    assert any(not torch.equal(last["state_dict"][k], v) for k, v in raw.items()
               if v.is_floating_point())
