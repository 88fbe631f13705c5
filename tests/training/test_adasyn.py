"""ADASYN in feature space: minority labels gain positives, shapes and other labels are kept,
a cached training run resamples and reports its class counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emoscope.errors import UserError
from emoscope.training.adasyn import adasyn_multilabel, label_targets, resample_cached
from emoscope.training.feature_cache import CachedFeatures

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def imbalanced(n: int = 200, seed: int = 0):
    """Four labels with 100, 60, 10 and 6 positives (and one label never set)."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 5), np.float32)
    y[:100, 0] = 1
    y[rng.permutation(n)[:60], 1] = 1
    rare2, rare3 = rng.permutation(n)[:10], rng.permutation(n)[:6]
    y[rare2, 2] = 1
    y[rare3, 3] = 1
    x = rng.normal(size=(n, 12)).astype(np.float32)
    x[:, 0] += 3 * y[:, 2]  # the rare labels live in their own corners of feature space
    x[:, 1] += 3 * y[:, 3]
    return x, y


def test_targets_follow_the_median_of_present_labels():
    counts = np.array([100, 60, 10, 6, 0])
    assert label_targets(counts, "none").tolist() == [100, 60, 10, 6, 0]
    assert label_targets(counts, "mini").tolist() == [100, 60, 17, 17, 0]  # 0.5 x 35
    assert label_targets(counts, "full").tolist() == [100, 60, 35, 35, 0]
    with pytest.raises(UserError, match="unknown resampling level 'most'"):
        label_targets(counts, "most")


def test_adasyn_raises_minority_counts_and_keeps_shapes():
    x, y = imbalanced()
    new, parents, counts = adasyn_multilabel(x, y, "full", list("abcde"), seed=0)
    assert new.shape[1] == x.shape[1] and new.dtype == x.dtype
    assert len(parents) == len(new) == counts["persons_after"] - 200
    assert counts["before"] == {"a": 100, "b": 60, "c": 10, "d": 6, "e": 0}
    # ADASYN rounds its per-sample shares: within a few of the target of 35
    assert 30 <= counts["after"]["c"] <= 40 and 30 <= counts["after"]["d"] <= 40
    assert counts["generated"]["a"] == counts["generated"]["b"] == 0
    assert (y[parents[:counts["generated"]["c"]], 2] == 1).all()  # parents are positives
    synthetic_c = new[:counts["generated"]["c"]]
    assert synthetic_c[:, 0].mean() > 2  # interpolated between positives of "c"
    mini = adasyn_multilabel(x, y, "mini", list("abcde"), seed=0)[2]
    assert counts["before"]["c"] < mini["after"]["c"] < counts["after"]["c"]


def test_label_with_one_positive_is_reported_not_resampled():
    x, y = imbalanced()
    y[:, 4] = 0
    y[7, 4] = 1
    _, _, counts = adasyn_multilabel(x, y, "full", list("abcde"))
    assert "e" in counts["skipped"] and counts["after"]["e"] == 1


def test_resample_cached_appends_labelled_synthetic_persons():
    x, y = imbalanced()
    features = {"context": torch.from_numpy(x[:, :8]), "face": torch.from_numpy(x[:, 8:])}
    mask = torch.ones(200, 3)
    mask[::2, 2] = 0  # every other face missing
    for stream in features:
        features[stream] = features[stream].clone()
    features["face"][::2] = 0
    targets = {"categories": torch.from_numpy(y), "vad": torch.rand(200, 3),
               "stream_mask": mask, "index": torch.arange(200)}
    out = resample_cached(CachedFeatures(features, targets), "full", labels=list("abcde"))
    n = out.resampling["persons_after"]
    assert len(out) == n and out.features["context"].shape == (n, 8)
    assert out.features["face"].shape == (n, 4) and out.targets["vad"].shape == (n, 3)
    added = out.targets["categories"][200:]
    generated = out.resampling["generated"]
    assert (added[:generated["c"], 2] == 1).all() and (added[generated["c"]:, 3] == 1).all()
    assert (out.targets["index"][200:] == -1).all()
    no_face = out.targets["stream_mask"][200:, 2] == 0
    assert no_face.any() and (out.features["face"][200:][no_face] == 0).all()
    positives = out.targets["categories"].sum(0)
    assert positives[2] == out.resampling["after"]["c"]


def test_cached_run_resamples_and_reports_counts(tmp_path):
    from test_train_emotic import tiny_config

    from emoscope.training.train_emotic import train_emotic
    from emotic_fixtures import make_images, write_face_cache, write_layout

    images = make_images({"train": 8, "val": 4, "test": 2}, seed=4)
    angry = [p for i in images if i.split == "train" for p in i.persons if "Anger" in p.categories]
    for person in angry[3:]:  # Anger becomes the rare label: 3 train positives
        person.categories = [c for c in person.categories if c != "Anger"]
    root = write_layout("preprocessed", tmp_path / "emotic_pre", images)
    write_face_cache(root, images)
    cfg = tiny_config(root, tmp_path / "runs", "model.freeze_backbones=true",
                      "trainer.feature_cache=true", f"trainer.cache_dir={tmp_path / 'cache'}",
                      "trainer.max_epochs=1", "trainer.resample=full", "name=adasyn")
    result = train_emotic(cfg)
    counts = json.loads((result.run_dir / "resampling.json").read_text())
    assert counts["persons_before"] == 16
    assert counts["before"]["Anger"] == 3 and counts["targets"]["Anger"] > 6
    assert counts["after"]["Anger"] > 3 and counts["persons_after"] > 16
    cfg.trainer.feature_cache = False
    cfg.name = "uncached"
    with pytest.raises(UserError, match="ADASYN resamples cached features"):
        train_emotic(cfg)
