"""mAP against hand-computed cases and scikit-learn, VAD MAE, CCC and the report files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from emoscope.evaluation.multilabel import (
    average_precision,
    ccc,
    denormalize_vad,
    mean_average_precision,
    vad_mae,
    write_report,
)


def test_average_precision_by_hand():
    # positives at ranks 1 and 3: precision 1 and 2/3 -> AP 5/6
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6]) == pytest.approx(5 / 6)
    # the same ranking given in another row order
    assert average_precision([0, 1, 0, 1], [0.6, 0.7, 0.8, 0.9]) == pytest.approx(5 / 6)
    # tie at 0.5 between a positive and a negative: one threshold (P 1/2, R 1/2), then
    # (P 2/3, R 1): 0.5 * 0.5 + 0.5 * 2/3 = 7/12
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(7 / 12)
    assert average_precision([0, 1, 1], [0.1, 0.8, 0.9]) == 1.0
    assert average_precision([1, 1], [0.3, 0.3]) == 1.0
    # a single positive ranked last of four: precision 1/4
    assert average_precision([0, 0, 0, 1], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.25)
    assert math.isnan(average_precision([0, 0], [0.4, 0.6]))


def test_agrees_with_scikit_learn_on_random_data():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(5, 200))
        y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
        if y.sum() == 0:
            y[0] = 1
        # coarse scores half of the time, so ties are common
        scores = rng.random(n) if trial % 2 else rng.integers(0, 5, n) / 4
        assert average_precision(y, scores) == pytest.approx(
            average_precision_score(y, scores), abs=1e-12)


def test_mean_average_precision_excludes_classes_without_positives():
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.3], [0.8, 0.7, 0.2], [0.7, 0.6, 0.1], [0.6, 0.2, 0.9]])
    report = mean_average_precision(targets, scores, ["a", "b", "c"])
    # a: positives ranked 1 and 3 -> 5/6; b: positive ranked 1 -> 1; c: no positive
    assert report["per_class"] == {"a": pytest.approx(5 / 6), "b": 1.0, "c": None}
    assert report["no_positives"] == ["c"]
    assert report["mAP"] == pytest.approx((5 / 6 + 1) / 2)
    sk = average_precision_score(targets[:, :2], scores[:, :2], average="macro")
    assert report["mAP"] == pytest.approx(sk)
    with pytest.raises(ValueError, match="must both be"):
        mean_average_precision(targets, scores[:, :2])


def test_vad_mae_on_the_original_scale():
    targets = np.array([[5.0, 6.0, 7.0], [1.0, 10.0, float("nan")]])
    errors = vad_mae(targets, np.array([[6.0, 6.0, 5.0], [1.5, 9.0, 3.0]]))
    assert errors == {"valence": pytest.approx(0.75), "arousal": pytest.approx(0.5),
                      "dominance": pytest.approx(2.0), "mean": pytest.approx(3.25 / 3)}
    # predictions in [-1, 1] with train min 1 / max 10: -1 -> 1, 0 -> 5.5, 1 -> 10
    assert denormalize_vad([[-1.0, 0.0, 1.0]], [1, 1, 1], [10, 10, 10]).tolist() == \
        [[1.0, 5.5, 10.0]]
    normalized = vad_mae(np.array([[1.0, 5.5, 10.0]]), np.array([[-1.0, 0.0, 1.0]]),
                         normalization=([1, 1, 1], [10, 10, 10]))
    assert normalized["mean"] == 0.0


def test_ccc_by_hand():
    x = np.array([1.0, 2.0, 3.0])
    assert ccc(x, x) == pytest.approx(1.0)
    centred = x - 2
    assert ccc(centred, -centred) == pytest.approx(-1.0)
    # mirrored but not centred: cov -2/3, variances 2/3, squared mean gap 16 -> -1/13
    assert ccc(x, -x) == pytest.approx(-1 / 13)
    # shifted by 1: cov 2/3, variances 2/3, squared mean gap 1 -> (4/3) / (7/3) = 4/7
    assert ccc(x, x + 1) == pytest.approx(4 / 7)
    # doubled: cov 4/3, variances 2/3 and 8/3, gap 4 -> (8/3) / (22/3) = 4/11
    assert ccc(x, 2 * x) == pytest.approx(4 / 11)
    assert math.isnan(ccc([2.0, 2.0], [2.0, 2.0]))


def test_report_files(tmp_path):
    report = mean_average_precision(np.array([[1, 0], [0, 0]]), np.array([[0.9, 0.2],
                                                                          [0.1, 0.3]]),
                                    ["Peace", "Fear"])
    report["vad_mae"] = {"valence": 1.0, "arousal": 0.5, "dominance": 0.25, "mean": 0.58}
    text, data = write_report(report, tmp_path / "out")
    lines = text.read_text()
    assert "mAP: 100.00" in lines and "Fear: n/a (no positives)" in lines
    assert "VAD MAE valence: 1.0000" in lines
    loaded = json.loads(data.read_text())
    assert loaded["per_class"] == {"Peace": 1.0, "Fear": None}
    assert loaded["no_positives"] == ["Fear"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "evaluation_metrics.json", "evaluation_metrics.txt"]
