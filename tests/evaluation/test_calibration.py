from __future__ import annotations

import numpy as np
import pytest

from emoscope.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    softmax_with_temperature,
)


def test_ece_of_known_bins():
    # Two faces at 0.95 confidence, one right (bin acc 0.5): |0.5 - 0.95| = 0.45;
    # two at 0.55, both right: |1 - 0.55| = 0.45 -> ECE 0.45.
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    targets = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probs, targets) == pytest.approx(0.45)
    # Perfect calibration: confidence 1 and always right.
    assert expected_calibration_error(np.eye(3), np.arange(3)) == pytest.approx(0.0)


def test_ece_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        expected_calibration_error(np.ones((3, 2)) / 2, np.zeros(2, int))


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 7))
    true_t = 2.5
    probs = softmax_with_temperature(logits, true_t)
    targets = np.array([rng.choice(7, p=p) for p in probs])
    fitted = fit_temperature(logits, targets)
    assert fitted == pytest.approx(true_t, rel=0.1)
    before = expected_calibration_error(softmax_with_temperature(logits, 1.0), targets)
    after = expected_calibration_error(softmax_with_temperature(logits, fitted), targets)
    assert after < before / 3


def test_log_probabilities_and_logits_give_the_same_scaled_softmax():
    logits = np.array([[2.0, 0.5, -1.0]])
    log_probs = np.log(softmax_with_temperature(logits, 1.0))
    assert np.allclose(softmax_with_temperature(logits, 1.7),
                       softmax_with_temperature(log_probs, 1.7))
