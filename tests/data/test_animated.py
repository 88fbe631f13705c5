"""Animated GIF / APNG / WebP and multi-page TIFF: every frame, timed by its own delay."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emoscope.data.animated import is_animated_image
from emoscope.data.sources import file_kind, resolve_input
from emoscope.data.video import VideoReader
from emoscope.errors import MediaError


def _frames(n: int) -> list[Image.Image]:
    return [Image.fromarray(np.full((40, 60, 3), 30 * i, np.uint8)) for i in range(n)]


def _save(path, frames, **info):
    frames[0].save(path, save_all=True, append_images=frames[1:], **info)
    return path


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_animated_images_are_videos_with_their_delays(tmp_path, suffix):
    path = _save(tmp_path / f"clip{suffix}", _frames(4), duration=[100, 200, 50, 100], loop=0)
    assert is_animated_image(path) and resolve_input(path).kind == "video"
    assert file_kind(path) == "video"
    reader = VideoReader(path)
    assert reader.info.backend == "pil" and reader.info.frame_count == 4
    assert reader.info.duration_s == pytest.approx(0.45)
    frames = list(reader)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.1, 0.3, 0.35])
    assert frames[2].rgb.shape == (40, 60, 3) and frames[2].rgb.dtype == np.uint8
    assert abs(int(frames[2].rgb.mean()) - 60) <= 2  # the third frame's pixels, not the first's


def test_sampling_applies_to_animated_images(tmp_path):
    path = _save(tmp_path / "clip.gif", _frames(6), duration=100, loop=0)
    assert [f.index for f in VideoReader(path, every=2)] == [0, 2, 4]
    assert [f.index for f in VideoReader(path, fps=5)] == [0, 2, 4]


def test_tiff_pages_and_gif_without_delays_are_100_ms_apart(tmp_path):
    tiff = _save(tmp_path / "stack.tiff", _frames(3))
    assert [f.time_s for f in VideoReader(tiff)] == pytest.approx([0.0, 0.1, 0.2])
    gif = _save(tmp_path / "fast.gif", _frames(3), duration=0)  # browsers show these at 100 ms
    assert [f.time_s for f in VideoReader(gif)] == pytest.approx([0.0, 0.1, 0.2])


def test_single_frame_gif_stays_an_image(tmp_path):
    path = tmp_path / "still.gif"
    _frames(1)[0].save(path)
    assert not is_animated_image(path) and resolve_input(path).kind == "image"


def test_truncated_animation_keeps_the_frames_before_the_damage(tmp_path, caplog):
    rng = np.random.default_rng(0)  # noise: every frame is big, so the cut falls inside one
    frames = [Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
              for _ in range(5)]
    path = _save(tmp_path / "clip.gif", frames, duration=100, loop=0)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])
    got = list(VideoReader(path))
    assert 1 <= len(got) < 5
    assert f"{path}: decoding stopped after frame" in caplog.text


def test_damaged_first_frame_is_one_error_naming_the_file(tmp_path):
    path = _save(tmp_path / "clip.gif", _frames(3), duration=100, loop=0)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(MediaError, match=f"^{path}: "):
        list(VideoReader(path))
