"""The analyze, webcam and demo commands as a user runs them: exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image


def emoscope(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emoscope.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=240)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut_rgb):
    path = tmp_path_factory.mktemp("cli") / "astronaut.png"
    Image.fromarray(astronaut_rgb).save(path)
    return path


def test_good_and_bad_inputs(tmp_path, photo, tiny_model_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 nope")
    result = emoscope("analyze", str(photo), str(corrupt), str(tmp_path / "gone.mp4"),
                      "--out", str(tmp_path / "out"), "--model", str(tiny_model_path),
                      "--format", "json", "--no-plots")
    assert result.returncode == 1, result.stderr  # 0: all analysed, 1: some, 2: none
    lines = error_lines(result.stderr)
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith(f"error: {corrupt}: ")
    assert lines[1] == f"error: {tmp_path / 'gone.mp4'}: file not found"
    assert lines[2] == "2 of 3 input(s) could not be analysed (exit 1)"
    assert "Traceback" not in result.stderr
    assert (tmp_path / "out" / "astronaut.json").is_file()
    assert "1 face(s)" in result.stdout


def test_nothing_analysable_exits_non_zero(tmp_path, tiny_model_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = emoscope("analyze", str(notes), "--out", str(tmp_path / "out"),
                      "--model", str(tiny_model_path))
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert lines[0] == f"error: {notes}: not an image or video (unsupported file type '.txt')"
    assert "Traceback" not in result.stderr


def test_unknown_detector_lists_known_ones(tmp_path, photo, tiny_model_path):
    result = emoscope("analyze", str(photo), "--detector", "yolo", "--model",
                      str(tiny_model_path), "--out", str(tmp_path))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "error: unknown detector 'yolo'; known detectors: mediapipe, mtcnn, opencv"]


def test_webcam_on_a_video_file_without_window(face_video, tiny_model_path):
    result = emoscope("webcam", "--source", str(face_video), "--no-window", "--max-frames", "3",
                      "--model", str(tiny_model_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("source,frame,time_s,track_id")
    assert len(lines) == 4
    assert [line.split(",")[1] for line in lines[1:]] == ["0", "1", "2"]


def test_webcam_unreadable_source(tiny_model_path):
    result = emoscope("webcam", "--source", "rtsp://127.0.0.1:9/none", "--no-window",
                      "--model", str(tiny_model_path))
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1].startswith("error: rtsp://127.0.0.1:9/none: ")


def test_demo_writes_tables_plots_and_annotations(tmp_path, tiny_model_path):
    out = tmp_path / "demo"
    result = emoscope("demo", "--out", str(out), "--model", str(tiny_model_path))
    assert result.returncode == 0, result.stderr
    for name in ("astronaut.csv", "astronaut_tracks.csv", "astronaut_annotated.png",
                 "astronaut_pan.csv", "astronaut_pan_timeline.png", "astronaut_pan_heatmap.png",
                 "astronaut_pan_distribution.png", "astronaut_pan_annotated.mp4"):
        assert (out / name).is_file(), name
    import pandas as pd

    pan = pd.read_csv(out / "astronaut_pan.csv")
    assert pan["track_id"].nunique() >= 2  # the rendered clip shows two faces
