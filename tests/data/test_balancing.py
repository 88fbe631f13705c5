"""Balancing changes class counts exactly as configured; ensemble subsets are disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.balancing import (
    BalanceConfig,
    apply_factors,
    boost_factors,
    disjoint_subsets,
    downsample,
    training_indices,
)
from emoscope.errors import UserError
from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS

EXPR, AUS = AFFWILD2_EXPRESSIONS.labels, AFFWILD2_ACTION_UNITS.labels


def _labels():
    # class 0: 50 frames, class 4: 20, class 5: 5, unlabelled: 10
    expressions = np.array([0] * 50 + [4] * 20 + [5] * 5 + [-1] * 10)
    aus = np.zeros((len(expressions), 12))
    aus[::3, 1] = 1  # AU2 active on every third frame
    return expressions, aus


def test_downsample_caps_majority_classes_and_keeps_unlabelled():
    expressions, _ = _labels()
    kept = expressions[downsample(expressions, 10, np.random.default_rng(0))]
    counts = {c: int((kept == c).sum()) for c in (0, 4, 5, -1)}
    assert counts == {0: 10, 4: 10, 5: 5, -1: 10}


def test_boost_factors_by_expression_and_au():
    expressions, aus = _labels()
    factors = boost_factors(expressions, aus, EXPR, AUS, {"Sadness": 3.0, "AU2": 2.0})
    assert set(factors[expressions == 5]) <= {3.0}  # Sadness wins over AU2 (max)
    assert factors[0] == 2.0 and factors[1] == 1.0  # AU2 frame, plain frame
    index = apply_factors(np.arange(len(expressions)), factors, np.random.default_rng(0))
    assert (expressions[index] == 5).sum() == 15  # integer factors are exact


def test_fractional_boost_is_right_on_average():
    factors = np.full(4000, 1.5)
    index = apply_factors(np.arange(4000), factors, np.random.default_rng(1))
    assert 5800 < len(index) < 6200
    assert np.bincount(index).max() == 2


def test_unknown_boost_label_lists_known_ones():
    expressions, aus = _labels()
    with pytest.raises(UserError, match="unknown label.*Joy.*known: Neutral"):
        boost_factors(expressions, aus, EXPR, AUS, {"Joy": 2.0})


def test_disjoint_subsets_cover_everything_once_and_are_stratified():
    expressions, _ = _labels()
    parts = disjoint_subsets(expressions, 3, np.random.default_rng(0))
    joined = np.concatenate(parts)
    assert sorted(joined) == list(range(len(expressions)))
    for part in parts:
        assert abs((expressions[part] == 0).sum() - 50 / 3) <= 1
    videos = [f"v{i // 10}" for i in range(len(expressions))]
    by_video = disjoint_subsets(expressions, 3, np.random.default_rng(0), videos)
    for a in range(3):
        for b in range(a + 1, 3):
            assert not {videos[i] for i in by_video[a]} & {videos[i] for i in by_video[b]}


def test_training_indices_members_are_disjoint_then_balanced():
    expressions, aus = _labels()
    cfg = BalanceConfig(max_per_class=8, boost={"Sadness": 2.0}, subsets=2, seed=3)
    members = [training_indices(expressions, aus, EXPR, AUS, cfg, m) for m in range(2)]
    assert not set(members[0]) & set(members[1])
    for index in members:
        assert (expressions[index] == 0).sum() == 8
        assert (expressions[index] == 5).sum() in (4, 6)  # 2 or 3 sad frames, doubled
    with pytest.raises(UserError, match="member 2"):
        training_indices(expressions, aus, EXPR, AUS, cfg, 2)
