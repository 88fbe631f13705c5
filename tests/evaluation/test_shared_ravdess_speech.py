"""Shipped speech models re-scored on the real RAVDESS: the ensemble trained on actors 01-16
on its validation actors 17-20, the default by its 5-fold actor CV; the numbers in their cards
must be reproduced. Skipped when the data is absent."""

from __future__ import annotations

import pytest

from emoscope.data.ravdess import select_clips
from emoscope.models.files.zoo import DEFAULT_FOR_TASK, resolve_model_path

ENSEMBLE = "ravdess-speech-lite0ge2e"  # trained on actors 01-16, scored on 17-20
pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def ravdess_root(shared_data):
    root = shared_data / "ravdess"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    return root


def test_real_ravdess_layout(ravdess_root):
    clips = select_clips(ravdess_root)
    assert len(clips) == 1200
    assert sorted({c.actor for c in clips}) == list(range(1, 21))
    assert [c.actor for c in select_clips(ravdess_root, split="val")][::60] == [17, 18, 19, 20]


def test_shipped_speech_model_reproduces_its_card(ravdess_root, one_torch_thread):
    from emoscope.evaluation.speech import evaluate_speech_model
    from emoscope.models.files.checkpoint import read_card

    card = read_card(resolve_model_path(ENSEMBLE, "speech_emotion"))
    assert card.task == "speech_emotion" and card.label_space.num_classes == 8
    assert card.extra["speakers"]["val"] == [17, 18, 19, 20]
    assert not set(card.extra["speakers"]["train"]) & {17, 18, 19, 20, 21, 22, 23, 24}
    report = evaluate_speech_model(ENSEMBLE, "ravdess", ravdess_root, split="val")
    assert report["n"] == 240 and report["speakers"] == [17, 18, 19, 20]
    assert report["accuracy"] == pytest.approx(card.scores["val_clip_accuracy"], abs=1e-3)
    assert report["uar"] == pytest.approx(card.scores["val_clip_uar"], abs=1e-3)


def test_shipped_speech_model_scores_the_same_in_onnx_runtime(ravdess_root, one_torch_thread):
    from emoscope.evaluation.speech import evaluate_speech_model

    kwargs = {"max_per_emotion": 8}
    torch_report = evaluate_speech_model(ENSEMBLE, "ravdess", ravdess_root, split="val",
                                         dataset_kwargs=kwargs, runtime="torch")
    onnx_report = evaluate_speech_model(ENSEMBLE, "ravdess", ravdess_root, split="val",
                                        dataset_kwargs=kwargs, runtime="onnx")
    assert onnx_report["n"] == torch_report["n"] == 64
    assert onnx_report["accuracy"] == torch_report["accuracy"]
    assert onnx_report["confusion_matrix"] == torch_report["confusion_matrix"]


def test_default_speech_model_reproduces_its_cross_validation(ravdess_root):
    """The default's recipe retrained on each actor fold gives the CV scores of its card."""
    from emoscope.evaluation.speech_cv import cross_validate_model
    from emoscope.models.files.checkpoint import read_card

    name = DEFAULT_FOR_TASK["speech_emotion"]
    card = read_card(resolve_model_path(name, "speech_emotion"))
    assert card.extra["speakers"]["train"] == list(range(1, 21))
    report = cross_validate_model(name, ravdess_root)
    assert [f["actors"][0] for f in report["folds"]] == [1, 5, 9, 13, 17]
    for key in ("accuracy_mean", "uar_mean", "accuracy_7class_mean", "uar_7class_mean"):
        assert report[key] == pytest.approx(card.scores[f"ravdess_cv5_{key}"], abs=1e-4), key
