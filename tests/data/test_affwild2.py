"""Aff-Wild2 adapter: both published layouts, per-task masks, skipped frames, cache, errors."""

from __future__ import annotations

import numpy as np
import pytest

from affwild2_fixtures import write_affwild2
from emoscope.data.affwild2 import load_affwild2
from emoscope.errors import DataFormatError, UserError


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_affwild2(tmp_path_factory.mktemp("affwild2"))


def _assert_matches(faces, expected) -> None:
    assert sorted(faces.sources) == sorted(expected)
    for i, source in enumerate(faces.sources):
        labels = expected[source]
        assert faces.expressions[i] == labels.expression
        if labels.valence_arousal is None:
            assert np.isnan(faces.valence_arousal[i]).all()
        else:
            np.testing.assert_allclose(faces.valence_arousal[i], labels.valence_arousal,
                                       atol=1e-6)
        if labels.action_units is None:
            assert (faces.action_units[i] == -1).all()
        else:
            np.testing.assert_array_equal(faces.action_units[i], labels.action_units)


@pytest.mark.parametrize("layout", ["per_video", "mtl"])
@pytest.mark.parametrize("split", ["train", "val"])
def test_both_layouts_give_the_written_labels(tree, layout, split):
    faces = load_affwild2(tree.root, split, layout=layout, image_size=32)
    _assert_matches(faces, tree.expected[split])
    assert faces.images.shape == (len(tree.expected[split]), 32, 32, 3)


def test_missing_labels_are_masked_per_task_not_dropped(tree):
    faces = load_affwild2(tree.root, "train", layout="per_video")
    counts = faces.counts()
    # 2 videos x 16 frames, one frame per video without an image
    assert counts["frames"] == 30
    assert counts["expression"] < counts["frames"]
    assert counts["valence_arousal"] < counts["frames"]
    # the second video has no AU file: its frames keep expression and VA
    second = np.array([s.startswith("2-30") for s in faces.sources])
    assert second.sum() == 15 and not faces.has_action_units[second].any()
    assert faces.has_valence_arousal[second].sum() > 10
    # a frame with VA but no expression is kept
    assert (~faces.has_expression & faces.has_valence_arousal).any()
    assert "1-30-640x360/00015.jpg" not in faces.sources  # annotated, no image


def test_frames_show_their_labels(tree):
    faces = load_affwild2(tree.root, "val", image_size=48)
    i = int(np.flatnonzero(faces.has_valence_arousal)[0])
    red = faces.images[i, :, :, 0].astype(float)
    valence = faces.valence_arousal[i, 0]
    assert abs(np.median(red) - (125 + 100 * valence)) < 12


def test_cache_is_reused_and_equal(tree, tmp_path):
    first = load_affwild2(tree.root, "train", cache_dir=tmp_path, image_size=24)
    files = list(tmp_path.glob("affwild2-train-*.npz"))
    assert len(files) == 1
    again = load_affwild2(tree.root, "train", cache_dir=tmp_path, image_size=24)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.action_units, again.action_units)
    assert first.sources == again.sources


def test_frame_step_keeps_every_nth(tree):
    faces = load_affwild2(tree.root, "val", layout="per_video", frame_step=4)
    frames = sorted(int(s.rsplit("/", 1)[1][:5]) for s in faces.sources)
    assert frames and all((f - 1) % 4 == 0 for f in frames)


def test_bad_header_names_the_file(tmp_path):
    fixture = write_affwild2(tmp_path / "aw", frames=4, mtl=False)
    bad = next((fixture.root / "annotations" / "VA_Estimation_Challenge" / "Train_Set").glob(
        "*.txt"))
    bad.write_text("valence;arousal\n0.1;0.2\n")
    with pytest.raises(DataFormatError, match=f"{bad.name}: header is"):
        load_affwild2(fixture.root, "train")


def test_out_of_range_label_and_missing_columns(tmp_path):
    fixture = write_affwild2(tmp_path / "aw", frames=4)
    expr = next((fixture.root / "annotations" / "EXPR_Recognition_Challenge" /
                 "Validation_Set").glob("*.txt"))
    expr.write_text(expr.read_text().replace("\n2\n", "\n9\n", 1))
    with pytest.raises(DataFormatError, match="expr label .*outside its range"):
        load_affwild2(fixture.root, "val", layout="per_video")
    listing = fixture.root / "MTL_Challenge" / "training_set_annotations.txt"
    listing.write_text(listing.read_text().replace("AU26", "AU27", 1))
    with pytest.raises(DataFormatError, match="missing column.*au26"):
        load_affwild2(fixture.root, "train", layout="mtl")


def test_missing_root_split_and_frames(tmp_path):
    with pytest.raises(UserError, match="dataset root not found"):
        load_affwild2(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="no cropped_aligned"):
        load_affwild2(tmp_path / "empty")
    (tmp_path / "empty" / "cropped_aligned").mkdir()
    with pytest.raises(DataFormatError, match="no annotations for split 'train'"):
        load_affwild2(tmp_path / "empty")
    with pytest.raises(UserError, match="split 'test'"):
        load_affwild2(tmp_path / "empty", "test")
