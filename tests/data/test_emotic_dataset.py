"""EmoticDataset items: shapes, stream masks, normalisation, flips, VAD statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoscope.data.emotic import read_emotic
from emoscope.data.emotic.dataset import EmoticDataset, VadStats, load_emotic
from emoscope.data.emotic.face_cache import FaceEntry, person_id, save_face_cache
from emoscope.data.emotic.transforms import StreamSpec
from emoscope.errors import UserError
from emoscope.registry import DATASETS
from emotic_fixtures import (
    BODY_CAT,
    CONTEXT_CAT,
    FACE_CAT,
    HEIGHT,
    WIDTH,
    make_images,
    write_layout,
)

RAW = {"context": {"size": (HEIGHT, WIDTH)}, "body": {"size": 32}, "face": {"size": 24}}


@pytest.fixture(scope="module")
def images():
    return make_images({"train": 3, "val": 2, "test": 1}, seed=11)


@pytest.fixture(scope="module")
def root(images, tmp_path_factory):
    return write_layout("mat", tmp_path_factory.mktemp("emotic_ds") / "mat", images)


def _with_fixture_faces(persons, images, drop_first: bool = True):
    """Face boxes where the fixture drew them (what prepare would cache); first one missing."""
    drawn = {f"{i.split}/{i.folder}/{i.filename}#{j}": p.face_box
             for i in images for j, p in enumerate(i.persons)}
    for n, person in enumerate(persons):
        person.face_box = None if (drop_first and n == 0) else drawn[person.key]
        person.face_visibility = None if person.face_box is None else 90.0
    return persons


def test_item_shapes_masks_and_labels(root, images):
    persons = _with_fixture_faces(read_emotic(root, "train").persons, images)
    streams = {"context": {"size": (40, 56)}, "body": StreamSpec((48, 32)),
               "face": {"input_size": (3, 28, 28), "mean": (0.5,) * 3, "std": (0.25,) * 3}}
    dataset = EmoticDataset(persons, streams)
    first, second = dataset[0], dataset[1]
    assert first["context"].shape == (3, 40, 56) and first["body"].shape == (3, 48, 32)
    assert first["face"].shape == (3, 28, 28)
    assert torch.count_nonzero(first["face"]) == 0 and first["face_mask"] == 0
    assert first["stream_mask"].tolist() == [1.0, 1.0, 0.0]
    assert second["face_mask"] == 1 and second["stream_mask"].tolist() == [1.0, 1.0, 1.0]
    assert first["categories"].shape == (26,) and first["categories"].dtype == torch.float32
    assert first["categories"].tolist() == persons[0].categories.tolist()
    assert first["vad"].tolist() == persons[0].vad.tolist()
    # The face stream is normalised with its own statistics: (x - 0.5) / 0.25 in [-2, 2].
    assert second["face"].min() >= -2.0 and second["face"].max() <= 2.0
    assert second["face"].min() < -0.5
    assert first["context"].min() >= 0.0 and first["context"].max() <= 1.0
    batch = torch.utils.data.default_collate([first, second])
    assert batch["stream_mask"].shape == (2, 3)


def test_timm_data_config_sets_size_and_statistics():
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    config = timm.data.resolve_model_data_config(model)
    spec = StreamSpec.from_data_config(config, augment="basic")
    assert spec.size == tuple(config["input_size"][1:])
    assert spec.mean == pytest.approx(config["mean"]) and spec.augment == "basic"
    with pytest.raises(UserError, match="unknown augmentation level 'heavy'"):
        StreamSpec(augment="heavy")
    with pytest.raises(UserError, match="unknown EMOTIC stream 'scene'"):
        EmoticDataset([], {"scene": {}})


def test_stream_crops_follow_the_boxes(root, images):
    persons = _with_fixture_faces(read_emotic(root, "train").persons, images, drop_first=False)
    dataset = EmoticDataset(persons, RAW)
    for index, person in enumerate(persons):
        item = dataset[index]
        context = item["context"]
        red = bool(context[0].mean() > context[2].mean())
        assert red == bool(person.categories[CONTEXT_CAT])
        yellow = (item["body"][0] > 0.8) & (item["body"][1] > 0.8) & (item["body"][2] < 0.4)
        assert bool(yellow.sum() > 20) == bool(person.categories[BODY_CAT])
        face = item["face"]
        green = (face[1] > 0.7) & (face[0] < 0.3) & (face[2] < 0.3)
        assert bool(green.sum() > 3) == bool(person.categories[FACE_CAT])


def test_body_can_be_masked_out_of_the_context(root):
    persons = read_emotic(root, "val").persons
    masked = EmoticDataset(persons, RAW, mask_body=True)[0]["context"]
    plain = EmoticDataset(persons, RAW)[0]["context"]
    x1, y1, x2, y2 = (int(v) for v in persons[0].body_box)
    assert torch.count_nonzero(masked[:, y1:y2, x1:x2]) == 0
    assert torch.count_nonzero(plain[:, y1:y2, x1:x2]) > 0
    assert torch.equal(masked[:, :, x2 + 2:], plain[:, :, x2 + 2:])


def test_one_flip_mirrors_every_stream(root, images):
    persons = _with_fixture_faces(read_emotic(root, "val").persons, images, drop_first=False)
    still = EmoticDataset(persons, RAW)[1]
    flipping = EmoticDataset(persons, RAW, train=True, hflip=True)
    seen = set()
    torch.manual_seed(0)
    for _ in range(12):
        item = flipping[1]
        flipped = torch.equal(item["context"], still["context"].flip(-1))
        if not flipped:
            assert torch.equal(item["context"], still["context"])
        for name in ("body", "face"):
            expected = still[name].flip(-1) if flipped else still[name]
            assert torch.allclose(item[name], expected, atol=0.02), name
        seen.add(flipped)
    assert seen == {True, False}


@pytest.mark.parametrize("level", ["basic", "full"])
def test_augmentation_levels(root, level):
    streams = {name: {"size": 32, "augment": level} for name in ("context", "body", "face")}
    dataset = EmoticDataset(read_emotic(root, "train").persons, streams, train=True)
    torch.manual_seed(1)
    a, b = dataset[0], dataset[0]
    assert a["context"].shape == (3, 32, 32) and torch.isfinite(a["context"]).all()
    assert not torch.equal(a["body"], b["body"])
    evaluation = EmoticDataset(dataset.persons, streams, train=False)
    assert torch.equal(evaluation[0]["body"], evaluation[0]["body"])


def test_vad_normalisation_uses_train_statistics_only(tmp_path):
    images = make_images({"train": 3, "val": 2, "test": 1}, seed=11)
    # Make val ratings reach outside the train range: normalised val values leave [-1, 1].
    train_ratings = iter([[2, 3, 4], [8, 6, 5], [5, 9, 2], [3, 4, 7], [6, 5, 5], [4, 4, 4]])
    for image in images:
        for person in image.persons:
            if image.split == "val":
                person.vad = [10.0, 1.0, 5.0]
            elif image.split == "train":
                person.vad = [float(v) for v in next(train_ratings)]
    root = write_layout("kaggle", tmp_path / "kg", images)
    train = load_emotic(root, "train", streams=RAW, normalise_vad=True)
    val = DATASETS.build("emotic", root=root, split="val", streams=RAW, normalise_vad=True)
    train_vad = np.stack([p.vad for p in train.persons])
    assert train.vad_stats == VadStats(tuple(train_vad.min(0)), tuple(train_vad.max(0)))
    assert val.vad_stats == train.vad_stats
    low, high = np.array(train.vad_stats.low), np.array(train.vad_stats.high)
    expected = 2 * (np.array([10.0, 1.0, 5.0]) - low) / (high - low) - 1
    assert val[0]["vad"].numpy() == pytest.approx(expected)
    assert all(-1 <= v <= 1 for i in range(len(train)) for v in train[i]["vad"].tolist())
    restored = VadStats.from_dict(val.preprocessing()["vad_stats"])
    assert restored == train.vad_stats
    assert restored.denormalise(val[0]["vad"].numpy()) == pytest.approx([10.0, 1.0, 5.0])
    given = load_emotic(root, "test", streams=RAW, vad_stats=restored.to_dict())
    assert given.vad_stats == train.vad_stats
    assert load_emotic(root, "test", streams=RAW).vad_stats is None
    assert not train.train or train.hflip is False  # no augmentation asked: no flips


def test_face_cache_is_read_back(root, images, tmp_path):
    data = read_emotic(root, "test")
    persons = _with_fixture_faces(data.persons, images, drop_first=True)
    entries = {person_id(p): FaceEntry(p.face_box, 0.9, 80.0 if p.face_box else 0.0)
               for p in persons}
    cache = tmp_path / "faces.csv"
    save_face_cache(cache, persons, entries)
    reread = read_emotic(root, "test", face_cache=cache).persons
    assert [p.face_box is None for p in reread] == [True, False]
    assert reread[1].face_box == pytest.approx(persons[1].face_box)
    assert reread[1].face_visibility == 80.0
    strict = load_emotic(root, "test", streams=RAW, face_cache=cache, min_face_visibility=85)
    assert [strict[i]["face_mask"].item() for i in range(2)] == [0.0, 0.0]
    loose = load_emotic(root, "test", streams=RAW, face_cache=cache)
    assert [loose[i]["face_mask"].item() for i in range(2)] == [0.0, 1.0]
