"""Folders hold audio too: a .wav inside a folder and the sound of the folder's videos get one
voice table; a video's voice table is on disk before its faces are analysed, so a run stopped
during the face pass keeps it."""

from __future__ import annotations

import pytest
from PIL import Image

from emoscope.inference.analyze import AnalyzeOptions, run_analysis
from emoscope.inference.writers import read_table
from speech_fixtures import emotion_tone, save_tiny_speech_model, write_av_clip


@pytest.fixture(scope="module")
def speech_model(tmp_path_factory):
    return save_tiny_speech_model(tmp_path_factory.mktemp("speech"))


def test_folder_audio_and_video_sound_share_a_voice_table(tmp_path, speech_model,
                                                          tiny_model_path, one_torch_thread):
    import soundfile as sf

    folder = tmp_path / "media"
    folder.mkdir()
    sf.write(str(folder / "speech.wav"), emotion_tone(5, seconds=2.0), 16000)
    write_av_clip(folder / "talk.mp4", seconds=1.0)
    write_av_clip(folder / "mute.mp4", seconds=1.0, with_audio=False)
    Image.new("RGB", (64, 48), (90, 90, 90)).save(folder / "still.png")
    out = tmp_path / "out"
    report = run_analysis([folder], AnalyzeOptions(out=str(out), model=str(tiny_model_path),
                                                   voice_model=str(speech_model),
                                                   voice_hop=0.5, plots=False))
    item = report.inputs[0]
    assert item.ok and not item.errors
    assert item.voice_windows == 3  # the wav's 1 s windows every 0.5 s over 2 s
    voice = read_table(out / "media_voice.csv")
    assert sorted(set(voice["source"])) == [str(folder / "speech.wav"),
                                            str(folder / "talk.mp4")]
    assert (voice["source"] == str(folder / "speech.wav")).sum() == 3
    faces = read_table(out / "media.csv")  # the face table holds no audio rows
    assert str(folder / "speech.wav") not in set(faces["source"])
    assert item.frames == 12 + 12 + 1


def test_no_voice_skips_a_folders_audio(tmp_path, tiny_model_path):
    import soundfile as sf

    folder = tmp_path / "media"
    folder.mkdir()
    sf.write(str(folder / "speech.wav"), emotion_tone(5, seconds=1.0), 16000)
    Image.new("RGB", (64, 48), (90, 90, 90)).save(folder / "still.png")
    report = run_analysis([folder], AnalyzeOptions(out=str(tmp_path / "out"), voice=False,
                                                   model=str(tiny_model_path), plots=False))
    assert report.inputs[0].ok and report.inputs[0].voice_windows == 0
    assert not (tmp_path / "out" / "media_voice.csv").exists()


def test_voice_table_survives_a_stopped_face_pass(tmp_path, speech_model, tiny_model_path,
                                                  monkeypatch, one_torch_thread):
    from emoscope.inference import sources_run

    clip = write_av_clip(tmp_path / "talk.mp4", seconds=2.0)

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt  # stands for a kill during the face pass

    monkeypatch.setattr(sources_run.SourceRun, "_analyse_file", killed)
    options = AnalyzeOptions(out=str(tmp_path / "out"), model=str(tiny_model_path),
                             voice_model=str(speech_model), voice_hop=0.5, format="parquet")
    with pytest.raises(KeyboardInterrupt):
        run_analysis([clip], options)
    voice = read_table(tmp_path / "out" / "talk_voice.parquet")
    assert len(voice) >= 3 and voice["end_s"].iloc[-1] == pytest.approx(2.0, abs=0.1)


def test_voice_table_grows_during_the_voice_pass(tmp_path, speech_model, tiny_model_path,
                                                 monkeypatch, one_torch_thread):
    """Windows are classified 4 x batch_size at a time; each pass's rows are on disk before
    the next pass starts, so a run stopped in the voice pass keeps the passes done."""
    from emoscope.inference.voice import VoiceAnalyzer

    clip = write_av_clip(tmp_path / "talk.mp4", seconds=5.0, fps=6)
    passes = []
    original = VoiceAnalyzer._rows

    def stopped_in_the_second_pass(self, windows, *args, **kwargs):
        passes.append(len(windows))
        if len(passes) == 2:
            raise KeyboardInterrupt
        return original(self, windows, *args, **kwargs)

    monkeypatch.setattr(VoiceAnalyzer, "_rows", stopped_in_the_second_pass)
    options = AnalyzeOptions(out=str(tmp_path / "out"), model=str(tiny_model_path),
                             voice_model=str(speech_model), voice_hop=0.5, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        run_analysis([clip], options)
    voice = read_table(tmp_path / "out" / "talk_voice.csv")
    assert passes[0] == 8 and voice["window"].tolist() == list(range(8))
