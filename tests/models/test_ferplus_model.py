"""The shipped FER+ model: eight classes with contempt, through analysis and evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import emoscope
from cli_runner import run_cli
from emoscope.labels import FERPLUS_LABELS
from emoscope.models.files.zoo import shipped_cards

NAME = "ferplus-lite0"


def _card():
    return next(c for c in shipped_cards() if c.name == NAME)


def test_ferplus_model_is_shipped_with_eight_labels_and_both_scores():
    card = _card()
    assert tuple(card.label_space.labels) == FERPLUS_LABELS.labels
    for key in ("ferplus_publictest_accuracy", "ferplus_publictest_pipeline_accuracy",
                "ferplus_publictest_pipeline_detected"):
        assert 0.5 < card.scores[key] <= 1.0


def test_analyze_with_the_ferplus_model_writes_contempt(astronaut_rgb):
    table = emoscope.analyze(astronaut_rgb, model=NAME)
    assert len(table) == 1
    columns = [f"p_{label}" for label in FERPLUS_LABELS.labels]
    assert set(columns) <= set(table.columns)
    assert np.isclose(table[columns].iloc[0].sum(), 1.0, atol=1e-3)
    assert table["top_label"].iloc[0] in FERPLUS_LABELS.labels


@pytest.mark.shared_data
@pytest.mark.slow
def test_evaluate_ferplus_scores_the_card_value(tmp_path, shared_data, monkeypatch, capsys):
    root = shared_data / "fer2013"
    if not (shared_data / "ferplus" / "fer2013new.csv").is_file():
        pytest.skip("FER+ labels not present")
    out = tmp_path / "eval.json"
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "ferplus", "--root",
                           root, "--split", "test", "--model", NAME, "--json", out)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["accuracy"] == pytest.approx(_card().scores["ferplus_publictest_accuracy"],
                                               abs=6e-4)
