"""Voice timeline and audio-visual fusion: analyze on audio files and on videos with and
without sound; late fusion values; the intermediate model's shapes and its analyze path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from emoscope.data.audio import load_audio
from emoscope.errors import UserError
from emoscope.inference.av_fusion import label_map, late_fusion
from emoscope.labels import FER2013_LABELS, RAVDESS_LABELS
from emoscope.models.files.checkpoint import save_model
from speech_fixtures import (
    emotion_tone,
    save_tiny_speech_model,
    speech_card,
    write_audio_only_mp4,
    write_av_clip,
)


@pytest.fixture(scope="module")
def speech_model(tmp_path_factory):
    return save_tiny_speech_model(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def av_model(tmp_path_factory):
    from emoscope.models.av_fusion import AudioVisualIntermediate

    torch.manual_seed(0)
    kwargs = {"num_classes": 8, "face_size": 32, "face_channels": [8, 8],
              "audio_channels": [16, 16], "hidden": 16}
    model = AudioVisualIntermediate(**kwargs).eval()
    return save_model(model, speech_card("tiny-av", "av_intermediate", kwargs),
                      tmp_path_factory.mktemp("av") / "tiny_av")


def test_voice_timeline_of_a_wav_file(tmp_path, speech_model, one_torch_thread):
    import soundfile as sf

    from emoscope.inference.analyze import AnalyzeOptions, run_analysis
    from emoscope.inference.writers import read_table

    sf.write(str(tmp_path / "speech.wav"), emotion_tone(5, seconds=2.5, rate=22050), 22050)
    options = AnalyzeOptions(out=str(tmp_path / "out"), voice_model=str(speech_model),
                             voice_hop=0.5)
    report = run_analysis([tmp_path / "speech.wav"], options)
    assert report.analysed == 1
    table = read_table(tmp_path / "out" / "speech_voice.csv")
    assert table["start_s"].tolist() == [0.0, 0.5, 1.0, 1.5]  # 1 s windows every 0.5 s
    assert table["end_s"].iloc[-1] == pytest.approx(2.5)  # the last window ends with the audio
    probs = table[[f"p_{x}" for x in RAVDESS_LABELS.labels]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (tmp_path / "out" / "speech_av_timeline.png").stat().st_size > 0
    assert (table["rms_db"] > -20).all()
    assert table["voiced"].all()


def test_silent_windows_are_marked_unvoiced(tmp_path, speech_model, one_torch_thread):
    import soundfile as sf

    from emoscope.inference.av_plots import plot_av_timelines
    from emoscope.inference.voice import VoiceAnalyzer

    rate = 16000
    wave = np.concatenate([np.zeros(rate, np.float32), emotion_tone(2, seconds=1.5, rate=rate)])
    sf.write(str(tmp_path / "pause.wav"), wave, rate)
    table = VoiceAnalyzer(str(speech_model), hop_s=0.5).timeline(tmp_path / "pause.wav")
    assert table.columns[:6].tolist() == ["source", "window", "start_s", "end_s", "rms_db",
                                          "voiced"]
    # window 0 (0-1 s) is digital silence; window 1 (0.5-1.5 s) is half tone
    assert table["voiced"].tolist() == [False, True, True, True]
    assert table["rms_db"].iloc[0] < -150 and table["rms_db"].iloc[1] > -20
    labels = list(RAVDESS_LABELS.labels)
    assert plot_av_timelines(None, table, None, [], labels, tmp_path / "p.png").stat().st_size


def test_video_with_and_without_sound_and_late_fusion(tmp_path, speech_model, tiny_model_path,
                                                      one_torch_thread):
    from emoscope.inference.analyze import AnalyzeOptions, run_analysis
    from emoscope.inference.writers import read_table

    talk = write_av_clip(tmp_path / "talk.mp4", seconds=2.0)
    mute = write_av_clip(tmp_path / "mute.mp4", seconds=2.0, with_audio=False)
    out = tmp_path / "out"
    options = AnalyzeOptions(out=str(out), model=str(tiny_model_path),
                             voice_model=str(speech_model), fusion="late", voice_hop=1.0)
    report = run_analysis([talk, mute], options)
    assert report.analysed == 2
    assert (out / "talk.csv").is_file() and (out / "mute.csv").is_file()  # face tables
    voice = read_table(out / "talk_voice.csv")
    fused = read_table(out / "talk_fused.csv")
    assert len(voice) == len(fused) >= 2 and (fused["faces"] == 0).all()  # grey frames
    # no face in a window: the fused probabilities are the voice ones in the face labels
    face_space = voice[[f"p_{x}" for x in RAVDESS_LABELS.labels]].to_numpy() @ label_map(
        list(RAVDESS_LABELS.labels), list(FER2013_LABELS.labels))
    np.testing.assert_allclose(fused[[f"p_{x}" for x in FER2013_LABELS.labels]].to_numpy(),
                               face_space / face_space.sum(1, keepdims=True), atol=1e-5)
    assert not (out / "mute_voice.csv").exists() and not (out / "mute_fused.csv").exists()
    assert (out / "talk_av_timeline.png").is_file()


def test_a_voice_memo_mp4_gets_the_voice_timeline(tmp_path, speech_model, tiny_model_path,
                                                  one_torch_thread):
    """An mp4 with sound and no picture is an audio file, not a video that fails to decode."""
    from emoscope.data.audio import is_sound_only
    from emoscope.inference.analyze import AnalyzeOptions, run_analysis
    from emoscope.inference.writers import read_table

    memo = write_audio_only_mp4(tmp_path / "memo.mp4", seconds=2.0)
    talk = write_av_clip(tmp_path / "talk.mp4", seconds=1.0)
    mute = write_av_clip(tmp_path / "mute.mp4", seconds=1.0, with_audio=False)
    assert [is_sound_only(p) for p in (memo, talk, mute, tmp_path / "missing.mp4")] == [
        True, False, False, False]
    out = tmp_path / "out"
    report = run_analysis([memo], AnalyzeOptions(out=str(out), model=str(tiny_model_path),
                                                 voice_model=str(speech_model), voice_hop=0.5))
    assert report.analysed == 1
    voice = read_table(out / "memo_voice.csv")
    wave, rate = load_audio(memo, 16000)  # 2 s of tone and the AAC encoder's padding
    assert voice["start_s"].tolist()[:3] == [0.0, 0.5, 1.0] and len(voice) <= 4
    assert voice["end_s"].iloc[-1] == pytest.approx(len(wave) / rate, abs=1e-3)
    assert not (out / "memo.csv").exists()  # no face table: there are no frames


def test_late_fusion_weights_face_and_voice_known_answer():
    face_labels = ["angry", "happy", "neutral"]
    voice_labels = ["neutral", "calm", "happy", "angry"]
    face = pd.DataFrame({"time_s": [0.1, 0.6, 1.2], "p_angry": [0.8, 0.6, 0.0],
                         "p_happy": [0.2, 0.2, 1.0], "p_neutral": [0.0, 0.2, 0.0]})
    voice = pd.DataFrame({"source": "v", "window": [0, 1], "start_s": [0.0, 1.0],
                          "end_s": [1.0, 2.0], "p_neutral": [0.1, 0.5], "p_calm": [0.3, 0.0],
                          "p_happy": [0.2, 0.5], "p_angry": [0.4, 0.0]})
    fused = late_fusion(face, voice, face_labels, voice_labels, face_weight=0.25)
    # window 0: face mean (0.7, 0.2, 0.1); voice in face labels (0.4, 0.2, 0.1 + 0.3 calm)
    np.testing.assert_allclose(fused.loc[0, ["p_angry", "p_happy", "p_neutral"]].to_numpy(
        dtype=float), [0.25 * 0.7 + 0.75 * 0.4, 0.25 * 0.2 + 0.75 * 0.2,
                       0.25 * 0.1 + 0.75 * 0.4])
    assert fused["faces"].tolist() == [2, 1] and fused["top_label"].tolist() == ["angry",
                                                                                 "happy"]
    silent = voice.assign(rms_db=[-70.0, -20.0])  # window 0 silent: the face alone
    quiet = late_fusion(face, silent, face_labels, voice_labels, face_weight=0.25)
    np.testing.assert_allclose(quiet.loc[0, ["p_angry", "p_happy", "p_neutral"]].to_numpy(
        dtype=float), [0.7, 0.2, 0.1])
    assert quiet["voiced"].tolist() == [False, True]
    with pytest.raises(UserError, match="face-weight"):
        late_fusion(face, voice, face_labels, voice_labels, face_weight=1.5)


def test_intermediate_model_shapes_and_face_mask(one_torch_thread):
    from emoscope.models.av_fusion import AudioVisualIntermediate

    torch.manual_seed(0)
    model = AudioVisualIntermediate(num_classes=7, face_size=32, face_channels=[8, 8],
                                    audio_channels=[16, 16], hidden=16).eval()
    faces, spec = torch.rand(2, 15, 1, 32, 32), torch.randn(2, 64, 101)
    assert model(faces, spec)["logits"].shape == (2, 7)
    mask = torch.zeros(2, 15, dtype=torch.bool)
    mask[:, :5] = True
    changed = faces.clone()
    changed[:, 5:] = torch.rand(2, 10, 1, 32, 32)  # masked frames do not count
    torch.testing.assert_close(model(faces, spec, mask)["logits"],
                               model(changed, spec, mask)["logits"])


def test_intermediate_fusion_in_analyze(tmp_path, speech_model, av_model, tiny_model_path,
                                        one_torch_thread):
    from emoscope.inference.analyze import AnalyzeOptions, run_analysis
    from emoscope.inference.writers import read_table

    talk = write_av_clip(tmp_path / "talk.mp4", seconds=2.0)
    out = tmp_path / "out"
    options = AnalyzeOptions(out=str(out), model=str(tiny_model_path), plots=False,
                             voice_model=str(speech_model), fusion="intermediate",
                             av_model=str(av_model), voice_hop=1.0)
    assert run_analysis([talk], options).analysed == 1
    fused = read_table(out / "talk_fused.csv")
    voice = read_table(out / "talk_voice.csv")
    assert len(fused) == len(voice) >= 2 and set(fused["top_label"]) <= set(RAVDESS_LABELS.labels)
    assert fused["faces"].max() == 0  # grey frames: every frame of every window is masked
    with pytest.raises(UserError, match="needs an audio-visual model"):
        run_analysis([talk], AnalyzeOptions(out=str(out), model=str(tiny_model_path),
                                            voice_model=str(speech_model),
                                            fusion="intermediate"))


def test_analyze_cli_voice_options(tmp_path, speech_model, one_torch_thread):
    import soundfile as sf
    from typer.testing import CliRunner

    from emoscope.cli.main import app

    sf.write(str(tmp_path / "a.flac"), emotion_tone(2, seconds=1.5), 16000)
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["analyze", str(tmp_path / "a.flac"), "--out", str(out),
                                   "--voice-model", str(speech_model), "--voice-hop", "0.25",
                                   "--no-plots"])
    assert run.exit_code == 0, run.output
    assert "a.flac: 3 voice window(s)" in run.output  # windows start at 0, 0.25 and 0.5 s
    assert (out / "a_voice.csv").is_file() and not (out / "a_av_timeline.png").exists()
    bad = CliRunner().invoke(app, ["analyze", str(tmp_path / "a.flac"), "--out", str(out),
                                   "--fusion", "early"])
    assert bad.exit_code != 0 and "unknown fusion 'early'" in str(bad.exception)
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    report = CliRunner().invoke(app, ["analyze", str(tmp_path / "broken.wav"), "--out",
                                      str(out), "--voice-model", str(speech_model)])
    assert report.exit_code != 0 and "broken.wav: cannot decode audio" in report.output


def test_voice_timeline_with_onnx_runtime_matches_torch(tmp_path, one_torch_thread):
    import soundfile as sf

    from emoscope.inference.voice import VoiceAnalyzer
    from emoscope.models.speech import SpeechCNN

    torch.manual_seed(1)
    kwargs = {"num_classes": 8, "channels": [16, 16], "kernel": 3}
    # a 3 s card, like the shipped model's: the 1 s windows need ONNX's dynamic time axis
    model = save_model(SpeechCNN(**kwargs).eval(),
                       speech_card("tiny-3s", "speech_cnn", kwargs, frames=301),
                       tmp_path / "tiny_3s")
    sf.write(str(tmp_path / "speech.wav"), emotion_tone(3, seconds=2.2, rate=16000), 16000)
    torch_table = VoiceAnalyzer(str(model)).timeline(tmp_path / "speech.wav")
    onnx_analyzer = VoiceAnalyzer(str(model), runtime="onnx")
    assert type(onnx_analyzer.network).__name__ == "OnnxModel"
    onnx_table = onnx_analyzer.timeline(tmp_path / "speech.wav")
    columns = [f"p_{x}" for x in RAVDESS_LABELS.labels]
    assert len(onnx_table) == len(torch_table) == 4  # 0, 0.5, 1.0 and the window ending at 2.2
    np.testing.assert_allclose(onnx_table[columns].to_numpy(), torch_table[columns].to_numpy(),
                               atol=1e-5)
