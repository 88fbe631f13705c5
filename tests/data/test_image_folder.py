"""The generic one-folder-per-class adapter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emoscope.data.image_folder import load_image_folder
from emoscope.errors import DataFormatError, UserError
from emoscope.registry import DATASETS


def _write(root, split, counts: dict[str, int], size=(40, 30), mode="RGB", fmt="png"):
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(folder / f"{i}.{fmt}")


def test_classes_from_sorted_folders_grey(tmp_path):
    _write(tmp_path, "train", {"Sad": 2, "Anger": 3, "Happy": 1})
    (tmp_path / "train" / "Sad" / "notes.txt").write_text("not an image")
    arrays = load_image_folder(tmp_path, "train", image_size=24)
    assert arrays.label_space.labels == ("Anger", "Happy", "Sad")
    assert arrays.images.shape == (6, 24, 24) and arrays.images.dtype == np.uint8
    assert list(arrays.labels) == [0, 0, 0, 1, 2, 2]
    assert arrays.sources[0] == "train/Anger/0.png"
    assert arrays.label_space.name == tmp_path.name


def test_rgb_explicit_classes_and_registry(tmp_path):
    _write(tmp_path, "test", {"happy": 2, "angry": 1}, mode="L", fmt="jpg")
    arrays = DATASETS.build("image_folder", root=tmp_path, split="test", image_size=16,
                            grayscale=False, classes=["angry", "disgust", "happy"],
                            label_space_name="mine")
    assert arrays.images.shape == (3, 16, 16, 3)
    assert arrays.label_space.labels == ("angry", "disgust", "happy")
    assert arrays.label_space.name == "mine"
    assert list(arrays.class_counts()) == [1, 0, 2]


def test_cache_round_trip(tmp_path):
    _write(tmp_path / "data", "train", {"a": 2, "b": 2})
    first = load_image_folder(tmp_path / "data", "train", cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("image_folder-train-*.npz"))) == 1
    second = load_image_folder(tmp_path / "data", "train", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.images, second.images)
    assert second.label_space == first.label_space


def test_errors(tmp_path):
    with pytest.raises(UserError, match="dataset root not found"):
        load_image_folder(tmp_path / "nope")
    _write(tmp_path, "train", {"a": 1, "b": 1})
    with pytest.raises(DataFormatError, match="split folder not found.*folders here: train"):
        load_image_folder(tmp_path, "val")
    with pytest.raises(DataFormatError, match="class folder"):
        load_image_folder(tmp_path, "train", classes=["a"])
    (tmp_path / "train" / "b" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match="broken.jpg: cannot read image"):
        load_image_folder(tmp_path, "train")
