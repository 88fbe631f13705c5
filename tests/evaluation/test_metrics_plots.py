"""Metrics against hand-computed values; plots write PNG files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoscope.evaluation.metrics import classification_report
from emoscope.evaluation.plots import plot_confusion, plot_history

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_by_hand():
    targets = [0, 0, 0, 1, 1, 2]
    predictions = [0, 0, 1, 1, 2, 2]
    report = classification_report(targets, predictions, ["a", "b", "c", "d"])
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["n"] == 6
    assert report["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    a, b, c = report["per_class"]["a"], report["per_class"]["b"], report["per_class"]["c"]
    assert (a["precision"], a["recall"], a["support"]) == (1.0, pytest.approx(2 / 3), 3)
    assert a["f1"] == pytest.approx(0.8)
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 0.5, 0.5)
    assert (c["precision"], c["recall"]) == (0.5, 1.0) and c["f1"] == pytest.approx(2 / 3)
    assert report["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # macro-F1 over the classes that occur (a, b, c), not the absent d
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert report["labels"] == ["a", "b", "c", "d"]


def test_report_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        classification_report([0, 1], [0], ["a", "b"])
    with pytest.raises(ValueError):
        classification_report([], [], ["a"])


def test_plots_write_png(tmp_path):
    history = [
        {"epoch": 0, "step": 5, "train/loss": 1.2, "val/loss": 1.1, "val/accuracy": 0.4},
        {"epoch": 1, "step": 10, "train/loss": 0.8, "val/loss": math.nan, "val/macro_f1": 0.5},
    ]
    path = plot_history(history, tmp_path / "sub" / "history.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert plot_history([{"epoch": 0}], tmp_path / "empty.png") is None
    assert not (tmp_path / "empty.png").exists()
    matrix = np.array([[5, 1], [0, 0]])
    out = plot_confusion(matrix, ["happy", "sad"], tmp_path / "confusion.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="does not fit"):
        plot_confusion(matrix, ["one"], tmp_path / "bad.png")
