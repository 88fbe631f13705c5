"""The pipeline-crop training set: splits, holdout, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.fer2013 import load_fer2013
from emoscope.data.fer2013_pipeline import holdout_indices, load_fer2013_pipeline, save_crops
from emoscope.errors import DataFormatError, UserError
from synthetic_faces import write_fer2013_folders


@pytest.fixture()
def crops_file(tmp_path):
    root = tmp_path / "fer2013"
    write_fer2013_folders(root, train_per_class=6, test_per_class=1)
    faces = load_fer2013(root, "train")
    n = len(faces)
    crops = np.stack([np.full((n, 48, 48), 10 + v, np.uint8) for v in range(2)])
    found = np.ones((2, n), bool)
    found[1, :5] = False  # the detector missed five faces in the second framing
    path = tmp_path / "crops.npz"
    save_crops(path, crops, found, faces.labels, faces.sources, (101, 102))
    return root, path, faces


def test_splits_keep_the_holdout_out_of_training(crops_file):
    root, path, faces = crops_file
    train = load_fer2013_pipeline(root, "train", crops=path, holdout=7)
    holdout = load_fer2013_pipeline(root, "holdout", crops=path, holdout=7)
    registered = load_fer2013_pipeline(root, "holdout_registered", crops=path, holdout=7)
    held = set(holdout_indices(faces.labels, 7, 0))
    assert len(held) == 7  # one per class
    assert len(holdout) == len(registered) == 7
    assert np.all(holdout.images == 10)  # the first framing's crops
    assert {faces.sources[i] for i in held} == set(registered.sources)
    rest = len(faces) - 7
    missed = sum(1 for i in range(5) if i not in held)
    assert len(train) == rest + rest + (rest - missed)
    assert not any(s.split("#")[0] in registered.sources for s in train.sources)
    assert np.bincount(train.labels).min() > 0


def test_crops_of_other_faces_and_bad_files_are_one_line(crops_file, tmp_path):
    root, path, _ = crops_file
    with pytest.raises(UserError, match="pipeline crops not found"):
        load_fer2013_pipeline(root, crops=tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="not a pipeline-crop file"):
        load_fer2013_pipeline(root, crops=tmp_path / "junk.npz")
    other = tmp_path / "other"
    write_fer2013_folders(other, train_per_class=5, test_per_class=1)
    with pytest.raises(DataFormatError, match="cut from other faces"):
        load_fer2013_pipeline(other, crops=path)
    with pytest.raises(UserError, match="unknown split"):
        load_fer2013_pipeline(root, "test", crops=path)
