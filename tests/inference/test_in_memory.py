"""Images in memory (numpy / PIL): the same table as ``analyze`` on a file, BGR and grey
arrays, streams with tracking across calls, and one-line errors for bad arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import emoscope
from emoscope.data.images import array_to_rgb
from emoscope.errors import UserError
from emoscope.inference.demo import ASTRONAUT_FACE, camera_path


@pytest.fixture(scope="module")
def analyzer(tiny_model_path):
    with emoscope.EmotionAnalyzer(model=str(tiny_model_path)) as analyzer:
        yield analyzer


def test_array_equals_the_file_table(tmp_path, astronaut_rgb, tiny_model_path, analyzer):
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut_rgb).save(path)
    from_file = emoscope.analyze(path, model=str(tiny_model_path)).drop(columns="source")
    from_array = analyzer.analyze_image(astronaut_rgb)
    assert from_array["source"].tolist() == ["image"]
    pd.testing.assert_frame_equal(from_array.drop(columns="source"), from_file)
    box = from_array.iloc[0]
    assert abs(box["x1"] - ASTRONAUT_FACE[0]) < 25 and abs(box["y2"] - ASTRONAUT_FACE[3]) < 25


def test_bgr_grey_pil_and_uint16_inputs_agree(astronaut_rgb, analyzer):
    rgb = analyzer.analyze_image(astronaut_rgb)
    bgr = analyzer.analyze_image(astronaut_rgb[..., ::-1], channels="bgr")
    pil = analyzer.analyze_image(Image.fromarray(astronaut_rgb))
    wide = analyzer.analyze_image(astronaut_rgb.astype(np.uint16) * 257)  # 16-bit
    for other in (bgr, pil, wide):
        pd.testing.assert_frame_equal(other, rgb)
    grey = np.asarray(Image.fromarray(astronaut_rgb).convert("L"))
    assert len(analyzer.analyze_image(grey)) == 1


def test_analyze_accepts_arrays_and_lists(astronaut_rgb, tiny_model_path):
    table = emoscope.analyze([astronaut_rgb, np.zeros((64, 64, 3), np.uint8), astronaut_rgb],
                             model=str(tiny_model_path))
    assert table["source"].tolist() == ["0", "2"]  # the blank image has no face
    assert (table["track_id"] == 0).all()  # each image on its own


def test_stream_keeps_tracks_and_smoothing_across_calls(astronaut_rgb, tiny_model_path):
    frames = camera_path(astronaut_rgb, 320, 180, 12)[:5]
    with emoscope.EmotionAnalyzer(model=str(tiny_model_path), smooth=3) as live:
        rows = [live.analyze_frame(f, time_s=i / 10) for i, f in enumerate(frames)]
        whole = live.analyze_frames(frames, fps=10, source="stream")
        live.reset()
        again = live.analyze_frame(frames[0])
    stream = pd.concat(rows, ignore_index=True)
    assert stream["frame"].tolist() == [0, 1, 2, 3, 4] and set(stream["track_id"]) == {0}
    assert stream["time_s"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert "smooth_happy" in stream.columns
    pd.testing.assert_frame_equal(stream, whole)  # frame by frame = all at once
    assert again["frame"].tolist() == [0] and again["time_s"].tolist() == [0.0]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4, 2), np.uint8), r"frame 0: expected an \(H, W\)"),
    (np.zeros((0, 5, 3), np.uint8), r"got shape \(0, 5, 3\)"),
    (np.array([["a"]]), "expected integer or float pixels"),
])
def test_bad_arrays_are_one_line_errors(analyzer, bad, message):
    with pytest.raises(UserError, match=message):
        analyzer.analyze_image(bad)


def test_options_are_checked(tiny_model_path):
    with pytest.raises(UserError, match="writes nothing"):
        emoscope.EmotionAnalyzer(model=str(tiny_model_path), out="results")
    with pytest.raises(UserError, match="unexpected keyword"):
        emoscope.EmotionAnalyzer(model=str(tiny_model_path), smoothing=3)
    with emoscope.EmotionAnalyzer(model=str(tiny_model_path)) as analyzer:
        with pytest.raises(UserError, match="exactly one of fps= or times="):
            analyzer.analyze_frames([np.zeros((8, 8, 3), np.uint8)])


def test_array_to_rgb_values():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 0  # fully transparent red: white on composite
    assert (array_to_rgb(rgba) == 255).all()
    floats = np.full((2, 2, 3), 0.5, np.float32)
    assert (array_to_rgb(floats) == 127).all()
    bgr = np.zeros((1, 1, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    assert array_to_rgb(bgr, "bgr")[0, 0].tolist() == [0, 0, 200]
