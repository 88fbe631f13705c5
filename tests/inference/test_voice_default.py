"""The default voice model (``ravdess-speech-ge2e-egemaps``: GE2E + eGeMAPS features, linear
head, numpy) in ``analyze``: voice timeline, late fusion, bad inputs one line each, and the
speaker-normalised model's per-file normalisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from tests.cli_runner import run_cli
from tests.speech_fixtures import write_av_clip

from emoscope.models.files.loading import load_for_inference
from emoscope.models.files.zoo import DEFAULT_FOR_TASK
from emoscope.models.speech_linear import LinearSpeechModel

pytest.importorskip("opensmile")
RATE = 16000
DEFAULT = "ravdess-speech-ge2e-egemaps"


def _voice(seconds: float = 2.5, pitch: float = 180.0, rate: int = RATE) -> np.ndarray:
    """A harmonic voice with vibrato and a syllable-like loudness contour."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    wave = wave * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2)
    return (0.2 * wave / np.abs(wave).max()).astype(np.float32)


def test_default_is_the_cross_validated_numpy_model():
    assert DEFAULT_FOR_TASK["speech_emotion"] == DEFAULT
    loaded = load_for_inference(None, "speech_emotion")
    assert loaded.card.name == DEFAULT and loaded.runtime == "numpy"
    assert isinstance(loaded.network, LinearSpeechModel) and loaded.network.needs_waves
    scores = loaded.card.scores
    assert scores["ravdess_cv5_uar_mean"] == pytest.approx(0.6773, abs=1e-4)
    assert loaded.card.extra["cv_recipe"]["features"] == "ge2e_l2+egemaps"


def _bad_folder(root):
    root.mkdir()
    sf.write(root / "good.wav", _voice(), RATE)
    sf.write(root / "silent.wav", np.zeros(2 * RATE, np.float32), RATE)
    sf.write(root / "clipped.wav", np.clip(_voice() * 20, -1, 1), RATE)
    sf.write(root / "short.wav", _voice(0.05), RATE)
    sf.write(root / "stereo.wav", np.stack([_voice(), _voice(pitch=220.0)], axis=1), RATE)
    sf.write(root / "8k.wav", _voice(rate=8000), 8000)
    nan = _voice()
    nan[1000:1100] = np.nan
    sf.write(root / "nan.wav", nan, RATE, subtype="FLOAT")
    (root / "fake.wav").write_text("this is not audio\n")
    return root


def test_bad_inputs_get_one_line_each_and_the_rest_is_analysed(tmp_path, monkeypatch, capsys):
    folder = _bad_folder(tmp_path / "in")
    code, out, err = run_cli(monkeypatch, capsys, "analyze", folder, "--out", tmp_path / "out",
                             "--no-plots")
    assert code == 1 and "Traceback" not in err + out
    lines = [line for line in (err + out).splitlines() if "fake.wav" in line or "nan.wav" in line]
    assert len(lines) == 2 and "not finite" in " ".join(lines)
    assert "Segment too short" not in err
    table = pd.read_csv(tmp_path / "out" / "in_voice.csv")
    names = {p.rsplit("/", 1)[-1] for p in table["source"]}
    assert names == {"good.wav", "silent.wav", "clipped.wav", "short.wav", "stereo.wav",
                     "8k.wav"}
    probs = table[[c for c in table if c.startswith("p_")]].to_numpy()
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5) and np.isfinite(probs).all()
    silent = table[table["source"].str.endswith("silent.wav")]
    assert not silent["voiced"].any() and silent["top_label"].isna().all()
    # the same voice at 8 kHz is resampled to 16 kHz: nearly the same probabilities
    good = table[table["source"].str.endswith("/good.wav")][probs_columns(table)].to_numpy()
    low = table[table["source"].str.endswith("8k.wav")][probs_columns(table)].to_numpy()
    assert good.shape == low.shape and np.abs(good - low).max() < 0.25


def probs_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table if c.startswith("p_")]


def test_video_with_sound_voice_and_late_fusion_use_the_default(tmp_path, monkeypatch,
                                                               capsys):
    from emoscope.inference.voice import VoiceAnalyzer

    video = write_av_clip(tmp_path / "in" / "talk.mp4", seconds=2.5, fps=6)
    code, _, err = run_cli(monkeypatch, capsys, "analyze", video, "--out", tmp_path / "out",
                           "--fusion", "late", "--no-plots")
    assert code == 0, err
    voice = pd.read_csv(tmp_path / "out" / "talk_voice.csv")
    fused = pd.read_csv(tmp_path / "out" / "talk_fused.csv")
    expected = VoiceAnalyzer().timeline(video)  # the default model, directly
    assert np.allclose(voice[probs_columns(voice)].to_numpy(),
                       expected[probs_columns(expected)].to_numpy(), atol=1e-5)
    assert list(voice.columns[6:14]) == [f"p_{n}" for n in ("neutral", "calm", "happy", "sad",
                                                            "angry", "fearful", "disgust",
                                                            "surprised")]
    # grey frames hold no face: each fused window is the voice, calm counted as neutral
    assert (fused["faces"] == 0).all() and len(fused) == len(voice)
    assert np.allclose(fused["p_neutral"], voice["p_neutral"] + voice["p_calm"], atol=1e-4)
    assert np.allclose(fused["p_happy"], voice["p_happy"], atol=1e-4)


def test_speaker_model_normalises_over_the_voiced_windows_of_one_call():
    loaded = load_for_inference("ravdess-speech-ge2e-egemaps-spk", "speech_emotion")
    model = loaded.network
    assert model.speaker_norm and loaded.card.scores["ravdess_cv5_uar_mean"] >= 0.72
    from emoscope.data.audio import AudioFrontEnd, log_mel

    front = AudioFrontEnd()
    waves = [_voice(1.0, p) for p in (150.0, 200.0, 260.0)]
    specs = [log_mel(w, front)[:, :101] for w in waves]
    silent = np.zeros(RATE, np.float32)
    base = model.predict(specs, waves)
    with_silence = model.predict([*specs, log_mel(silent, front)[:, :101]], [*waves, silent])
    assert np.allclose(base, with_silence[:3], atol=1e-6)  # silent windows are left out
    other = model.predict(specs[:2] + [log_mel(_voice(1.0, 400.0), front)[:, :101]],
                          waves[:2] + [_voice(1.0, 400.0)])
    assert np.abs(base[0] - other[0]).max() > 1e-3  # the file's own statistics matter
