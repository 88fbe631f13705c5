"""RAVDESS actor-disjoint CV: fixed gender-balanced folds, nested choice of C, 7-class scores
and per-speaker normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.errors import UserError
from emoscope.evaluation.speech_cv import (
    cross_validate_features,
    cv_actor_folds,
    fold_scores,
    model_recipe,
    seven_class,
)
from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.speech_linear import LinearRecipe, speaker_standardise


def test_folds_are_contiguous_and_gender_balanced():
    folds = cv_actor_folds(list(range(20, 0, -1)) * 3)
    assert folds == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16],
                     [17, 18, 19, 20]]
    for fold in folds:
        assert sum(a % 2 for a in fold) == 2  # odd IDs are the male actors
    with pytest.raises(UserError, match="gender-balanced"):
        cv_actor_folds([1, 3, 5, 7, 2, 4, 6, 8, 9, 11], 2)  # 1-5 holds three male actors


def test_seven_class_merges_calm_into_neutral():
    labels = np.array([0, 1, 2, 7])
    probs = np.zeros((4, 8))
    probs[0, 1] = probs[1, 0] = probs[2, 2] = probs[3, 7] = 1.0  # calm <-> neutral confused
    labels7, probs7 = seven_class(labels, probs)
    assert labels7.tolist() == [0, 0, 1, 6] and probs7.shape == (4, 7)
    scores = fold_scores(labels, probs)
    assert scores["accuracy"] == 0.5 and scores["accuracy_7class"] == 1.0


def _speaker_data(seed: int = 0, offset: float = 3.0):
    """8 classes readable from 2 of 6 features, each speaker shifting every feature."""
    rng = np.random.default_rng(seed)
    rows, labels, speakers = [], [], []
    for actor in range(1, 21):
        shift = rng.normal(0, offset, 6)
        for label in range(8):
            for _ in range(6):
                signal = np.array([np.cos(label * np.pi / 4), np.sin(label * np.pi / 4)])
                rows.append(np.concatenate([signal, np.zeros(4)]) + shift
                            + rng.normal(0, 0.1, 6))
                labels.append(label)
                speakers.append(actor)
    return np.array(rows), np.array(labels), np.array(speakers)


def test_cv_chooses_c_inside_the_training_actors_and_speaker_norm_helps():
    features, labels, speakers = _speaker_data()
    plain = cross_validate_features(features, labels, speakers, LinearRecipe(cs=(0.01, 1.0)))
    normed = cross_validate_features(features, labels, speakers,
                                     LinearRecipe(speaker_norm=True, cs=(0.01, 1.0)))
    assert [f["actors"] for f in plain.folds] == cv_actor_folds(speakers)
    assert all(set(f["inner_uar"]) == {"0.01", "1.0"} for f in plain.folds)
    summary, summary_norm = plain.summary(), normed.summary()
    # speaker shifts (3x the class spread) hide the classes; removing each speaker's mean and
    # std reveals them
    assert summary_norm["uar_mean"] > 0.9
    assert summary["uar_mean"] < summary_norm["uar_mean"] - 0.2
    assert summary["uar_std"] >= 0 and 0 <= summary["accuracy_7class_mean"] <= 1


def test_speaker_standardise_uses_each_speakers_own_statistics():
    features = np.array([[1.0, 10.0], [3.0, 30.0], [101.0, 0.0], [103.0, 2.0]])
    out = speaker_standardise(features, np.array([1, 1, 2, 2]))
    assert np.allclose(out, [[-1, -1], [1, 1], [-1, -1], [1, 1]])


def _card(arch: str, extra: dict, recipe: str = "") -> ModelCard:
    card = ModelCard.__new__(ModelCard)
    card.name, card.architecture, card.architecture_kwargs = "m", arch, {"layers": 2}
    card.extra, card.recipe = extra, recipe
    return card


def test_model_recipe_from_cards_and_refusal_for_cnns():
    stored = {"features": "ge2e_l12", "crop_seconds": 0.0, "speaker_norm": False,
              "cs": [0.1]}
    assert model_recipe(_card("speech_ge2e", {"cv_recipe": stored})) == LinearRecipe(
        "ge2e_l12", 0.0, False, (0.1,))
    probe = model_recipe(_card("speech_ge2e", {"linear_probe": {"C": 0.01}},
                               '{"linear_probe": {"cs": [0.01, 0.1]}}'))
    assert probe == LinearRecipe("ge2e_l2", 3.0, False, (0.01, 0.1))
    with pytest.raises(UserError, match="speech_timm model .*linear-head"):
        model_recipe(_card("speech_timm", {}))
