"""FER2013 in both published layouts, the .npz cache and FER+ vote targets."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.fer2013 import (
    ferplus_targets,
    ferplus_votes_as_fer2013,
    load_fer2013,
    load_ferplus,
)
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import FER2013_LABELS, FERPLUS_LABELS
from synthetic_faces import (
    FER_LABELS,
    bar_face,
    ferplus_rows_for_csv,
    write_fer2013_csv,
    write_fer2013_folders,
    write_ferplus_csv,
)


def test_folder_layout_reads_every_image_with_csv_label_order(fer_folders):
    train = load_fer2013(fer_folders.root, "train")
    test = load_fer2013(fer_folders.root, "test")
    assert (len(train), len(test)) == (28, 14)
    assert train.images.shape == (28, 48, 48) and train.images.dtype == np.uint8
    assert train.label_space == FER2013_LABELS
    assert list(train.class_counts()) == [4] * 7
    # folder names map onto the CSV order: neutral is emotion 6
    neutral = [i for i, s in enumerate(test.sources) if s.startswith("test/neutral/")]
    assert neutral and set(test.labels[neutral]) == {6}
    assert all(s.split("/")[-1].startswith("PublicTest_") for s in test.sources)


def test_folder_images_match_drawn_patterns(fer_folders):
    test = load_fer2013(fer_folders.root, "test")
    for image, label in zip(test.images, test.labels, strict=True):
        clean = bar_face(int(label), np.random.default_rng(1))
        band = slice(4 + 6 * label, 8 + 6 * label)
        assert abs(int(image[band, 6:42].mean()) - int(clean[band, 6:42].mean())) < 8


def test_csv_layout_splits_and_labels(fer_csv):
    train = load_fer2013(fer_csv.root, "train")
    public = load_fer2013(fer_csv.root, "publictest")
    test = load_fer2013(fer_csv.root, "test")
    assert (len(train), len(public), len(test)) == (28, 14, 28)
    assert list(train.labels) == fer_csv.labels["Training"]
    assert list(public.labels) == fer_csv.labels["PublicTest"]
    # the CSV stores exact pixels: the bar sits in the band of its label
    for image, label in zip(train.images, train.labels, strict=True):
        assert image[4 + 6 * label: 8 + 6 * label, 6:42].min() == 230
    assert load_fer2013(fer_csv.root / "fer2013.csv", "privatetest").images.shape == (14, 48, 48)


def test_both_layouts_agree_on_class_names(fer_folders, fer_csv):
    folders = load_fer2013(fer_folders.root, "train")
    rows = load_fer2013(fer_csv.root, "train")
    assert folders.label_space.labels == rows.label_space.labels == FER_LABELS


def test_cache_is_written_and_reused(fer_folders, tmp_path):
    cache = tmp_path / "cache"
    first = load_fer2013(fer_folders.root, "test", cache_dir=cache)
    files = list(cache.glob("fer2013-test-*.npz"))
    assert len(files) == 1
    second = load_fer2013(fer_folders.root, "test", cache_dir=cache)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.sources == second.sources


def test_layout_errors_are_one_line(tmp_path, fer_folders):
    with pytest.raises(UserError, match="dataset root not found"):
        load_fer2013(tmp_path / "missing", "test")
    with pytest.raises(UserError, match="unknown split 'valid'"):
        load_fer2013(fer_folders.root, "valid")
    (fer_folders.root / "test" / "contempt").mkdir()
    with pytest.raises(DataFormatError, match="unknown emotion folder"):
        load_fer2013(fer_folders.root, "test")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "fer2013.csv").write_text("emotion,Usage\n0,Training\n")
    with pytest.raises(DataFormatError, match="missing column 'pixels'") as err:
        load_fer2013(bad, "train")
    assert "\n" not in str(err.value) and "fer2013.csv" in str(err.value)


def test_ferplus_targets_majority_distribution_and_unknown():
    votes = np.array([2, 8, 0, 0, 0, 0, 0, 0, 0, 0], np.float32)
    label, dist = ferplus_targets(votes)
    assert label == 1
    np.testing.assert_allclose(dist, [0.2, 0.8, 0, 0, 0, 0, 0, 0])
    assert ferplus_targets(np.array([3, 0, 0, 0, 0, 0, 0, 0, 6, 1], np.float32)) is None  # unknown
    assert ferplus_targets(np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 10], np.float32)) is None  # NF


def test_ferplus_on_csv_layout(tmp_path):
    fixture = write_fer2013_csv(tmp_path / "fer2013", train_per_class=2, public_per_class=1,
                                private_per_class=1)
    rows = ferplus_rows_for_csv(fixture)
    write_ferplus_csv(tmp_path / "ferplus" / "fer2013new.csv", rows)
    train = load_ferplus(fixture.root, "train", cache_dir=tmp_path / "cache")
    assert train.label_space == FERPLUS_LABELS
    kept = [i for i, (usage, name, _) in enumerate(rows)
            if usage == "Training" and name and i % 5 != 4]
    assert len(train) == len(kept)
    # row i was voted 8x class i % 8 plus 2x neutral
    assert list(train.labels) == [i % 8 for i in kept]
    np.testing.assert_allclose(train.soft_labels.sum(1), 1.0, rtol=1e-6)
    first = kept[1]
    assert train.soft_labels[1][first % 8] == pytest.approx(0.8)
    cached = load_ferplus(fixture.root, "train", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(cached.soft_labels, train.soft_labels)
    test = load_ferplus(fixture.root, "test")  # PublicTest + PrivateTest rows
    assert len(test) == sum(1 for i, (usage, name, _) in enumerate(rows)
                            if usage != "Training" and name and i % 5 != 4)


def test_ferplus_votes_map_onto_fer2013_classes():
    # neutral 2, happiness 6, contempt 2: contempt has no FER2013 class and is dropped
    votes = np.array([2, 6, 0, 0, 0, 0, 0, 2, 0, 0], np.float32)
    dist = ferplus_votes_as_fer2013(votes)
    expected = np.zeros(7, np.float32)
    expected[FER2013_LABELS.index("happy")] = 0.75
    expected[FER2013_LABELS.index("neutral")] = 0.25
    np.testing.assert_allclose(dist, expected)
    assert ferplus_votes_as_fer2013(np.array([0, 0, 0, 0, 0, 0, 0, 9, 1, 0], np.float32)) is None
    assert ferplus_votes_as_fer2013(np.array([3, 0, 0, 0, 0, 0, 0, 0, 6, 1], np.float32)) is None


def test_ferplus_mix_on_csv_layout(tmp_path):
    fixture = write_fer2013_csv(tmp_path / "fer2013", train_per_class=2, public_per_class=1,
                                private_per_class=1)
    rows = ferplus_rows_for_csv(fixture)
    write_ferplus_csv(tmp_path / "ferplus" / "fer2013new.csv", rows)
    plain = load_fer2013(fixture.root, "train")
    mixed = load_fer2013(fixture.root, "train", ferplus_mix=0.4)
    np.testing.assert_array_equal(mixed.labels, plain.labels)
    np.testing.assert_allclose(mixed.soft_labels.sum(1), 1.0, rtol=1e-6)
    assert (mixed.soft_labels.argmax(1) == mixed.labels).all()  # the label keeps >= 0.6
    neutral = FER2013_LABELS.index("neutral")
    for i in (0, 1, 2, 4, 7):  # rows of the Training usage come first, in file order
        own = np.eye(7, dtype=np.float32)[plain.labels[i]]
        if i % 5 == 4:  # voted unknown: one-hot
            np.testing.assert_array_equal(mixed.soft_labels[i], own)
            continue
        votes = np.zeros(7, np.float32)
        votes[neutral] += 2
        name = FERPLUS_LABELS.labels[i % 8]
        if name != "contempt":
            fer_name = {"happiness": "happy", "sadness": "sad", "anger": "angry"}.get(name, name)
            votes[FER2013_LABELS.index(fer_name)] += 8
        np.testing.assert_allclose(mixed.soft_labels[i], 0.6 * own + 0.4 * votes / votes.sum(),
                                   rtol=1e-6)


def test_ferplus_mix_on_folder_layout_through_the_mapping(tmp_path):
    fixture = write_fer2013_folders(tmp_path / "fer2013", train_per_class=1, test_per_class=1)
    plain = load_fer2013(fixture.root, "train")
    ferplus = tmp_path / "ferplus"
    rows, mapping = [], ["ferplus_png\tfer2013_jpg\tmean_abs_diff"]
    for i, source in enumerate(plain.sources):
        votes = [0] * 10
        votes[1] = 10  # every face voted happiness unanimously
        rows.append(("Training", f"fer{i:07d}.png", votes))
        if i != 0:  # the first face has no FER+ counterpart
            mapping.append(f"FER2013Train/fer{i:07d}.png\t{source}\t0.5")
    write_ferplus_csv(ferplus / "fer2013new.csv", rows)
    (ferplus / "ferplus_to_fer2013_files.tsv").write_text("\n".join(mapping) + "\n")
    mixed = load_fer2013(fixture.root, "train", cache_dir=tmp_path / "cache", ferplus_mix=0.4)
    happy = np.eye(7, dtype=np.float32)[FER2013_LABELS.index("happy")]
    own = np.eye(7, dtype=np.float32)[plain.labels]
    np.testing.assert_array_equal(mixed.soft_labels[0], own[0])
    np.testing.assert_allclose(mixed.soft_labels[1:], 0.6 * own[1:] + 0.4 * happy, rtol=1e-6)
    # the image cache stays valid for plain FER2013 (no soft labels leak into it)
    assert load_fer2013(fixture.root, "train", cache_dir=tmp_path / "cache").soft_labels is None


def test_ferplus_mix_errors_are_one_line(tmp_path):
    fixture = write_fer2013_folders(tmp_path / "fer2013", train_per_class=1, test_per_class=1)
    with pytest.raises(UserError, match="fer2013new.csv: FER\\+ label file not found"):
        load_fer2013(fixture.root, "train", ferplus_mix=0.4)
    write_ferplus_csv(tmp_path / "ferplus" / "fer2013new.csv", [])
    with pytest.raises(UserError, match="ferplus_to_fer2013_files.tsv: FER\\+ to FER2013"):
        load_fer2013(fixture.root, "train", ferplus_mix=0.4)
    with pytest.raises(UserError, match="ferplus_mix must be in"):
        load_fer2013(fixture.root, "train", ferplus_mix=1.5)
