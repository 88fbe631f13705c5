"""One unreadable EMOTIC image is reported and skipped: ``prepare emotic`` finishes and saves
its cache (also when stopped), the dataset serves the next readable person, training runs."""

from __future__ import annotations

import csv
import logging

import pytest
from typer.testing import CliRunner

from emoscope.data.emotic import read_emotic
from emoscope.data.emotic.dataset import load_emotic
from emotic_fixtures import make_images, write_layout

STREAMS = {name: {"size": 32} for name in ("context", "body", "face")}


@pytest.fixture
def broken_root(tmp_path):
    """Preprocessed layout; the first train image's bytes are text (as a bad download)."""
    images = make_images({"train": 3, "val": 1, "test": 1}, seed=21)
    root = write_layout("preprocessed", tmp_path / "pre", images)
    train = read_emotic(root, "train").persons
    bad = train[0].image_path
    bad.write_text("this is not an image")
    return root, bad, [p for p in train if p.image_path == bad], train


def test_dataset_skips_the_unreadable_image_and_reports_it(broken_root, caplog):
    root, bad, bad_persons, train = broken_root
    dataset = load_emotic(root, "train", streams=STREAMS)
    with caplog.at_level(logging.WARNING, logger="emoscope.data.emotic.dataset"):
        items = [dataset[i] for i in range(len(dataset))]
    served = [int(item["index"]) for item in items]
    first_good = len(bad_persons)  # the bad image's persons come first in the split
    assert served[:first_good] == [first_good] * first_good
    assert served[first_good:] == list(range(first_good, len(dataset)))
    assert sorted(dataset.unreadable) == list(range(first_good))
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == first_good and str(bad) in warnings[0]
    assert "not an image" in warnings[0]


def test_training_runs_through_an_unreadable_image(broken_root, tmp_path, one_torch_thread):
    from emoscope.config import merge_config
    from emoscope.training.emotic_config import EmoticConfig
    from emoscope.training.train_emotic import train_emotic

    root, *_ = broken_root
    sets = [f"data.root={root}", f"out_dir={tmp_path / 'runs'}", "model.pretrained=none",
            "model.fusion_dim=16", "trainer.accelerator=cpu", "trainer.batch_size=4",
            "trainer.max_epochs=1", "data.num_workers=0"]
    for stream in ("context", "body", "face"):
        sets += [f"model.{stream}.backbone=tiny_cnn_test", f"model.{stream}.image_size=32"]
    result = train_emotic(merge_config(EmoticConfig, None, sets))
    assert [row["epoch"] for row in result.history] == [0]
    assert result.model_path.is_file()


@pytest.mark.usefixtures("one_torch_thread")
def test_prepare_reports_skips_and_finishes(broken_root):
    pytest.importorskip("mediapipe")
    from emoscope.cli.main import app

    root, bad, bad_persons, _ = broken_root
    out = root / "faces.csv"
    result = CliRunner().invoke(app, ["prepare", "emotic", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"1 unreadable image(s) skipped (e.g. {bad}: " in result.output
    assert "not an image" in result.output
    rows = list(csv.DictReader(out.open()))
    persons = read_emotic(root).persons
    assert len(rows) == len(persons) - len(bad_persons)
    assert {p.key for p in bad_persons}.isdisjoint(r["key"] for r in rows)


def test_prepare_saves_what_it_did_when_stopped(broken_root, monkeypatch):
    pytest.importorskip("mediapipe")
    from emoscope.data.emotic import prepare as prepare_module

    root, _, bad_persons, _ = broken_root
    out = root / "faces.csv"
    found = prepare_module.find_face
    calls = []

    def stop_on_the_fourth(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return found(*args)

    monkeypatch.setattr(prepare_module, "find_face", stop_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        prepare_module.prepare_emotic(root, out=out, save_every=25)
    assert len(list(csv.DictReader(out.open()))) == 3  # saved, though under save_every
    monkeypatch.setattr(prepare_module, "find_face", found)
    report = prepare_module.prepare_emotic(root, out=out)
    assert report.reused == 3 and len(report.unreadable) == 1
    assert report.computed == report.persons - 3 - len(bad_persons)


def test_cached_features_keep_the_stand_in_persons_labels(broken_root, tmp_path,
                                                          one_torch_thread):
    """The frozen-backbone feature cache: a row computed from a stand-in person carries that
    person's labels (computed and when read back), not the unreadable person's."""
    import torch

    from emoscope.config import merge_config
    from emoscope.training.emotic_config import EmoticConfig
    from emoscope.training.feature_cache import cached_features
    from emoscope.training.train_emotic import build_emotic_network, load_emotic_splits

    root, _, bad_persons, train_persons = broken_root
    sets = [f"data.root={root}", "model.pretrained=none", "model.freeze_backbones=true"]
    for stream in ("context", "body", "face"):
        sets += [f"model.{stream}.backbone=tiny_cnn_test", f"model.{stream}.image_size=32"]
    cfg = merge_config(EmoticConfig, None, sets)
    network = build_emotic_network(cfg)
    network.backbones.requires_grad_(False)
    train, _ = load_emotic_splits(cfg, network)
    stand_in = len(bad_persons)
    for attempt in ("computed", "read back"):
        cached = cached_features(network, train, tmp_path / "cache", 4)
        for row in range(len(cached)):
            served = stand_in if row < stand_in else row
            item = cached[row]
            assert int(item["index"]) == served, attempt
            torch.testing.assert_close(
                item["categories"], torch.from_numpy(train.persons[served].categories).float())
