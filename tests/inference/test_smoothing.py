"""Smoothing maths: EMA with span k, moving window, online equals offline, per track."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoscope.inference.smoothing import TrackSmoother, ema_alpha, smooth_series


def test_ema_matches_pandas_span():
    values = np.random.default_rng(0).random((20, 3))
    expected = pd.DataFrame(values).ewm(span=5, adjust=False).mean().to_numpy()
    assert np.allclose(smooth_series(values, 5, "ema"), expected)
    assert ema_alpha(5) == pytest.approx(1 / 3)


def test_window_is_trailing_mean():
    values = np.arange(6, dtype=float)[:, None]
    assert smooth_series(values, 3, "window")[:, 0].tolist() == [0, 0.5, 1, 2, 3, 4]


def test_k_one_is_identity_and_online_equals_offline():
    values = np.random.default_rng(1).random((12, 4))
    assert np.array_equal(smooth_series(values, 1), values)
    for method in ("ema", "window"):
        smoother = TrackSmoother(4, method)
        online = np.array([smoother.update("a", v) for v in values])
        assert np.allclose(online, smooth_series(values, 4, method))


def test_tracks_are_independent_and_forgotten():
    smoother = TrackSmoother(3, "ema")
    smoother.update(1, np.array([1.0, 0.0]))
    out = smoother.update(2, np.array([0.0, 1.0]))
    assert out.tolist() == [0.0, 1.0]
    smoother.forget({2})
    assert smoother.update(1, np.array([0.0, 1.0])).tolist() == [0.0, 1.0]


def test_smoothed_probabilities_still_sum_to_one():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(7), size=30)
    for method in ("ema", "window"):
        assert np.allclose(smooth_series(probs, 6, method).sum(axis=1), 1.0)


def test_unknown_method():
    with pytest.raises(ValueError, match="ema or window"):
        TrackSmoother(3, "median")
