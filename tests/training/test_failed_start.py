"""A training start that fails leaves no run folder behind, and data errors come before any
network is built."""

from __future__ import annotations

import pytest

from emoscope.errors import UserError


def test_face_run_with_missing_data_leaves_nothing(tmp_path):
    from test_train_runs import tiny_config

    from emoscope.training.train import train

    with pytest.raises(UserError):
        train(tiny_config(tmp_path / "no_such_data", tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_face_run_with_an_unknown_backbone_leaves_nothing(tmp_path):
    from test_train_runs import tiny_config

    from emoscope.training.train import train
    from synthetic_faces import write_fer2013_folders

    data = write_fer2013_folders(tmp_path / "fer2013", train_per_class=2, test_per_class=1)
    with pytest.raises(Exception, match="no_such_backbone"):
        train(tiny_config(data.root, tmp_path / "runs", "model.backbone=no_such_backbone"))
    assert not (tmp_path / "runs" / "tiny").exists()


def test_emotic_data_errors_come_before_the_networks(tmp_path, monkeypatch):
    from test_train_emotic import tiny_config

    from emoscope.training import train_emotic as module

    def built_too_early(cfg):
        raise AssertionError("a network was built before the data was read")

    monkeypatch.setattr(module, "build_emotic_network", built_too_early)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no EMOTIC layout found"):
        module.train_emotic(tiny_config(tmp_path / "empty", tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_speech_run_with_missing_data_leaves_nothing(tmp_path):
    from test_train_speech import _config

    from emoscope.training.train_speech import train_speech

    with pytest.raises(UserError):
        train_speech(_config(tmp_path, tmp_path / "no_such_ravdess"))
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("dataset", "message"), [("caer_s", "dataset root not found"),
                                                  ("emotic", "no EMOTIC layout found")])
def test_clef_data_errors_come_before_the_networks(tmp_path, monkeypatch, dataset, message):
    from emoscope.config import merge_config
    from emoscope.training import train_clef as module
    from emoscope.training.clef_config import ClefConfig

    def built_too_early(cfg):
        raise AssertionError("a network was built before the data was read")

    monkeypatch.setattr(module, "build_clef_network", built_too_early)
    root = tmp_path / "empty"
    if dataset == "emotic":
        root.mkdir()
    cfg = merge_config(ClefConfig, None, [f"data.root={root}", f"data.dataset={dataset}",
                                          f"out_dir={tmp_path / 'runs'}"])
    with pytest.raises(UserError, match=message):
        module.train_clef(cfg)
    assert not (tmp_path / "runs").exists()
