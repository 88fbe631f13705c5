"""Aff-Wild2 annotations as real releases and careless hands leave them: blank and short lines
are errors naming file and line, deeper folders, byte-order marks, other list-file names and
the combined AU header are read, split overlaps are reported, and the frame cache streams
from disk (memory does not grow with the frame count)."""

from __future__ import annotations

import logging
import shutil
import tracemalloc

import numpy as np
import pytest

from affwild2_fixtures import LIST_NAMES, write_affwild2
from emoscope.data import affwild2_frames
from emoscope.data.affwild2 import load_affwild2
from emoscope.errors import DataFormatError


@pytest.fixture
def tree(tmp_path):
    return write_affwild2(tmp_path / "aw", frames=12)


def _va_file(root, split="Train_Set"):
    return sorted((root / "annotations" / "VA_Estimation_Challenge" / split).glob("*.txt"))[0]


def _sorted(faces):
    order = np.argsort(faces.sources)
    return [faces.sources[i] for i in order], faces.expressions[order], \
        faces.valence_arousal[order], faces.action_units[order]


def _same(a, b) -> None:
    for x, y in zip(_sorted(a), _sorted(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_blank_line_between_frames_is_an_error_naming_file_and_line(tree):
    path = _va_file(tree.root)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:5], "", *lines[5:]]) + "\n")
    with pytest.raises(DataFormatError, match=rf"{path.name}: line 6 is blank"):
        load_affwild2(tree.root, "train", layout="per_video")


def test_blank_lines_at_the_end_are_harmless(tree):
    before = load_affwild2(tree.root, "train", layout="per_video")
    path = _va_file(tree.root)
    path.write_text(path.read_text() + "\n\n")
    _same(load_affwild2(tree.root, "train", layout="per_video"), before)


@pytest.mark.parametrize(("line", "message"), [
    ("0.1,0.2,0.3", "line 4 has 3 field\\(s\\), expected 2"),
    ("0.1", "line 4 has 1 field\\(s\\), expected 2"),
    ("0.1,abc", "line 4: non-numeric value in '0.1,abc'"),
])
def test_a_malformed_line_is_reported_with_its_number(tree, line, message):
    path = _va_file(tree.root)
    lines = path.read_text().splitlines()
    lines[3] = line
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"{path.name}: {message}"):
        load_affwild2(tree.root, "train", layout="per_video")


def test_annotation_folders_one_level_deeper_are_found(tree):
    before = load_affwild2(tree.root, "train", layout="per_video")
    nested = tree.root / "Annotations"
    nested.mkdir()
    shutil.move(tree.root / "annotations", nested / "annotations")  # a double unzip
    _same(load_affwild2(tree.root, "train", layout="per_video"), before)


def test_a_video_in_another_tasks_validation_set_is_warned(tree, caplog):
    train_expr = sorted((tree.root / "annotations" / "EXPR_Recognition_Challenge" /
                         "Train_Set").glob("*.txt"))[0]
    shutil.copy(train_expr, tree.root / "annotations" / "EXPR_Recognition_Challenge" /
                "Validation_Set" / train_expr.name)
    with caplog.at_level(logging.WARNING):
        load_affwild2(tree.root, "train", layout="per_video")
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "1 video(s) are in train for one task and in val for another" in message
    assert f"{train_expr.stem}: train for au/expr/va, val for expr" in message


def test_no_warning_when_the_splits_are_apart(tree, caplog):
    with caplog.at_level(logging.WARNING):
        load_affwild2(tree.root, "train", layout="per_video")
    assert not [r for r in caplog.records if "both splits" in r.getMessage()]


def test_a_video_in_both_list_files_is_warned(tree, caplog):
    folder = tree.root / "MTL_Challenge"
    with caplog.at_level(logging.WARNING):
        load_affwild2(tree.root, "train", layout="mtl")
    assert not [r for r in caplog.records if "both splits" in r.getMessage()]
    train_rows = (folder / LIST_NAMES["train"]).read_text().splitlines()
    with open(folder / LIST_NAMES["val"], "a") as handle:
        handle.write(train_rows[1] + "\n")  # one training frame listed for validation too
    with caplog.at_level(logging.WARNING):
        load_affwild2(tree.root, "val", layout="mtl")
    message = " ".join(r.getMessage() for r in caplog.records)
    video = train_rows[1].split("/", 1)[0]
    assert f"1 video(s) are in both {LIST_NAMES['val']} and {LIST_NAMES['train']}" in message
    assert f"(e.g. {video})" in message


def test_a_byte_order_mark_is_not_part_of_the_header(tree):
    before = {layout: load_affwild2(tree.root, "train", layout=layout)
              for layout in ("per_video", "mtl")}
    for path in (_va_file(tree.root), tree.root / "MTL_Challenge" / LIST_NAMES["train"]):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    for layout, faces in before.items():
        _same(load_affwild2(tree.root, "train", layout=layout), faces)


@pytest.mark.parametrize("names", [("Train_Set.txt", "Validation_Set.txt"),
                                   ("mtl_training_set.csv", "mtl_val_set.csv")])
def test_list_files_with_other_names_are_found(tree, names):
    before = {split: load_affwild2(tree.root, split, layout="mtl") for split in ("train", "val")}
    folder = tree.root / "MTL_Challenge"
    for split, name in zip(("train", "val"), names, strict=True):
        (folder / LIST_NAMES[split]).rename(folder / name)
    for split in ("train", "val"):
        _same(load_affwild2(tree.root, split, layout="mtl"), before[split])


def test_the_combined_aus_header_is_read(tree):
    before = load_affwild2(tree.root, "train", layout="mtl")
    path = tree.root / "MTL_Challenge" / LIST_NAMES["train"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join(["image,valence,arousal,expression,aus", *lines[1:]]) + "\n")
    _same(load_affwild2(tree.root, "train", layout="mtl"), before)
    lines[3] = lines[3].rsplit(",", 1)[0]  # one AU value short
    path.write_text("\n".join(["image,valence,arousal,expression,aus", *lines[1:]]) + "\n")
    with pytest.raises(DataFormatError, match="data row 3 has too few fields"):
        load_affwild2(tree.root, "train", layout="mtl")


def _peak_bytes(root, **kwargs) -> tuple[int, np.ndarray]:
    tracemalloc.start()
    try:
        faces = load_affwild2(root, "train", layout="per_video", image_size=112, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, faces.images


@pytest.mark.parametrize("cached", [False, True])
def test_frame_memory_does_not_grow_with_the_frame_count(tmp_path, monkeypatch, cached):
    monkeypatch.setattr(affwild2_frames, "CHUNK_BYTES", 256 * 1024)
    small = write_affwild2(tmp_path / "small", frames=20, val_videos=1)
    large = write_affwild2(tmp_path / "large", frames=200, val_videos=1)
    options = {"cache_dir": tmp_path / "cache"} if cached else {}
    small_peak, _ = _peak_bytes(small.root, **options)
    large_peak, images = _peak_bytes(large.root, **options)
    frame_bytes = images[0].nbytes
    assert images.shape == (len(large.expected["train"]), 112, 112, 3)
    assert isinstance(images, np.memmap)
    assert images.nbytes > 10 * 2**20  # the frames themselves: 11+ MB
    assert large_peak - small_peak < 40 * frame_bytes  # < 1.5 MB more for 10x the frames
    if cached:  # and read again from the cache, memory-mapped as well
        again_peak, again = _peak_bytes(large.root, **options)
        assert isinstance(again, np.memmap) and again_peak < 40 * frame_bytes
        np.testing.assert_array_equal(again[5], images[5])
