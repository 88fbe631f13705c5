"""``analyze --engine ray`` with folders: one task per media file inside them, and the batch
summary lists every file."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image

from emoscope.inference.analyze import AnalyzeOptions
from emoscope.inference.batch_ray import BatchOptions, _plan, media_files, run_batch
from speech_fixtures import emotion_tone, save_tiny_speech_model


@pytest.fixture
def folder(tmp_path, astronaut_rgb):
    import soundfile as sf

    root = tmp_path / "in"
    (root / "nested").mkdir(parents=True)
    Image.fromarray(astronaut_rgb).save(root / "astronaut.jpg")
    Image.fromarray(astronaut_rgb[:, ::-1].copy()).save(root / "nested" / "mirrored.png")
    sf.write(str(root / "speech.wav"), emotion_tone(3, seconds=1.5), 16000)
    (root / "notes.txt").write_text("not media")
    (root / ".hidden.jpg").write_bytes(b"skipped like a local run skips it")
    return root


def test_a_folder_is_planned_as_one_task_per_media_file(folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    inputs = [folder, folder / "astronaut.jpg", empty]
    assert media_files(inputs) == [str(folder / "astronaut.jpg"),
                                   str(folder / "nested" / "mirrored.png"),
                                   str(folder / "speech.wav"), str(folder / "astronaut.jpg"),
                                   str(empty)]
    errors: list[str] = []
    plan, failed = _plan(inputs, AnalyzeOptions(), errors.append)
    assert [item.stem for item in plan] == ["astronaut", "mirrored", "speech", "astronaut-2", ""]
    assert [item.status for item in plan] == ["pending"] * 4 + ["failed"]
    assert len(failed) == 1 and "holds no images" in errors[0]


@pytest.mark.slow
def test_ray_batch_of_a_folder_writes_every_file_and_lists_it(folder, tmp_path,
                                                              tiny_model_path):
    speech = save_tiny_speech_model(tmp_path)
    out = tmp_path / "out"
    report = run_batch([str(folder)], AnalyzeOptions(out=str(out), model=str(tiny_model_path),
                                                     voice_model=str(speech), plots=False),
                       BatchOptions(workers=2, retries=0), on_error=lambda _: None)
    summary = pd.read_csv(out / "batch_summary.csv")
    assert summary["stem"].tolist() == ["astronaut", "mirrored", "speech"]
    assert summary["status"].tolist() == ["ok"] * 3
    assert summary["input"].tolist() == [str(folder / "astronaut.jpg"),
                                         str(folder / "nested" / "mirrored.png"),
                                         str(folder / "speech.wav")]
    assert report.analysis.analysed == 3
    assert {"astronaut.csv", "mirrored.csv", "speech_voice.csv"} <= {
        p.name for p in out.glob("*.csv")}
