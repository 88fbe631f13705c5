"""The voice timeline streams its audio: the same rows as one pass over the whole wave, memory
that does not grow with playing time, a check inside the window loop, a cap on seconds, and
no label on silent windows."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emoscope.data.audio import AudioFrontEnd, fit_frames, load_audio, log_mel, sliding_windows
from emoscope.data.audio_windows import stream_windows
from hostile_media import write_long_opus
from speech_fixtures import emotion_tone, save_tiny_speech_model


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    from emoscope.inference.voice import VoiceAnalyzer

    return VoiceAnalyzer(str(save_tiny_speech_model(tmp_path_factory.mktemp("speech"))))


@pytest.fixture(scope="module")
def half_hour_opus(tmp_path_factory):
    return write_long_opus(tmp_path_factory.mktemp("long") / "talk.opus", minutes=30)


def _one_pass_timeline(voice, path) -> pd.DataFrame:
    """The timeline as it was computed before streaming: the whole wave, one spectrogram."""
    from emoscope.evaluation.speech import predict_speech

    wave, rate = load_audio(path, voice.front.sample_rate)
    spans = sliding_windows(len(wave), rate, voice.window_s, voice.hop_s)
    frames, hop = voice.front.frames(voice.window_s), voice.front.hop_length
    whole = log_mel(wave, voice.front)
    specs = [fit_frames(whole[:, a // hop: a // hop + frames], frames, offset=0) for a, _ in spans]
    probs = predict_speech(voice.network, specs, voice.batch_size, voice.device)
    rows = []
    for i, ((a, b), p) in enumerate(zip(spans, probs, strict=True)):
        rms = float(np.sqrt(np.mean(wave[a:b].astype(np.float64) ** 2)))
        rms_db = round(20 * np.log10(max(rms, 1e-10)), 2)
        rows.append({"source": str(path), "window": i, "start_s": round(a / rate, 4),
                     "end_s": round(b / rate, 4), "rms_db": rms_db, "voiced": rms_db >= -50,
                     **{f"p_{x}": float(v) for x, v in zip(voice.labels, p, strict=True)},
                     "top_label": voice.labels[int(p.argmax())] if rms_db >= -50 else None})
    return pd.DataFrame(rows, columns=list(rows[0]))


def _speech_with_pauses(seconds: float, rate: int = 22050) -> np.ndarray:
    parts = [emotion_tone(k % 8 + 1, seconds=1.5, rate=rate, seed=k) if k % 3 else
             np.zeros(int(1.5 * rate), np.float32) for k in range(int(seconds / 1.5) + 1)]
    return np.concatenate(parts)[: int(seconds * rate)]


def test_a_normal_clip_gets_exactly_the_one_pass_rows(voice, tmp_path, one_torch_thread):
    path = tmp_path / "clip.wav"
    sf.write(str(path), _speech_with_pauses(7.3), 22050)
    table = voice.timeline(path)
    pd.testing.assert_frame_equal(table, _one_pass_timeline(voice, path), check_exact=True)
    assert len(table) == 14 and table["end_s"].iloc[-1] == pytest.approx(7.3)


def test_long_audio_is_framed_in_pieces_with_the_same_windows_and_values(voice, tmp_path,
                                                                         one_torch_thread):
    path = tmp_path / "long.wav"
    sf.write(str(path), _speech_with_pauses(151.7), 22050)  # past WHOLE_BELOW_S: streamed
    table = voice.timeline(path)
    expected = _one_pass_timeline(voice, path)
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=0, atol=1e-5)
    assert table["end_s"].iloc[-1] == pytest.approx(151.7)


@pytest.mark.parametrize(("window_s", "hop_s"), [(1.0, 0.5), (1.0, 0.3), (2.5, 1.1)])
def test_streamed_windows_equal_slices_of_one_spectrogram(window_s, hop_s):
    front = AudioFrontEnd()
    n = 16000 * 125 + 7
    wave = (np.random.default_rng(0).standard_normal(n) * 0.1).astype(np.float32)
    blocks = (wave[i:i + 4000] for i in range(0, n, 4000))
    got = list(stream_windows(blocks, front, window_s, hop_s))
    whole = log_mel(wave, front)
    frames = front.frames(window_s)
    spans = sliding_windows(n, 16000, window_s, hop_s)
    assert [(w.start, w.end) for w in got] == spans
    for window in got:
        a = window.start
        np.testing.assert_array_equal(window.samples, wave[a:window.end])
        expected = fit_frames(whole[:, a // 160: a // 160 + frames], frames, offset=0)
        np.testing.assert_allclose(window.spectrogram, expected, rtol=0, atol=1e-5)


def test_silent_windows_get_no_label(voice, tmp_path, one_torch_thread):
    path = tmp_path / "pauses.wav"
    sf.write(str(path), _speech_with_pauses(9.0), 22050)
    table = voice.timeline(path)
    silent = table[~table["voiced"]]
    assert len(silent) >= 2 and (silent["rms_db"] < -50).all()
    assert silent["top_label"].isna().all()
    assert table.loc[table["voiced"], "top_label"].isin(voice.labels).all()


def test_max_seconds_cuts_the_audio_and_says_so(voice, half_hour_opus, tmp_path,
                                                one_torch_thread):
    table = voice.timeline(half_hour_opus, max_seconds=90)
    assert table["end_s"].max() == pytest.approx(90.0) and len(table) == 179
    assert table.attrs["cut_at_s"] == 90.0
    path = tmp_path / "short.wav"
    sf.write(str(path), _speech_with_pauses(4.0), 22050)
    short = voice.timeline(path, max_seconds=90)
    assert "cut_at_s" not in short.attrs and short["end_s"].iloc[-1] == pytest.approx(4.0)


def test_the_check_runs_inside_the_window_loop(voice, half_hour_opus, one_torch_thread):
    class Late(Exception):
        pass

    calls = []
    stop = time.monotonic() + 1.0

    def deadline() -> None:
        calls.append(1)
        if time.monotonic() > stop:
            raise Late()

    began = time.monotonic()
    with pytest.raises(Late):
        voice.timeline(half_hour_opus, check=deadline)
    assert time.monotonic() - began < 10  # the whole half hour takes far longer
    assert len(calls) > 10


@pytest.mark.slow
def test_half_an_hour_of_opus_in_bounded_memory(voice, half_hour_opus, one_torch_thread):
    """Before streaming, 30 minutes took the process from 1.0 to 2.6 GB: the whole wave and its
    spectrogram frames (180,000 x 400 samples) were held at once."""
    assert half_hour_opus.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        table = voice.timeline(half_hour_opus)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table) == 3599 and table["end_s"].iloc[-1] == pytest.approx(1800.0)
    assert peak < 150 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # every fourth second of the file is silent: those windows carry no label
    assert table.loc[~table["voiced"], "top_label"].isna().all()
    assert (~table["voiced"]).sum() >= 300


@pytest.mark.parametrize("rate", [1, 999])
def test_a_wav_declaring_a_tiny_sample_rate_is_refused(tmp_path, rate):
    """At 1 Hz each stored sample is a second of sound: 50 MB of WAV would have been 289 days
    of audio, resampled to 16 kHz."""
    from emoscope.data.audio import iter_audio
    from emoscope.errors import MediaError

    path = tmp_path / "slow.wav"
    sf.write(str(path), np.zeros(5000, np.float32), rate)
    with pytest.raises(MediaError, match=rf"slow.wav: sample rate of {rate} Hz is not audio"):
        next(iter_audio(path))
