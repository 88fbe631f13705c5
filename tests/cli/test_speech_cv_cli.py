"""``emoscope evaluate --dataset ravdess --cv 5``: a linear-head recipe retrained per actor
fold on generated RAVDESS tones; CNN models and incomplete actor sets refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.cli_runner import run_cli
from tests.speech_fixtures import write_ravdess

from emoscope.data.audio import AudioFrontEnd
from emoscope.labels import RAVDESS_LABELS
from emoscope.models.files.checkpoint import ModelCard, save_model
from emoscope.models.preprocessing import Preprocessing
from emoscope.models.speech_ge2e import SpeechGE2E

FRONT = AudioFrontEnd().to_dict()


def _model(tmp_path, recipe: dict | None, arch: str = "speech_ge2e"):
    torch.manual_seed(0)
    network = SpeechGE2E(num_classes=8, front_end=FRONT, layers=2).eval()
    with torch.no_grad():
        for p in network.backbone.parameters():
            p.mul_(3.0)
    extra = {"audio": FRONT, "crop_seconds": 1.0}
    if recipe is not None:
        extra["cv_recipe"] = recipe
    card = ModelCard(name="tiny-linear", architecture=arch,
                     architecture_kwargs={"num_classes": 8, "front_end": FRONT, "layers": 2},
                     label_space=RAVDESS_LABELS, preprocessing=Preprocessing((1, 64, 101),
                                                                             (0.0,), (1.0,)),
                     task="speech_emotion", extra=extra)
    return save_model(network, card, tmp_path / "tiny-linear").with_suffix(".json")


@pytest.fixture
def tones_root(tmp_path_factory):
    return write_ravdess(tmp_path_factory.mktemp("ravdess"), actors=range(1, 21),
                        statements=(1,), seconds=1.0)


def test_cv_prints_and_writes_mean_and_std_per_fold(tmp_path, tones_root, monkeypatch,
                                                    capsys):
    monkeypatch.chdir(tmp_path)  # feature caches go under ./.cache
    model = _model(tmp_path, {"features": "ge2e_l2", "crop_seconds": 1.0,
                              "speaker_norm": False, "cs": [0.1]})
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "ravdess",
                             "--root", tones_root, "--cv", "5", "--model", model,
                             "--json", tmp_path / "cv.json")
    assert code == 0, err
    report = json.loads((tmp_path / "cv.json").read_text())
    assert [f["actors"] for f in report["folds"]] == [[1, 2, 3, 4], [5, 6, 7, 8],
                                                      [9, 10, 11, 12], [13, 14, 15, 16],
                                                      [17, 18, 19, 20]]
    assert report["clips"] == 20 * 15
    accuracies = [f["accuracy"] for f in report["folds"]]
    assert report["accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert report["accuracy_std"] == pytest.approx(np.std(accuracies))
    assert report["uar_mean"] > 0.5  # pitch separates the tones even for unseen "actors"
    assert "actors 17-20" in out and "5-fold actor CV (300 clips)" in out
    assert (tmp_path / ".cache" / "speech_features").is_dir()


def test_cnn_models_and_missing_actors_are_refused(tmp_path, tones_root, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "ravdess", "--root",
                           tones_root, "--cv", "5", "--model", "ravdess-speech-lite0")
    assert code != 0 and "speech_timm model" in err and "Traceback" not in err
    few = write_ravdess(tmp_path / "few", actors=range(1, 13), statements=(1,), seconds=1.0)
    model = _model(tmp_path, {"features": "ge2e_l2", "crop_seconds": 1.0,
                              "speaker_norm": False, "cs": [0.1]})
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "ravdess", "--root",
                           few, "--cv", "5", "--model", model)
    assert code != 0 and "needs actors 01-20" in err
