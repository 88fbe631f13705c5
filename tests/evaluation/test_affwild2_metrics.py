"""Challenge metrics equal values computed by hand; CCC follows the formula; masks apply."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.evaluation.affwild2 import (
    action_unit_scores,
    challenge_report,
    expression_scores,
    format_report,
    valence_arousal_scores,
    write_report,
)
from emoscope.evaluation.multilabel import ccc


def _one_hot(classes, k=8):
    probs = np.full((len(classes), k), 0.01)
    probs[np.arange(len(classes)), classes] = 0.9
    return probs


def test_ccc_against_the_formula_on_hand_made_data():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([2.0, 2.0, 4.0, 4.0])
    # means 2.5 and 3; population var 1.25 and 1; cov = (1.5*1 + .5*1 + .5*1 + 1.5*1)/4 = 1
    assert ccc(x, y) == pytest.approx(2 * 1.0 / (1.25 + 1.0 + 0.25))
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x - 2.5, 2.5 - x) == pytest.approx(-1.0)  # centred mirror image
    assert ccc(x, -x) == pytest.approx(-2 * 1.25 / (2.5 + 25.0))
    assert ccc(x, x + 1) == pytest.approx(2 * 1.25 / (2.5 + 1.0))


def test_expression_f1_by_hand_with_missing_labels_ignored():
    targets = np.array([0, 0, 1, 1, 2, -1, -1])
    predicted = np.array([0, 1, 1, 1, 0, 3, 3])  # the -1 rows would be wrong: they are masked
    scores = expression_scores(targets, _one_hot(predicted))
    per = scores["per_class"]
    # class 0: tp 1, fp 1, fn 1 -> F1 0.5; class 1: tp 2, fp 1 -> P 2/3, R 1, F1 0.8; class 2: 0
    assert per["Neutral"]["f1"] == pytest.approx(0.5)
    assert per["Anger"]["precision"] == pytest.approx(2 / 3)
    assert per["Anger"]["f1"] == pytest.approx(0.8)
    assert per["Disgust"]["f1"] == 0.0 and per["Disgust"]["support"] == 1
    assert scores["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)  # classes seen
    assert scores["n"] == 5


def test_action_unit_f1_by_hand():
    targets = np.zeros((4, 12))
    targets[:2, 0] = 1  # AU1 active on two frames
    targets[3] = -1  # unlabelled frame, masked
    probs = np.zeros((4, 12))
    probs[0, 0] = 0.7  # tp
    probs[2, 0] = 0.6  # fp
    probs[3] = 0.9  # would be fp everywhere: masked
    scores = action_unit_scores(targets, probs)
    au1 = scores["per_class"]["AU1"]
    assert (au1["precision"], au1["recall"], au1["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert scores["mean_f1"] == pytest.approx(0.5 / 12)  # the other units have no positives
    assert scores["n"] == 3


def test_challenge_score_is_the_sum_of_its_parts(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    targets = {"expression": rng.integers(0, 8, n),
               "valence_arousal": rng.uniform(-1, 1, (n, 2)),
               "action_units": rng.integers(0, 2, (n, 12)).astype(float)}
    targets["valence_arousal"][:5] = np.nan
    outputs = {"probabilities": rng.random((n, 8)),
               "valence_arousal": targets["valence_arousal"] * 0.5 + 0.1,
               "action_unit_probabilities": rng.random((n, 12))}
    report = challenge_report(targets, outputs)
    va = valence_arousal_scores(targets["valence_arousal"], outputs["valence_arousal"])
    valid = ~np.isnan(targets["valence_arousal"][:, 0])
    expected_v = ccc(outputs["valence_arousal"][valid, 0], targets["valence_arousal"][valid, 0])
    assert va["ccc_valence"] == pytest.approx(expected_v) and va["n"] == 35
    expected = (va["mean_ccc"] + report["expression"]["macro_f1"]
                + report["action_units"]["mean_f1"])
    assert report["score"] == pytest.approx(expected)
    text, data = write_report(report, tmp_path)
    assert "challenge score" in text.read_text() and "AU26" in text.read_text()
    assert data.is_file()
    assert format_report(report).startswith(f"challenge score: {report['score']:.4f}")


def test_score_without_va_labels_sums_the_rest():
    targets = {"expression": np.array([0, 1]), "valence_arousal": np.full((2, 2), np.nan)}
    outputs = {"probabilities": _one_hot([0, 1]), "valence_arousal": np.zeros((2, 2))}
    report = challenge_report(targets, outputs)
    assert report["score_parts"] == {"expression_f1": 1.0}
    assert report["score"] == 1.0
