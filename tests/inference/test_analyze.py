"""End to end with a tiny model: images, videos, folders, bad inputs, formats, annotations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import emoscope
from emoscope.errors import UserError
from emoscope.inference.analyze import AnalyzeOptions, run_analysis
from emoscope.inference.demo import ASTRONAUT_FACE, write_video
from emoscope.inference.writers import read_table

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture
def photo(tmp_path, astronaut_rgb):
    path = tmp_path / "in" / "astronaut.jpg"
    path.parent.mkdir()
    Image.fromarray(astronaut_rgb).save(path)
    return path


def test_analyze_returns_one_row_per_face(photo, tiny_model_path):
    table = emoscope.analyze(photo, model=str(tiny_model_path))
    assert len(table) == 1
    row = table.iloc[0]
    assert row["source"] == str(photo) and row["frame"] == 0 and row["track_id"] == 0
    assert abs(row["x1"] - ASTRONAUT_FACE[0]) < 25 and abs(row["y2"] - ASTRONAUT_FACE[3]) < 25
    probs = row[[f"p_{label}" for label in LABELS]].to_numpy(dtype=float)
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    assert row["top_label"] == LABELS[int(np.argmax(probs))]


def test_video_rows_tracks_and_outputs(tmp_path, face_video, tiny_model_path):
    out = tmp_path / "out"
    report = run_analysis([str(face_video)], AnalyzeOptions(
        out=str(out), model=str(tiny_model_path), smooth=3, every=2, annotate=True))
    assert report.analysed == 1 and report.errors == []
    table = read_table(out / "face.csv")
    assert table["frame"].tolist() == list(range(0, 24, 2))
    assert table["time_s"].iloc[1] == pytest.approx(2 / 12, abs=1e-3)
    assert set(table["track_id"]) == {0}
    assert {"smooth_happy", "top_label_smooth"} <= set(table.columns)
    tracks = read_table(out / "face_tracks.csv")
    assert tracks["frames"].tolist() == [12]
    for name in ("face_timeline.png", "face_distribution.png", "face_heatmap.png",
                 "face_annotated.mp4", "analyze_config.yaml"):
        assert (out / name).is_file(), name
    import av

    with av.open(str(out / "face_annotated.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_folder_with_bad_and_mixed_files(tmp_path, astronaut_rgb, face_video, tiny_model_path):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(astronaut_rgb).convert("L").save(folder / "grey.png")
    Image.fromarray(astronaut_rgb).convert("RGBA").save(folder / "sub" / "rgba.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.txt").write_text("not media")
    (folder / "clip.mp4").write_bytes(face_video.read_bytes())
    errors = []
    report = run_analysis([str(folder)], AnalyzeOptions(
        out=str(tmp_path / "out"), model=str(tiny_model_path), format="parquet", fps=3,
        annotate=True), on_error=errors.append)
    assert report.analysed == 1
    assert len(errors) == 2
    assert any("broken.jpg" in e for e in errors) and any("empty.mp4: empty file" in e
                                                          for e in errors)
    table = pd.read_parquet(tmp_path / "out" / "mixed.parquet")
    assert sorted(set(table["source"].map(lambda s: s.split("/")[-1]))) == [
        "clip.mp4", "grey.png", "rgba.png"]
    assert (tmp_path / "out" / "mixed_annotated" / "sub" / "rgba.png").is_file()
    assert (tmp_path / "out" / "mixed_annotated" / "grey.png").is_file()
    assert (tmp_path / "out" / "mixed_annotated" / "clip.mp4").is_file()


def test_zero_faces_gives_valid_empty_table(tmp_path, tiny_va_model_path):
    frames = [np.full((120, 160, 3), 40 + i, np.uint8) for i in range(6)]
    video = write_video(frames, tmp_path / "blank.mp4", fps=6)
    out = tmp_path / "out"
    for fmt in ("csv", "json"):
        report = run_analysis([str(video)], AnalyzeOptions(
            out=str(out / fmt), model=str(tiny_va_model_path), format=fmt))
        assert report.analysed == 1 and report.inputs[0].faces == 0
        table = read_table(out / fmt / f"blank.{fmt}")
        assert len(table) == 0
        assert {"source", "track_id", "p_happy", "top_label", "valence", "arousal"} <= set(
            table.columns)
        assert len(read_table(out / fmt / f"blank_tracks.{fmt}")) == 0


def test_bad_inputs_do_not_stop_good_ones(tmp_path, photo, tiny_model_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    errors = []
    report = run_analysis([str(bad), str(photo), str(tmp_path / "missing.mp4")], AnalyzeOptions(
        out=str(tmp_path / "out"), model=str(tiny_model_path), plots=False),
        on_error=errors.append)
    assert [r.ok for r in report.inputs] == [False, True, False]
    assert len(errors) == 2 and "bad.png" in errors[0]
    assert "missing.mp4: file not found" in errors[1]
    assert not (tmp_path / "out" / "bad.csv").exists()


def test_nothing_analysed_raises_in_python_api(tmp_path, tiny_model_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    with pytest.raises(UserError, match="bad.jpg: empty file"):
        emoscope.analyze([bad], model=str(tiny_model_path))


def test_same_stem_inputs_get_distinct_outputs(tmp_path, astronaut_rgb, tiny_model_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(astronaut_rgb).save(tmp_path / folder / "x.png")
    run_analysis([str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")], AnalyzeOptions(
        out=str(tmp_path / "out"), model=str(tiny_model_path), plots=False))
    assert (tmp_path / "out" / "x.csv").is_file() and (tmp_path / "out" / "x-2.csv").is_file()


def test_options_are_validated(photo, tiny_model_path):
    with pytest.raises(UserError, match="unknown format"):
        emoscope.analyze(photo, model=str(tiny_model_path), format="xls")
    with pytest.raises(UserError, match="--every"):
        emoscope.analyze(photo, model=str(tiny_model_path), every=0)
    with pytest.raises(UserError, match="unexpected keyword"):
        emoscope.analyze(photo, colour="red")
    with pytest.raises(UserError, match="known detectors"):
        emoscope.analyze(photo, model=str(tiny_model_path), detector="yolo")


def test_import_stays_light_and_analyze_is_lazy():
    import subprocess
    import sys

    code = ("import sys, emoscope; assert 'emoscope.inference.analyze' not in sys.modules; "
            "assert callable(emoscope.analyze); "
            "assert 'emoscope.inference.analyze' in sys.modules; "
            "assert not {'torch', 'timm', 'lightning'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_huge_image_boxes_in_original_pixels(tmp_path, astronaut_rgb, tiny_model_path):
    # Detectors see a downscaled copy, so the face must stay large relative to the image.
    canvas = Image.new("L", (10000, 10000), 128)
    face = Image.fromarray(astronaut_rgb).convert("L").resize((6000, 6000))
    canvas.paste(face, (3000, 1000))
    del face
    path = tmp_path / "huge.jpg"
    canvas.save(path, quality=80)
    del canvas
    table = emoscope.analyze(path, model=str(tiny_model_path))
    assert len(table) == 1
    scale = 6000 / 512
    expected = [3000 + scale * ASTRONAUT_FACE[0], 1000 + scale * ASTRONAUT_FACE[1],
                3000 + scale * ASTRONAUT_FACE[2], 1000 + scale * ASTRONAUT_FACE[3]]
    got = table.iloc[0][["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)
    assert np.abs(got - expected).max() < 200  # 2 % of the image side


def test_animated_gif_is_analysed_frame_by_frame(tmp_path, astronaut_rgb, tiny_model_path):
    from emoscope.inference.demo import camera_path

    # the first half of the pan: the path turns back at its middle, where two frames are equal
    # and a GIF stores them as one
    frames = [Image.fromarray(f) for f in camera_path(astronaut_rgb, 320, 180, 12)[:6]]
    gif = tmp_path / "pan.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    out = tmp_path / "out"
    report = run_analysis([str(gif)], AnalyzeOptions(out=str(out), model=str(tiny_model_path),
                                                     annotate=True, plots=False))
    assert report.analysed == 1 and report.inputs[0].frames == 6, report.errors
    table = read_table(out / "pan.csv")
    assert table["frame"].tolist() == list(range(6)) and set(table["track_id"]) == {0}
    assert table["time_s"].tolist() == pytest.approx([0.08 * i for i in range(6)])
    import av

    with av.open(str(out / "pan_annotated.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6


def test_phone_video_stored_sideways_is_analysed_upright(tmp_path, astronaut_rgb,
                                                         tiny_model_path):
    from emoscope.inference.demo import camera_path
    from media_fixtures import with_display_rotation

    sideways = [np.rot90(f) for f in camera_path(astronaut_rgb, 320, 180, 12)[:4]]
    path = with_display_rotation(write_video(sideways, tmp_path / "phone.mp4", fps=10), 90)
    table = emoscope.analyze(path, model=str(tiny_model_path))
    assert table["frame"].tolist() == [0, 1, 2, 3]  # one upright face per frame
    assert (table["x2"] <= 320 + 1).all() and (table["y2"] <= 180 + 1).all()
