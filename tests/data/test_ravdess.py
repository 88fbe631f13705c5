"""RAVDESS adapter: file-name parsing, label spaces, speaker folds, modality choice, cache."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.ravdess import (
    load_ravdess,
    parse_ravdess_name,
    select_clips,
    speaker_folds,
    split_actors,
)
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import RAVDESS7_LABELS, RAVDESS_LABELS
from speech_fixtures import write_av_clip, write_ravdess


def test_file_name_fields_known_answers():
    clip = parse_ravdess_name("Actor_12/03-01-06-02-01-02-12.flac")
    assert (clip.modality, clip.vocal_channel, clip.emotion, clip.intensity, clip.statement,
            clip.repetition, clip.actor) == (3, 1, 6, 2, 1, 2, 12)
    assert clip.emotion_name == "fearful" and clip.sex == "female" and clip.has_audio()
    video = parse_ravdess_name("02-02-08-01-02-01-01.mp4")
    assert video.emotion_name == "surprised" and video.sex == "male" and not video.has_audio()


@pytest.mark.parametrize(("name", "problem"), [
    ("03-01-09-01-01-01-01.wav", "emotion 09 not in 01-08"),
    ("04-01-01-01-01-01-01.wav", "modality 04"),
    ("03-01-01-03-01-01-01.wav", "intensity 03"),
    ("speech.wav", "not a RAVDESS file name"),
])
def test_bad_file_names_are_rejected_naming_the_file(name, problem):
    with pytest.raises(DataFormatError, match=problem) as err:
        parse_ravdess_name(name)
    assert name in str(err.value)


def test_folds_come_from_sorted_actor_ids():
    shuffled = [7, 3, 20, 1, 15, 11, 2, 19, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18]
    folds = speaker_folds(shuffled, 5)
    assert folds == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16],
                     [17, 18, 19, 20]]
    assert split_actors(shuffled, "val") == [17, 18, 19, 20]
    assert split_actors(shuffled, "train") == list(range(1, 17))
    assert split_actors(shuffled, "val", val_fold=0) == [1, 2, 3, 4]
    assert split_actors([21, 22, 23, 24], "all") == [21, 22, 23, 24]
    with pytest.raises(UserError, match="cannot make 5 speaker folds from 4 actors"):
        split_actors([21, 22, 23, 24], "val")


def test_load_labels_speakers_and_7_class_mapping(tmp_path, caplog):
    root = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 3, 4, 5), suffix=".flac")
    (root / "Actor_01" / "notes.wav").write_bytes(b"")  # not a RAVDESS name: skipped, logged
    data = load_ravdess(root, split="val", cache_dir=tmp_path / "cache")
    assert len(data) == 30 and set(data.speakers.tolist()) == {5}  # 15 per actor... x2 stmts
    assert data.label_space == RAVDESS_LABELS
    assert np.bincount(data.labels).tolist() == [2, 4, 4, 4, 4, 4, 4, 4]
    assert data.features.shape[:2] == (30, 64) and data.lengths.max() == 121
    assert "skipped 1 file" in caplog.text
    seven = load_ravdess(root, split="val", label_set="7")
    assert seven.label_space == RAVDESS7_LABELS
    assert np.bincount(seven.labels).tolist() == [6, 4, 4, 4, 4, 4, 4]  # calm -> neutral
    cached = load_ravdess(root, split="val", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(cached.features, data.features)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_audio_file_preferred_over_the_video_of_the_same_utterance(tmp_path):
    root = write_ravdess(tmp_path / "r", actors=(1,), emotions=(3,), statements=(1,))
    folder = root / "Actor_01"  # .wav for intensities 01 and 02 of statement 01
    write_av_clip(folder / "01-01-03-01-01-01-01.mp4", seconds=0.5)  # same as a .wav
    write_av_clip(folder / "01-01-03-01-02-01-01.mp4", seconds=0.5)  # statement 02: no .wav
    write_av_clip(folder / "02-01-03-01-02-01-01.mp4", seconds=0.5, with_audio=False)
    audio = select_clips(root, modality="audio")
    assert [c.path.name for c in audio] == ["01-01-03-01-02-01-01.mp4",
                                            "03-01-03-01-01-01-01.wav",
                                            "03-01-03-02-01-01-01.wav"]
    video = select_clips(root, modality="video")
    assert [c.path.name for c in video] == ["01-01-03-01-01-01-01.mp4",
                                            "01-01-03-01-02-01-01.mp4"]
    spectrograms = load_ravdess(root)
    assert len(spectrograms) == 3 and spectrograms.sources[0].endswith(".mp4")


def test_max_per_emotion_and_empty_roots(tmp_path):
    root = write_ravdess(tmp_path / "r", actors=(1, 2))
    clips = select_clips(root, max_per_emotion=3)
    counts = np.bincount([c.emotion for c in clips], minlength=9)[1:]
    assert counts.tolist() == [3] * 8
    assert clips == select_clips(root, max_per_emotion=3)  # seeded
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="no RAVDESS files found"):
        load_ravdess(tmp_path / "empty")
    with pytest.raises(UserError, match="dataset root not found"):
        load_ravdess(tmp_path / "nowhere")
