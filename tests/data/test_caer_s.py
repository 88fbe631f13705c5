"""CAER-S: the published folder layout with face coordinates round-trips into items whose
context image has exactly the face box zeroed; key spellings and bad files; the subject mask
(box and person segmentation); ``emoscope prepare caer-s`` detects and caches faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from emoscope.data.caer_faces import read_face_coords
from emoscope.data.caer_s import load_caer_s, read_caer_s
from emoscope.data.caer_shortcut import HEIGHT, WIDTH, write_shortcut_caer
from emoscope.data.subject_mask import PersonSegmenter, box_bounds, mask_subject, zero_box
from emoscope.errors import UserError
from emoscope.labels import CAER_S_LABELS

RAW = {"size": [HEIGHT, WIDTH]}  # no resize, no normalisation: pixels / 255


@pytest.fixture
def caer_root(tmp_path):
    return write_shortcut_caer(tmp_path / "CAER-S", train_per_class=3, test_per_class=2)


def test_layout_round_trip(caer_root):
    coords = json.loads((caer_root / "train_face_coords.json").read_text())
    frames = read_caer_s(caer_root, "train")
    assert len(frames) == 9
    assert [f.relative_path for f in frames][:2] == ["train/Anger/0000.png", "train/Anger/0001.png"]
    assert {CAER_S_LABELS.labels[f.label] for f in frames} == {"Anger", "Happy", "Sad"}
    for frame in frames:
        assert list(frame.face_box) == coords[frame.relative_path]
    dataset = load_caer_s(caer_root.parent, "train", streams={"face": {"size": 16}, "context": RAW})
    assert len(dataset) == 9 and dataset.train  # split "train" augments by default
    item = load_caer_s(caer_root, "test", streams={"face": {"size": 16}, "context": RAW})[0]
    assert item["face"].shape == (3, 16, 16) and item["context"].shape == (3, HEIGHT, WIDTH)
    assert item["label"] == CAER_S_LABELS.index("Anger")
    assert item["stream_mask"].tolist() == [1.0, 0.0, 1.0]


def test_context_masked_zeroes_exactly_the_face_box(caer_root):
    dataset = load_caer_s(caer_root, "test", streams={"context": RAW})
    x1, y1, x2, y2 = (int(v) for v in dataset.frames[1].face_box)
    item = dataset[1]
    context, masked = item["context"].numpy(), item["context_masked"].numpy()
    inside = np.zeros((HEIGHT, WIDTH), bool)
    inside[y1:y2, x1:x2] = True
    assert (masked[:, inside] == 0).all()
    assert np.array_equal(masked[:, ~inside], context[:, ~inside])
    assert (context[:, inside] > 0).any()


def test_zero_box_rounds_outwards_and_clips():
    rgb = np.full((10, 12, 3), 7, np.uint8)
    out = zero_box(rgb, (2.5, 3.2, 5.1, 6.0))
    zeroed = np.argwhere(out[..., 0] == 0)
    assert zeroed[:, 0].min() == 3 and zeroed[:, 0].max() == 5  # rows 3..5
    assert zeroed[:, 1].min() == 2 and zeroed[:, 1].max() == 5  # columns 2..5
    assert len(zeroed) == 3 * 4 and (rgb == 7).all()  # the input is untouched
    assert box_bounds((-4, -2, 50, 3), 12, 10) == (0, 0, 12, 3)


def test_segmentation_masks_the_person_inside_the_box(astronaut_rgb):
    segmenter = PersonSegmenter()
    try:
        box = (100, 20, 420, 512)  # the astronaut's upper body
        masked, how = mask_subject(astronaut_rgb, box, segmenter)
        assert how == "segmentation"
        zeroed = (masked == 0).all(2) & ~(astronaut_rgb == 0).all(2)
        x1, y1, x2, y2 = box
        outside = zeroed.copy()
        outside[y1:y2, x1:x2] = False
        assert not outside.any()  # nothing outside the box is touched
        share = zeroed[y1:y2, x1:x2].mean()
        assert 0.2 < share < 0.95  # the person, not the whole box
        plain = np.full((64, 64, 3), 90, np.uint8)  # nobody there: the whole box goes
        masked, how = mask_subject(plain, (10, 10, 30, 30), segmenter)
        assert how == "box" and (masked[10:30, 10:30] == 0).all()
    finally:
        segmenter.close()


def test_key_spellings_and_folder_aliases(tmp_path):
    root = tmp_path / "caer"
    folder = root / "train" / "Angry"  # a copy spelling the class 'Angry'
    folder.mkdir(parents=True)
    Image.fromarray(np.full((20, 30, 3), 50, np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((20, 30, 3), 50, np.uint8)).save(folder / "b.png")
    (root / "train_face_coords.json").write_text(json.dumps({
        "CAER-S\\train\\Angry\\a.png": {"x1": 1, "y1": 2, "x2": 11, "y2": 12},
        "Angry/b.png": None}))
    frames = read_caer_s(root, "train")
    assert [CAER_S_LABELS.labels[f.label] for f in frames] == ["Anger", "Anger"]
    assert frames[0].face_box == (1.0, 2.0, 11.0, 12.0) and frames[1].face_box is None
    item = load_caer_s(root, "train", streams={"context": {"size": [20, 30]}}, train=False)[1]
    assert item["stream_mask"].tolist() == [1.0, 0.0, 0.0]
    assert item["face"].abs().sum() == 0  # a missing face is a masked stream
    assert item["context_masked"].equal(item["context"])
    kept = load_caer_s(root, "train", require_face=True)
    assert [f.relative_path for f in kept.frames] == ["train/Angry/a.png"]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('["a"]', "must be a JSON object"),
    ('{"train/Anger/a.png": [1, 2, 3]}', "entry 'train/Anger/a.png' is not"),
    ('{"train/Anger/a.png": [5, 2, 3, 9]}', "empty box"),
])
def test_bad_face_coordinates_fail_in_one_line(tmp_path, content, message):
    path = tmp_path / "train_face_coords.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as err:
        read_face_coords(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_bad_layouts_fail_in_one_line(tmp_path, caer_root):
    with pytest.raises(UserError, match="split folder not found"):
        read_caer_s(caer_root, "val")
    (caer_root / "train" / "Bored").mkdir()
    with pytest.raises(UserError, match="Bored: not a CAER-S class folder"):
        read_caer_s(caer_root, "train")
    with pytest.raises(UserError, match="dataset root not found"):
        read_caer_s(tmp_path / "nowhere", "train")


def test_prepare_caer_s_detects_and_caches_faces(tmp_path, astronaut_rgb):
    from emoscope.cli.main import app

    root = tmp_path / "CAER-S"
    for split in ("train", "test"):
        folder = root / split / "Happy"
        folder.mkdir(parents=True)
        canvas = np.full((360, 480, 3), 60, np.uint8)
        canvas[80:300, 150:370] = np.asarray(Image.fromarray(astronaut_rgb[20:260, 140:360])
                                             .resize((220, 220)))
        Image.fromarray(canvas).save(folder / "0001.png")
    runner = CliRunner()
    result = runner.invoke(app, ["prepare", "caer-s", str(root)])
    assert result.exit_code == 0, result.output
    assert "1 computed" in result.output
    box = json.loads((root / "train_face_coords.json").read_text())["train/Happy/0001.png"]
    assert 150 <= box[0] < box[2] <= 370 and 80 <= box[1] < box[3] <= 300
    again = runner.invoke(app, ["prepare", "caer-s", str(root), "--split", "test"])
    assert again.exit_code == 0 and "0 computed, 1 already cached" in again.output
