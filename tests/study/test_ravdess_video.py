"""A face model on RAVDESS videos: frames spread over each clip, 7-class scores, CLI files."""

from __future__ import annotations

import json

from emoscope.study.ravdess_video import spread_indices
from speech_fixtures import write_av_clip


def test_spread_indices_known_answers():
    assert spread_indices(90, 3) == [15, 45, 75]
    assert spread_indices(2, 5) == [0, 1]
    assert spread_indices(0, 4) == []


def test_face_model_on_ravdess_videos_through_the_cli(tmp_path, astronaut_rgb, tiny_model_path,
                                                       one_torch_thread):
    from typer.testing import CliRunner

    from emoscope.cli.main import app
    from emoscope.inference.demo import camera_path

    frames = camera_path(astronaut_rgb, 320, 180, 8)
    actor = tmp_path / "ravdess" / "Actor_01"
    write_av_clip(actor / "01-01-03-01-01-01-01.mp4", seconds=1.0, fps=8, frames=frames)
    write_av_clip(actor / "02-01-02-01-01-01-01.mp4", seconds=1.0, fps=8, frames=frames,
                  with_audio=False)  # calm: scored as neutral in the 7 classes
    out = tmp_path / "eval"
    run = CliRunner().invoke(app, ["evaluate", "--dataset", "ravdess", "--root",
                                   str(tmp_path / "ravdess"), "--model", str(tiny_model_path),
                                   "--frames-per-video", "3", "--json", str(out / "v.json")])
    assert run.exit_code == 0, run.output
    report = json.loads((out / "v.json").read_text())
    assert report["n"] == 2 and report["frames_per_video"] == 3
    assert report["labels"] == ["neutral", "happy", "sad", "angry", "fearful", "disgust",
                                "surprised"]
    assert sum(map(sum, report["confusion_matrix"])) == 2 and report["clips_without_face"] == []
    csv_rows = (out / "v_predictions.csv").read_text().splitlines()
    assert len(csv_rows) == 3 and ",neutral," in csv_rows[2]  # calm -> neutral
