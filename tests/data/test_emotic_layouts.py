"""The three EMOTIC layouts read into the same persons; column variants; bad input."""

from __future__ import annotations

import csv
import logging
import shutil

import numpy as np
import pytest
import torch

from emoscope.data.emotic import detect_layout, read_emotic
from emoscope.data.emotic.dataset import EmoticDataset
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import EMOTIC_CATEGORIES
from emotic_fixtures import (
    BAD_REASONS,
    HEIGHT,
    KAGGLE_CATEGORY_ORDER,
    KAGGLE_HEAD,
    WIDTH,
    make_images,
    write_kaggle_layout,
    write_layout,
    write_preprocessed_layout,
)

LAYOUTS = ("mat", "preprocessed", "kaggle")
STREAMS = {"context": {"size": 48}, "body": {"size": (40, 24)}, "face": {"size": 24}}


@pytest.fixture(scope="module")
def images():
    return make_images({"train": 3, "val": 2, "test": 1}, seed=3)


@pytest.fixture(scope="module")
def roots(images, tmp_path_factory):
    base = tmp_path_factory.mktemp("emotic_layouts")
    return {layout: write_layout(layout, base / layout, images) for layout in LAYOUTS}


def _by_key(data):
    return {p.key: p for p in data.persons}


def _expected(images):
    """key -> (split, clipped box, category names, vad) straight from the fixture."""
    out = {}
    for image in images:
        for j, person in enumerate(image.persons):
            x1, y1, x2, y2 = person.box
            box = (max(x1, 0), max(y1, 0), min(x2, WIDTH), min(y2, HEIGHT))
            key = f"{image.split}/{image.folder}/{image.filename}#{j}"
            out[key] = (image.split, box, person.categories, person.vad, person.gender)
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_is_detected_and_matches_the_fixture(roots, images, layout):
    assert detect_layout(roots[layout]) == layout
    data = read_emotic(roots[layout])
    assert data.layout == layout and not data.skipped
    persons = _by_key(data)
    expected = _expected(images)
    assert set(persons) == set(expected)
    for key, (split, box, names, vad, gender) in expected.items():
        person = persons[key]
        assert person.split == split
        assert person.body_box == pytest.approx(box)
        assert person.category_names == [n for n in EMOTIC_CATEGORIES.labels if n in names]
        assert person.vad.tolist() == pytest.approx(vad)
        assert (person.width, person.height) == (WIDTH, HEIGHT)
        assert person.gender == gender and person.age == "Adult"
    # The second person's published box reaches past the right edge and is clipped.
    assert max(p.body_box[2] for p in data.persons) == WIDTH


def test_layouts_round_trip_into_identical_samples(roots):
    datasets = {}
    for layout in LAYOUTS:
        persons = sorted(read_emotic(roots[layout], "val").persons, key=lambda p: p.key)
        datasets[layout] = EmoticDataset(persons, STREAMS)
    reference = datasets["mat"]
    assert len(reference) == 4
    for layout in ("preprocessed", "kaggle"):
        for i in range(len(reference)):
            a, b = reference[i], datasets[layout][i]
            for name in ("context", "body", "face", "stream_mask", "categories", "vad"):
                assert torch.equal(a[name], b[name]), (layout, i, name)


def test_val_and_test_use_combined_annotations(roots, images):
    # In the fixture the first annotator of every val/test person gave only one category;
    # the combined labels (all categories) must be the ones read.
    data = read_emotic(roots["mat"], ("val", "test"))
    for person in data.persons:
        assert person.categories.sum() >= 1
    multi = [p for p in data.persons if p.categories.sum() > 1]
    assert multi, "fixture should contain val/test persons with several categories"


def test_preprocessed_arrays_without_image_files(images, tmp_path):
    root = write_preprocessed_layout(tmp_path / "pre", images, arrays=True, image_files=False)
    data = read_emotic(root, "train")
    assert not data.skipped
    person = data.persons[0]
    assert person.image_path is None and person.image_array.index == 0
    assert person.image_array.load().shape == (224, 224, 3)
    item = EmoticDataset(data.persons, STREAMS)[0]
    assert item["context"].shape == (3, 48, 48) and item["body"].shape == (3, 40, 24)


def test_preprocessed_arrays_must_agree_with_the_csv(images, tmp_path):
    root = write_preprocessed_layout(tmp_path / "pre", images, arrays=True)
    cats = np.load(root / "train_cat_arr.npy")
    cats[1] = 0
    cats[1, 5] = 1
    np.save(root / "train_cat_arr.npy", cats)
    data = read_emotic(root, "train")
    assert [s.reason for s in data.skipped] == ["categories disagree with train_cat_arr.npy"]
    np.save(root / "train_cont_arr.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(DataFormatError, match="train_cont_arr.npy: 2 rows but train.csv has 6"):
        read_emotic(root, "train")


def test_preprocessed_column_spellings(images, tmp_path, roots):
    variants = ("index", " FOLDER ", "filename", "image_size", "bbox", "categorical labels",
                "Continuous Labels", "gender", "AGE")
    root = write_preprocessed_layout(tmp_path / "pre", images, columns=variants)
    assert _summary(read_emotic(root)) == _summary(read_emotic(roots["preprocessed"]))


def test_kaggle_column_spellings_and_order(images, tmp_path, roots):
    head = tuple(h.lower().replace("_", " ") for h in KAGGLE_HEAD)
    root = write_kaggle_layout(tmp_path / "kg", images, head=head)
    assert _summary(read_emotic(root)) == _summary(read_emotic(roots["kaggle"]))


def _summary(data):
    return sorted((p.key, p.body_box, tuple(p.categories), tuple(p.vad)) for p in data.persons)


def _rewrite_header(path, old, new):
    rows = list(csv.reader(open(path, newline="")))
    rows[0] = [new if c == old else c for c in rows[0]]
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_missing_columns_name_file_and_column(images, tmp_path):
    pre = write_preprocessed_layout(tmp_path / "pre", images)
    _rewrite_header(pre / "val.csv", "BBox", "Box of the body")
    with pytest.raises(DataFormatError) as err:
        read_emotic(pre, "val")
    assert str(err.value).startswith(f"{pre / 'val.csv'}: missing column 'BBox'")
    assert "\n" not in str(err.value)
    kg = write_kaggle_layout(tmp_path / "kg", images)
    csv_path = kg / "archive" / "annots_arrs" / "annot_arrs_test.csv"
    _rewrite_header(csv_path, KAGGLE_CATEGORY_ORDER[3], "Mystery")
    with pytest.raises(DataFormatError, match=f"missing column '{KAGGLE_CATEGORY_ORDER[3]}'"):
        read_emotic(kg, "test")
    _rewrite_header(csv_path, "Arousal", "Arousl")
    with pytest.raises(DataFormatError, match="annot_arrs_test.csv: missing column 'Arousal'"):
        read_emotic(kg, "test")


@pytest.fixture(scope="module")
def bad_roots(tmp_path_factory):
    images = make_images({"train": 2, "val": 1, "test": 1}, seed=5, bad=True)
    base = tmp_path_factory.mktemp("emotic_bad")
    return {layout: write_layout(layout, base / layout, images) for layout in LAYOUTS}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bad_rows_are_skipped_with_reasons_and_a_summary(bad_roots, layout, caplog):
    with caplog.at_level(logging.WARNING):
        data = read_emotic(bad_roots[layout], "train")
    assert len(data.persons) == 4  # the two good images, two persons each
    reasons = [s.reason for s in data.skipped]
    assert len(reasons) == len(BAD_REASONS)
    for expected in BAD_REASONS:
        assert sum(r.startswith(expected) for r in reasons) == 1, (expected, reasons)
    file = {"mat": "Annotations.mat", "preprocessed": "train.csv",
            "kaggle": "annot_arrs_train.csv"}[layout]
    assert all(s.file == file for s in data.skipped)
    assert data.skip_summary().startswith("skipped 5 row(s): ")
    assert "1 no categories" in data.skip_summary()
    assert f"{data.skipped[0]}" in caplog.text
    assert "skipped 5 row(s)" in caplog.text and "4 person(s) kept" in caplog.text


def test_unknown_categories_and_bad_values_are_skipped(images, tmp_path):
    pre = write_preprocessed_layout(tmp_path / "pre", images)
    rows = list(csv.reader(open(pre / "val.csv", newline="")))
    rows[1][5] = "['Peace', 'Joyfulness']"
    rows[2][6] = "[4, 12, 5]"
    with open(pre / "val.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    data = read_emotic(pre, "val")
    assert [s.reason for s in data.skipped] == [
        "unknown category: 'Joyfulness'", "continuous labels outside 1-10: [4.0, 12.0, 5.0]"]
    kg = write_kaggle_layout(tmp_path / "kg", images)
    path = kg / "archive" / "annots_arrs" / "annot_arrs_val.csv"
    rows = list(csv.reader(open(path, newline="")))
    rows[1][-1] = "2"
    rows[2][-2] = ""
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    reasons = [s.reason for s in read_emotic(kg, "val").skipped]
    assert reasons == ["categories must be 0 or 1, got [0.0, 1.0, 2.0]",
                       "missing categories (NaN)"]


def test_unreadable_mat_and_missing_layout(tmp_path, roots):
    broken = tmp_path / "broken"
    (broken / "Annotations").mkdir(parents=True)
    (broken / "Annotations" / "Annotations.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage")
    with pytest.raises(DataFormatError, match="Annotations.mat: cannot read MATLAB file"):
        read_emotic(broken)
    with pytest.raises(DataFormatError, match="no EMOTIC layout found"):
        read_emotic(tmp_path)
    with pytest.raises(UserError, match="unknown EMOTIC split 'dev'"):
        read_emotic(roots["mat"], "dev")


def test_all_rows_bad_is_an_error(images, tmp_path):
    pre = write_preprocessed_layout(tmp_path / "pre", images)
    for folder in ("mscoco", "framesdb"):
        shutil.rmtree(pre / folder)
    with pytest.raises(DataFormatError, match=r"no usable persons in split\(s\) test \(skipped"):
        read_emotic(pre, "test")


def test_mat_category_cells_in_every_nesting(tmp_path):
    from scipy.io import loadmat, savemat

    from emoscope.data.emotic.mat_layout import _names
    from emotic_fixtures import _cell, _struct_array

    annotators = _struct_array([{"categories": _cell(["Peace"])},
                                {"categories": _cell(["Anger", "Peace"])}], ("categories",))
    savemat(str(tmp_path / "a.mat"), {"several": annotators, "one": {"categories": _cell(["Fear"])},
                                      "cell": _cell(["Pain", "Fear"])})
    mat = loadmat(str(tmp_path / "a.mat"))
    assert _names(mat["several"]) == ["Peace", "Anger"]  # union, never only the first
    assert _names(mat["one"]) == ["Fear"]
    assert _names(mat["cell"]) == ["Pain", "Fear"]


def test_preprocessed_image_size_written_as_cols_rows(images, tmp_path, roots):
    root = write_preprocessed_layout(tmp_path / "pre", images)
    rows = list(csv.reader(open(root / "train.csv", newline="")))
    for row in rows[1:]:
        row[3] = f"[{WIDTH}, {HEIGHT}]"
    with open(root / "train.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert _summary(read_emotic(root, "train")) == _summary(read_emotic(roots["mat"], "train"))
