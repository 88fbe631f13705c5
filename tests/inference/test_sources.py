"""Inputs: files by kind, folders recursive and sorted, non-media skipped with a warning."""

from __future__ import annotations

import logging

import pytest
from PIL import Image

from emoscope.data.sources import resolve_input
from emoscope.errors import MediaError


def test_folder_is_recursive_sorted_and_skips_other_files(tmp_path, caplog, face_video):
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for rel in ("b/2.png", "a/deep/1.jpg", "0.PNG", "b/IMG_3.HEIC"):
        Image.new("RGB", (8, 8)).save(tmp_path / rel)
    (tmp_path / "c.mp4").write_bytes(face_video.read_bytes())
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.png").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        media = resolve_input(tmp_path)
    assert media.kind == "folder"
    names = [p.relative_to(tmp_path).as_posix() for p in media.files]
    assert names == ["0.PNG", "a/deep/1.jpg", "b/2.png", "b/IMG_3.HEIC", "c.mp4"]
    assert [p.name for p in media.skipped] == ["notes.txt"]
    assert "notes.txt" in caplog.text


def test_kinds_by_suffix_and_by_content(tmp_path, face_video):
    assert resolve_input(face_video).kind == "video"
    image = tmp_path / "photo"  # no suffix: sniffed
    Image.new("RGB", (8, 8)).save(image, format="PNG")
    assert resolve_input(image).kind == "image"
    clip = tmp_path / "clip.bin"
    clip.write_bytes(face_video.read_bytes())
    assert resolve_input(clip).kind == "video"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [("missing.jpg", None, "file not found"), ("empty.png", b"", "empty file"),
     ("notes.txt", b"text", "not an image or video")],
)
def test_bad_inputs(tmp_path, name, content, problem):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError) as info:
        resolve_input(path)
    assert str(info.value) == f"{path}: {info.value.problem}" and problem in str(info.value)


def test_folder_without_media(tmp_path):
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(MediaError, match="no images, videos or audio files"):
        resolve_input(tmp_path)
