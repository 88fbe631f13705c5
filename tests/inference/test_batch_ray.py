"""``analyze --engine ray`` on a local 2-worker Ray cluster: the same files as the
single-process run, one per input, a worker crash retried, a raising task given up after its
retries, unreadable inputs reported once, and the summary table."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from emoscope.inference.analyze import AnalyzeOptions, run_analysis
from emoscope.inference.batch_ray import BatchOptions, analyse_input, run_batch
from emoscope.inference.writers import read_table
from speech_fixtures import emotion_tone, save_tiny_speech_model, write_av_clip

pytestmark = pytest.mark.slow


def flaky_task(raw: str, stem: str, options: dict, out_dir: str) -> dict:
    """The real task, except: the video's first attempt kills its worker process, and
    ``doomed`` raises on every attempt."""
    if stem == "doomed":
        raise RuntimeError("injected failure")
    marker = Path(out_dir).parent / f"crashed-{stem}"
    if stem == "face" and not marker.exists():
        marker.touch()
        os._exit(1)  # the worker dies mid-task, as on an out-of-memory kill
    return analyse_input(raw, stem, options, out_dir)


@pytest.fixture
def media(tmp_path, astronaut_rgb, face_video):
    import soundfile as sf

    from emoscope.inference.demo import camera_path

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut_rgb).save(folder / "astronaut.jpg")
    Image.fromarray(astronaut_rgb[:, ::-1].copy()).save(folder / "mirrored.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    sf.write(str(folder / "speech.wav"), emotion_tone(3, seconds=1.5), 16000)
    talk = write_av_clip(folder / "talk.mp4", frames=camera_path(astronaut_rgb, 320, 180, 24))
    return [folder / "astronaut.jpg", face_video, folder / "mirrored.png", folder / "broken.jpg",
            folder / "missing.mp4", folder / "speech.wav", talk]


def test_ray_run_equals_single_process_run(tmp_path, media, tiny_model_path):
    speech = save_tiny_speech_model(tmp_path)
    options = dict(model=str(tiny_model_path), fps=6, smooth=3, voice_model=str(speech))
    single = run_analysis([str(p) for p in media], AnalyzeOptions(
        out=str(tmp_path / "single"), **options), on_error=lambda _: None)
    errors: list[str] = []
    ray_dirs = set(Path(tempfile.gettempdir()).glob("emoscope-ray-*"))
    doomed = tmp_path / "in" / "doomed.jpg"
    Image.open(media[0]).save(doomed)
    report = run_batch([str(p) for p in [*media, doomed]],
                       AnalyzeOptions(out=str(tmp_path / "ray" / "out"), **options),
                       BatchOptions(workers=2, retries=1), on_error=errors.append,
                       task=flaky_task)
    assert single.analysed == 5 and report.analysis.analysed == 5
    outputs = {"astronaut": ("", "_tracks"), "face": ("", "_tracks"),
               "mirrored": ("", "_tracks"), "speech": ("_voice",),
               "talk": ("", "_tracks", "_voice")}  # the voice timelines of audio and video
    for stem, suffixes in outputs.items():  # one table and one summary per input
        for name in (f"{stem}{suffix}.csv" for suffix in suffixes):
            expected = read_table(tmp_path / "single" / name)
            got = read_table(tmp_path / "ray" / "out" / name)
            assert len(expected) > 0
            pd.testing.assert_frame_equal(got, expected, check_exact=True)
    produced = {p.name for p in (tmp_path / "ray" / "out").glob("*.csv")}
    assert produced == {p.name for p in (tmp_path / "single").glob("*.csv")} | {
        "batch_summary.csv"}
    summary = pd.read_csv(tmp_path / "ray" / "out" / "batch_summary.csv").set_index("stem")
    assert summary.loc["face", "status"] == "ok" and summary.loc["face", "attempts"] == 2
    assert summary.loc["face", "rows"] == len(read_table(tmp_path / "single" / "face.csv"))
    assert summary.loc["astronaut", "attempts"] == 1 and summary.loc["astronaut", "rows"] == 1
    assert summary.loc["broken", "status"] == "failed"  # bad media: reported, not retried
    assert summary.loc["broken", "attempts"] == 1
    assert summary.loc["doomed", "status"] == "error" and summary.loc["doomed", "attempts"] == 2
    assert (summary["seconds"] >= 0).all()
    missing = report.files[4]
    assert missing.status == "failed" and missing.attempts == 0 and "missing.mp4" in missing.error
    assert any("broken.jpg" in e for e in errors) and any("injected failure" in e for e in errors)
    assert [r.path for r in report.analysis.inputs][:2] == [str(media[0]), str(media[1])]
    assert not (tmp_path / "ray" / "out" / ".ray").exists()
    assert set(Path(tempfile.gettempdir()).glob("emoscope-ray-*")) == ray_dirs  # cleaned up
