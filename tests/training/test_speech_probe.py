"""The linear probe: its scaler and regression become the model's head exactly, C is chosen
inside the training speakers, and on generated tones the exported model scores what
scikit-learn predicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoscope.data.audio import AudioFrontEnd
from emoscope.errors import UserError
from emoscope.models.speech_ge2e import SpeechGE2E, resemblyzer_weights_file
from emoscope.training.speech_probe import choose_c, install_head
from speech_fixtures import write_ravdess

FRONT = AudioFrontEnd().to_dict()


def test_installed_head_computes_the_standardised_regression():
    rng = np.random.default_rng(0)
    network = SpeechGE2E(num_classes=3, front_end=FRONT).eval()
    mean, var = rng.normal(0, 0.1, 512), rng.uniform(1e-5, 1e-3, 512)  # var near BN's eps
    coef, intercept = rng.normal(0, 1, (3, 512)), rng.normal(0, 1, 3)
    install_head(network, mean, var, coef, intercept)
    x = rng.normal(0, 0.05, (4, 512))
    expected = ((x - mean) / np.sqrt(var)) @ coef.T + intercept
    with torch.no_grad():
        got = network.head(torch.from_numpy(x).float()).double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
    with pytest.raises(UserError, match="do not fit the head"):
        install_head(network, mean, var, coef[:2, :10], intercept[:2])
    from emoscope.models.speech import SpeechCNN

    with pytest.raises(UserError, match="linear_probe needs a model with a batch-norm"):
        install_head(SpeechCNN(num_classes=3), mean, var, coef, intercept)


def test_c_is_chosen_by_leave_speakers_out_uar_and_ties_take_the_smaller():
    rng = np.random.default_rng(1)
    speakers = np.repeat(np.arange(1, 9), 20)
    labels = np.tile(np.arange(4), 40)
    features = rng.normal(0, 1, (160, 6))
    features[np.arange(160), labels] += 8.0  # far apart: every C scores 1.0
    c, scores = choose_c(features, labels, speakers, (0.1, 0.01, 1.0))
    assert set(scores) == {0.1, 0.01, 1.0} and all(s == 1.0 for s in scores.values())
    assert c == 0.01


@pytest.mark.skipif(resemblyzer_weights_file() is None, reason="Resemblyzer not installed")
def test_probe_on_tones_exports_a_model_scoring_what_sklearn_predicts(tmp_path,
                                                                     one_torch_thread):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from emoscope.config import merge_config
    from emoscope.evaluation.speech import evaluate_speech_arrays
    from emoscope.models.files.checkpoint import load_model
    from emoscope.training.speech_config import SpeechTrainConfig
    from emoscope.training.speech_probe import clip_features
    from emoscope.training.train_speech import load_speech_split, train_speech

    root = write_ravdess(tmp_path / "ravdess", statements=(1,))
    cfg = merge_config(SpeechTrainConfig, "configs/ravdess_speech_ge2e.yaml", [
        f"data.root={root}", f"out_dir={tmp_path / 'runs'}", "name=probe",
        f"data.cache_dir={tmp_path / 'cache'}", "data.crop_seconds=1.0",
        "linear_probe.enabled=true", "linear_probe.cs=[0.01, 0.1]"])
    result = train_speech(cfg, command="test")  # emoscope train's path
    scores = result.metrics
    model, card = load_model(result.model_path)
    assert (result.run_dir / "config.yaml").is_file()
    assert card.architecture == "speech_ge2e" and card.extra["linear_probe"]["C"] in (0.01, 0.1)
    assert "[1, 2, 3, 4]" in card.extra["linear_probe"]["cv"]  # actor 5 is validation only
    assert scores["val_clip_accuracy"] >= 0.8  # chance 1/8: the pitch is the emotion

    train, val = load_speech_split(cfg, "train"), load_speech_split(cfg, "val")
    frames = cfg.audio.frames(1.0)
    x_train, x_val = clip_features(model, train, frames), clip_features(model, val, frames)
    scaler = StandardScaler().fit(x_train)
    reference = LogisticRegression(C=card.extra["linear_probe"]["C"], class_weight="balanced",
                                   max_iter=5000).fit(scaler.transform(x_train), train.labels)
    expected = reference.predict(scaler.transform(x_val))
    report = evaluate_speech_arrays(model, card, val)
    assert report["accuracy"] == pytest.approx(np.mean(expected == val.labels))
    assert report["accuracy"] == pytest.approx(scores["val_clip_accuracy"], abs=1e-4)


@pytest.mark.skipif(resemblyzer_weights_file() is None, reason="Resemblyzer not installed")
def test_probe_settings_and_finished_runs_are_checked(tmp_path):
    from emoscope.config import merge_config
    from emoscope.training.speech_config import SpeechTrainConfig
    from emoscope.training.speech_probe import fit_speech_probe

    base = [f"out_dir={tmp_path}", "name=p", "linear_probe.enabled=true"]
    bad = merge_config(SpeechTrainConfig, "configs/ravdess_speech_ge2e.yaml",
                       [*base, "linear_probe.cs=[0.1, -1]"])
    with pytest.raises(UserError, match="linear_probe.cs must be positive"):
        fit_speech_probe(bad)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "model.safetensors").write_bytes(b"")
    done = merge_config(SpeechTrainConfig, "configs/ravdess_speech_ge2e.yaml", base)
    with pytest.raises(UserError, match="a probe was already fitted there"):
        fit_speech_probe(done)
