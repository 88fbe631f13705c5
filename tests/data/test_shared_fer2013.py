"""Integration with the real FER2013 copy in ``../shared/data`` (skipped when it is absent)."""

from __future__ import annotations

import pytest

from emoscope.data.fer2013 import load_fer2013, load_ferplus
from emoscope.labels import FER2013_LABELS, FERPLUS_LABELS
from emoscope.models.files.zoo import WEIGHTS_DIR

pytestmark = pytest.mark.shared_data

# From the data README: PublicTest (the folder layout's test/) and train per-class counts.
PUBLIC_TEST = {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607,
               "sad": 653, "surprise": 415}
TRAIN = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "neutral": 4965,
         "sad": 4830, "surprise": 3171}


@pytest.fixture(scope="module")
def fer2013_root(shared_data):
    root = shared_data / "fer2013"
    if not (root / "test").is_dir():
        pytest.skip(f"{root} has no test/ folder")
    return root


@pytest.fixture(scope="module")
def public_test(fer2013_root):
    return load_fer2013(fer2013_root, "test")


def test_test_split_counts(public_test):
    assert len(public_test) == 3589
    counts = dict(zip(FER2013_LABELS.labels, public_test.class_counts().tolist(), strict=True))
    assert counts == PUBLIC_TEST
    assert public_test.images.shape[1:] == (48, 48)


def test_train_folder_counts(fer2013_root):
    counts = {name: sum(1 for _ in (fer2013_root / "train" / name).glob("*.jpg"))
              for name in TRAIN}
    assert counts == TRAIN


def test_ferplus_labels_on_the_jpegs(shared_data, fer2013_root):
    if not (shared_data / "ferplus" / "fer2013new.csv").is_file():
        pytest.skip("no FER+ labels in the shared data")
    test = load_ferplus(fer2013_root, "test")
    assert test.label_space == FERPLUS_LABELS
    assert 3000 < len(test) <= 3589  # unknown/NF-majority faces are dropped
    assert test.soft_labels.shape == (len(test), 8)


@pytest.mark.slow
@pytest.mark.skipif(not (WEIGHTS_DIR / "fer2013-lite0.json").is_file(),
                    reason="the shipped model is not in src/emoscope/weights yet")
def test_shipped_model_scores_what_its_card_says(fer2013_root):
    from emoscope.evaluation.evaluate import evaluate_model
    from emoscope.models.files.checkpoint import read_card

    report = evaluate_model(None, "fer2013", fer2013_root, "test", batch_size=512)
    assert report["n"] == 3589
    scores = read_card(WEIGHTS_DIR / "fer2013-lite0.json").scores
    claimed = scores.get("fer2013_publictest_accuracy", scores.get("val/accuracy"))
    assert report["accuracy"] > 0.55
    if claimed is not None:
        assert report["accuracy"] == pytest.approx(claimed, abs=0.005)
