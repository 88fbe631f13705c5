"""A run that computes the feature cache trains exactly like one that reads it (the study
compares such trials side by side)."""

from __future__ import annotations

import json

import pytest
from test_train_emotic import tiny_config

from emoscope.training.train_emotic import train_emotic
from emotic_fixtures import make_images, write_face_cache, write_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_computing_the_cache_does_not_change_the_training(tmp_path):
    images = make_images({"train": 6, "val": 3, "test": 1}, seed=5)
    root = write_layout("preprocessed", tmp_path / "emotic_pre", images)
    write_face_cache(root, images)
    scores = []
    for name in ("computes", "reads"):
        cfg = tiny_config(root, tmp_path / "runs", "model.freeze_backbones=true",
                          "trainer.feature_cache=true", f"trainer.cache_dir={tmp_path / 'c'}",
                          "trainer.max_epochs=2", "model.head_kwargs={dropout: 0.5}",
                          f"name={name}")
        result = train_emotic(cfg)
        scores.append(json.loads((result.run_dir / "val_metrics.json").read_text()))
    assert len(list((tmp_path / "c").glob("*.safetensors"))) == 3 * 2  # train + val
    assert scores[0]["per_class"] == scores[1]["per_class"]
    assert scores[0]["vad_mae"] == scores[1]["vad_mae"]
