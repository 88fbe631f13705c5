"""Temperature fitted on held-out faces; the predictor and evaluate apply the stored value."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emoscope.study.calibrate import calibrate, main, store_temperature
from synthetic_faces import write_fer2013_folders


@pytest.fixture
def noisy_fer(tmp_path):
    """10 faces per class, 3 of them filed under the next class: the oracle is 70% right while
    being sure of every answer, so a temperature above 1 must lower its ECE."""
    return write_fer2013_folders(tmp_path / "fer", train_per_class=10, test_per_class=10,
                                 wrong_test=3)


def _copy_model(src, folder):
    folder.mkdir()
    for path in src.parent.glob(f"{src.stem}.*"):
        shutil.copy(path, folder / path.name)
    return folder / src.name


def test_calibrate_fits_a_temperature_that_lowers_ece(noisy_fer, bar_oracle_path):
    report = calibrate(bar_oracle_path, "fer2013", noisy_fer.root, "test",
                       checks=[("fer2013", noisy_fer.root, "train")])
    assert report["n"] == 70 and report["fitted_on"] == "fer2013:test"
    assert report["temperature"] > 1.0
    assert report["nll_after"] < report["nll_before"]
    assert report["ece_after"] < report["ece_before"] - 0.05
    check = report["checks"]["fer2013:train"]
    assert check["n"] == 70 and check["ece_before"] < 0.05  # train faces are all filed right


def test_stored_temperature_reaches_predictor_and_evaluate(tmp_path, noisy_fer, bar_oracle_path):
    from emoscope.evaluation.evaluate import evaluate_model
    from emoscope.inference.predictor import FacePredictor, prepare_crop

    model = _copy_model(bar_oracle_path, tmp_path / "m")
    card = model.with_suffix(".json")
    faces = [np.full((48, 48, 3), 90, np.uint8)]
    faces[0][10:14, 6:42] = 230
    plain = FacePredictor.from_name(card, runtime="torch")
    before = plain.predict([prepare_crop(faces[0], plain.card)]).probabilities
    ece_before = evaluate_model(str(card), "fer2013", noisy_fer.root, "test")["ece"]
    store_temperature(card, 3.0)
    assert json.loads(card.read_text())["extra"]["temperature"] == 3.0
    scaled = FacePredictor.from_name(card, runtime="torch")
    after = scaled.predict([prepare_crop(faces[0], scaled.card)]).probabilities
    expected = np.exp(np.log(before) / 3.0)
    assert np.allclose(after, expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert after.max() < before.max()
    report = evaluate_model(str(card), "fer2013", noisy_fer.root, "test")
    assert report["temperature"] == 3.0 and report["ece"] < ece_before


def test_main_writes_the_card_only_when_ece_drops(tmp_path, noisy_fer, bar_oracle_path,
                                                  capsys):
    model = _copy_model(bar_oracle_path, tmp_path / "m")
    main(["--model", str(model.with_suffix(".json")), "--dataset", "fer2013", "--root",
          str(noisy_fer.root), "--split", "test", "--write-card", "--json",
          str(tmp_path / "cal.json")])
    stored = json.loads(model.with_suffix(".json").read_text())["extra"]["temperature"]
    assert stored == json.loads((tmp_path / "cal.json").read_text())["temperature"] > 1.0
    assert "stored in" in capsys.readouterr().out
