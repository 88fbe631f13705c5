"""Audio front end: decoding, mono mixdown, resampling, log-mel shapes and known answers."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emoscope.data.audio import (
    AudioFrontEnd,
    fit_frames,
    has_audio_stream,
    load_audio,
    log_mel,
    mel_filterbank,
    power_spectrogram,
    sliding_windows,
)
from emoscope.errors import MediaError
from speech_fixtures import emotion_tone, write_av_clip


def test_wav_and_flac_decode_to_the_same_mono_samples(tmp_path):
    left = np.linspace(-16384, 16384, 4800).astype(np.int16)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    for suffix in (".wav", ".flac"):
        sf.write(str(tmp_path / f"a{suffix}"), stereo, 48000, subtype="PCM_16")
    wav, rate = load_audio(tmp_path / "a.wav", None)
    flac, _ = load_audio(tmp_path / "a.flac", None)
    assert rate == 48000 and wav.shape == (4800,)
    np.testing.assert_array_equal(wav, flac)  # FLAC is lossless
    np.testing.assert_allclose(wav, stereo.mean(1) / 32768, atol=1e-7)  # mean of the channels


def test_resampling_keeps_duration_and_pitch(tmp_path):
    t = np.arange(48000) / 48000
    sf.write(str(tmp_path / "tone.wav"), 0.5 * np.sin(2 * np.pi * 440 * t), 48000)
    wave, rate = load_audio(tmp_path / "tone.wav", 16000)
    assert rate == 16000 and wave.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(wave))
    assert np.argmax(spectrum) == 440  # 1 s of audio: bin k is k Hz


def test_audio_track_of_a_video_and_a_video_without_sound(tmp_path):
    with_sound = write_av_clip(tmp_path / "talk.mp4", seconds=1.0)
    silent = write_av_clip(tmp_path / "mute.mp4", seconds=1.0, with_audio=False)
    wave, rate = load_audio(with_sound, 16000)
    assert rate == 16000 and 15000 < wave.size < 18000  # AAC adds priming samples
    assert has_audio_stream(with_sound) and not has_audio_stream(silent)
    with pytest.raises(MediaError, match="mute.mp4: no audio stream"):
        load_audio(silent)


@pytest.mark.parametrize(("content", "problem"), [(b"", "empty file"),
                                                  (b"RIFF\x00\x00garbage", "cannot decode")])
def test_bad_audio_files_fail_in_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=problem) as err:
        load_audio(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MediaError, match="file not found"):
        load_audio(tmp_path / "missing.flac")


def test_log_mel_shape_and_peak_band():
    front = AudioFrontEnd()
    wave = emotion_tone(4, seconds=1.0)  # 1000 Hz
    spec = log_mel(wave, front)
    assert spec.shape == (64, 101) == (front.n_mels, front.frames(1.0))
    centres = mel_filterbank(front).argmax(1)  # the FFT bin each mel band peaks at
    peak_band = spec.mean(1).argmax()
    assert abs(centres[peak_band] * front.sample_rate / front.n_fft - 1000) < 60
    assert np.isclose(log_mel(np.zeros(1600, np.float32), front), np.log(1e-6)).all()


def test_power_spectrogram_matches_parseval_for_a_sine():
    n_fft = 400
    t = np.arange(4000) / 16000
    wave = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    power = power_spectrogram(wave, n_fft, 160)
    assert power.shape == (201, 26)
    assert power[:, 10].argmax() == 25  # 1000 Hz / (16000 / 400) Hz per bin


def test_fit_frames_crops_centres_and_pads_with_the_floor():
    spec = np.arange(20, dtype=np.float32).reshape(2, 10)
    np.testing.assert_array_equal(fit_frames(spec, 4), spec[:, 3:7])
    np.testing.assert_array_equal(fit_frames(spec, 4, offset=8), spec[:, 6:10])
    padded = fit_frames(spec, 14)
    assert padded.shape == (2, 14) and np.isclose(padded[0, 0], np.log(1e-6))
    np.testing.assert_array_equal(padded[:, 2:12], spec)


def test_sliding_windows_cover_the_audio():
    assert sliding_windows(16000 * 3, 16000, 1.0, 0.5) == [
        (s * 8000, s * 8000 + 16000) for s in range(5)]
    assert sliding_windows(16000 * 2 + 4000, 16000, 1.0, 1.0)[-1] == (20000, 36000)
    assert sliding_windows(8000, 16000, 1.0, 0.5) == [(0, 8000)]


@pytest.mark.slow
def test_mel_filterbank_equals_librosa():
    librosa = pytest.importorskip("librosa")  # its first call compiles with numba (seconds)
    for front in (AudioFrontEnd(), AudioFrontEnd(22050, 128, 1024, 512, 0.0, 11025.0)):
        expected = librosa.filters.mel(sr=front.sample_rate, n_fft=front.n_fft,
                                       n_mels=front.n_mels, fmin=front.fmin, fmax=front.fmax)
        np.testing.assert_allclose(mel_filterbank(front), expected, atol=1e-7)
