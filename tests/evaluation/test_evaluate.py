"""``evaluate_model`` on generated datasets with a model whose every prediction is known."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emoscope.errors import UserError
from emoscope.evaluation.evaluate import evaluate_model, label_columns
from emoscope.labels import FER2013_LABELS
from synthetic_faces import bar_face, write_fer2013_csv, write_fer2013_folders


def test_known_answer_on_folder_layout(tmp_path, bar_oracle_path):
    # 5 test faces per class, one of them filed under the next class: 28 of 35 right
    fixture = write_fer2013_folders(tmp_path / "fer", train_per_class=1, test_per_class=5,
                                    wrong_test=1)
    report = evaluate_model(bar_oracle_path, "fer2013", fixture.root, "test", batch_size=8)
    assert report["n"] == 35
    assert report["accuracy"] == pytest.approx(28 / 35)
    assert report["macro_f1"] == pytest.approx(0.8)
    assert report["labels"] == list(FER2013_LABELS.labels)
    matrix = np.array(report["confusion_matrix"])
    expected = 4 * np.eye(7, dtype=int)
    for cls in range(7):  # a face drawn as cls, filed under cls + 1
        expected[(cls + 1) % 7, cls] = 1
    np.testing.assert_array_equal(matrix, expected)
    for row in report["per_class"].values():
        assert row == {"precision": 0.8, "recall": 0.8, "f1": pytest.approx(0.8), "support": 5}
    assert report["model"] == "bar-oracle" and report["split"] == "test"


def test_known_answer_on_csv_layout_and_splits(tmp_path, bar_oracle_path):
    fixture = write_fer2013_csv(tmp_path / "csv", train_per_class=1, public_per_class=3,
                                private_per_class=2, wrong_test=1)
    both = evaluate_model(bar_oracle_path, "fer2013", fixture.root, "test")
    assert both["n"] == 35 and both["accuracy"] == pytest.approx(21 / 35)
    public = evaluate_model(bar_oracle_path, "fer2013", fixture.root / "fer2013.csv",
                            "publictest", tta_flip=True)
    assert public["n"] == 21 and public["accuracy"] == pytest.approx(14 / 21)
    assert public["tta_flip"] is True


def test_rgb_image_folder_with_other_label_names(tmp_path, bar_oracle_path):
    # CAER-S style folders; the grey model sees the RGB faces converted to grey
    names = {"Anger": 0, "Disgust": 1, "Fear": 2, "Happy": 3, "Sad": 4, "Surprise": 5,
             "Neutral": 6}
    rng = np.random.default_rng(0)
    for name, cls in names.items():
        folder = tmp_path / "caer" / "test" / name
        folder.mkdir(parents=True)
        for i in range(2):
            grey = bar_face(cls, rng)
            Image.fromarray(np.stack([grey] * 3, -1)).save(folder / f"{i}.png")
    report = evaluate_model(bar_oracle_path, "image_folder", tmp_path / "caer", "test",
                            dataset_kwargs={"grayscale": False, "image_size": 48})
    assert report["accuracy"] == 1.0 and report["n"] == 14
    assert report["labels"] == sorted(names)
    assert report["model_labels"] == list(FER2013_LABELS.labels)


def test_label_columns_and_errors(tmp_path, bar_oracle_path):
    assert list(label_columns(FER2013_LABELS.labels, ["happiness", "Anger"])) == [3, 0]
    with pytest.raises(UserError, match="cannot predict dataset label.*contempt"):
        label_columns(FER2013_LABELS.labels, ["happy", "contempt"])
    with pytest.raises(UserError, match="dataset root not found"):
        evaluate_model(bar_oracle_path, "fer2013", tmp_path / "nowhere")
    with pytest.raises(UserError, match="unknown dataset 'affectnet'; known datasets: .*fer2013"):
        evaluate_model(bar_oracle_path, "affectnet", tmp_path)
