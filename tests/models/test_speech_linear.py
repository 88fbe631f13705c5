"""speech_linear models: the warm-started C path, the file round trip through the one loader,
and reading waveforms only when eGeMAPS is used."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.audio import AudioFrontEnd, log_mel
from emoscope.errors import UserError
from emoscope.models.speech_linear import (
    LinearHead,
    LinearRecipe,
    LinearSpeechModel,
    fit_linear_head,
    fit_linear_path,
)
from emoscope.models.speech_numpy import NumpyGE2E

FRONT = AudioFrontEnd()


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 30)
    centres = rng.normal(0, 1.0, (4, 12))
    return centres[labels] + rng.normal(0, 1.0, (120, 12)), labels


def test_warm_started_path_predicts_like_separate_fits():
    features, labels = _data()
    cs = (0.01, 0.1, 1.0)
    path = fit_linear_path(features, labels, cs)
    for c, head in zip(cs, path, strict=True):
        cold = fit_linear_head(features, labels, c)
        assert np.abs(head.predict_proba(features) - cold.predict_proba(features)).max() < 0.02
    # stronger regularisation, smaller weights: the path is in the order asked for
    assert np.abs(path[0].coef).sum() < np.abs(path[2].coef).sum()


def _encoder(seed: int = 0) -> NumpyGE2E:
    rng = np.random.default_rng(seed)
    weights = {}
    for k, inputs in enumerate((40, 256)):
        weights[f"backbone.weight_ih_l{k}"] = rng.normal(0, 0.1, (1024, inputs)).astype("f4")
        weights[f"backbone.weight_hh_l{k}"] = rng.normal(0, 0.1, (1024, 256)).astype("f4")
        weights[f"backbone.bias_ih_l{k}"] = rng.normal(0, 0.1, 1024).astype("f4")
        weights[f"backbone.bias_hh_l{k}"] = np.zeros(1024, "f4")
    return NumpyGE2E(weights, FRONT, layers=2)


def _model(egemaps: bool = False) -> LinearSpeechModel:
    rng = np.random.default_rng(1)
    dims = 512 + (88 if egemaps else 0)
    head = LinearHead(rng.normal(0, 0.05, dims), np.full(dims, 0.05),
                      rng.normal(0, 0.1, (8, dims)), np.zeros(8))
    return LinearSpeechModel(_encoder(), (2,), egemaps, head)


def _clip(pitch: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(16000) / 16000
    wave = (0.1 * np.sin(2 * np.pi * pitch * t) + 0.05 * np.sin(4 * np.pi * pitch * t))
    wave = wave.astype(np.float32)
    return log_mel(wave, FRONT)[:, :101], wave


def test_model_file_round_trip_through_the_loader(tmp_path):
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.files.checkpoint import ModelCard
    from emoscope.models.files.loading import load_for_inference, predict_softmax
    from emoscope.models.preprocessing import Preprocessing
    from emoscope.training.speech_linear_fit import save_linear_model

    model = _model()
    card = ModelCard(name="tiny", architecture="speech_linear",
                     architecture_kwargs={"pool_layers": [2], "egemaps": False},
                     label_space=RAVDESS_LABELS, task="speech_emotion",
                     preprocessing=Preprocessing((1, 64, 101), (0.0,), (1.0,)),
                     extra={"audio": FRONT.to_dict(),
                            "cv_recipe": {"features": "ge2e_l2", "crop_seconds": 1.0}})
    path = save_linear_model(model, card, tmp_path / "tiny")
    loaded = load_for_inference(path, "speech_emotion", runtime="onnx")  # numpy whatever asked
    assert loaded.runtime == "numpy" and not loaded.network.needs_waves
    specs = [_clip(p)[0] for p in (150.0, 300.0, 450.0)]
    expected = model.predict(specs)
    got = predict_softmax(loaded.network, specs)
    assert np.allclose(got, expected, atol=1e-6) and np.allclose(got.sum(1), 1.0)
    assert np.abs(expected[0] - expected[2]).max() > 1e-4  # the input matters


def test_egemaps_model_needs_the_waveforms():
    pytest.importorskip("opensmile")
    model = _model(egemaps=True)
    spec, wave = _clip(200.0)
    with pytest.raises(UserError, match="waveform"):
        model.predict([spec])
    probs = model.predict([spec], [wave])
    assert probs.shape == (1, 8) and np.isfinite(probs).all()


def test_recipe_defaults_are_the_preregistered_grid():
    assert LinearRecipe().cs == (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def test_windows_of_one_signal_take_one_opensmile_run_with_close_values():
    pytest.importorskip("opensmile")
    from emoscope.models.speech_features import egemaps_of_windows, egemaps_vector

    t = np.arange(int(3.0 * 16000)) / 16000
    phase = 2 * np.pi * np.cumsum(180 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / 16000
    wave = (0.1 * sum(np.sin(k * phase) / k for k in range(1, 10))
            * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2)).astype(np.float32)
    spans = [(s, s + 16000) for s in range(0, 32001, 8000)]
    joint = egemaps_of_windows(wave, 16000, spans)
    alone = np.stack([egemaps_vector(wave[a:b], 16000) for a, b in spans])
    assert joint.shape == alone.shape == (5, 88)
    # the same functionals; descriptors near a window's edges see their neighbours' samples
    relative = np.abs(joint - alone) / (np.abs(alone) + 1e-6)
    assert np.nanmedian(relative) < 0.05
    model = _model(egemaps=True)
    specs = [log_mel(wave[a:b], FRONT)[:, :101] for a, b in spans]
    waves = [wave[a:b] for a, b in spans]
    got = model.features(specs, waves, starts=[a for a, _ in spans])
    assert np.allclose(got[:, 512:], joint)
