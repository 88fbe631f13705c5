"""``emoscope prepare emotic``: real MediaPipe faces on the astronaut fixture, cache, resume."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from emoscope.data.emotic import read_emotic
from emoscope.data.emotic.dataset import load_emotic
from emoscope.data.emotic.face_cache import COLUMNS
from emoscope.data.emotic.prepare import prepare_emotic
from emotic_fixtures import make_images, write_layout

pytest.importorskip("mediapipe")


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    images = make_images({"train": 2, "val": 1, "test": 1}, seed=21)
    # The last train person loses their face: the detector must find nothing there.
    faceless = images[1].persons[1]
    x1, y1, x2, y2 = faceless.face_box
    images[1].rgb[y1:y2, x1:x2] = (100, 100, 100)
    faceless.face_box = None
    root = write_layout("preprocessed", tmp_path_factory.mktemp("emotic_prep") / "pre", images)
    out = root / "cache" / "faces.csv"
    result = CliRunner().invoke(_app(), ["prepare", "emotic", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return images, root, out, result.output


def _app():
    from emoscope.cli.main import app

    return app


def test_prepare_finds_the_astronaut_faces(prepared):
    images, root, out, output = prepared
    assert "8 person(s): 8 computed, 0 already cached, 7 with a face box" in output
    drawn = {f"{i.split}/{i.folder}/{i.filename}#{j}": p.face_box
             for i in images for j, p in enumerate(i.persons)}
    persons = read_emotic(root, face_cache=out).persons
    for person in persons:
        truth = drawn[person.key]
        if truth is None:
            assert person.face_box is None and person.face_visibility == 0.0
            continue
        assert person.face_box is not None, person.key
        assert _iou(person.face_box, truth) > 0.5, (person.key, person.face_box, truth)
        assert person.face_visibility > 90.0


def test_cache_columns_and_histogram(prepared):
    _, _, out, output = prepared
    rows = list(csv.DictReader(open(out, newline="")))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 8
    assert sum(r["face_x1"] == "" for r in rows) == 1
    histogram = out.with_name("faces_visibility.png")
    assert f"visibility histogram -> {histogram}" in output
    with Image.open(histogram) as png:
        assert png.format == "PNG" and png.width > 100


def test_second_run_skips_done_work_and_resumes(prepared):
    _, root, out, _ = prepared
    again = prepare_emotic(root, out=out)
    assert (again.computed, again.reused, again.with_face) == (0, 8, 7)
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-3]) + "\n")  # as if interrupted after 5 persons
    resumed = prepare_emotic(root, out=out)
    assert (resumed.computed, resumed.reused, resumed.with_face) == (3, 5, 7)
    assert len(out.read_text().splitlines()) == 9


def test_dataset_masks_the_face_of_the_faceless_person(prepared):
    images, root, out, _ = prepared
    dataset = load_emotic(root, "train", face_cache=out,
                          streams={name: {"size": 32} for name in ("context", "body", "face")})
    masks = [dataset[i]["stream_mask"].tolist() for i in range(len(dataset))]
    assert masks == [[1.0, 1.0, 1.0]] * 3 + [[1.0, 1.0, 0.0]]


def test_prepare_on_a_folder_without_emotic_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "emoscope.cli.main", "prepare", "emotic",
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {tmp_path}: no EMOTIC layout found: expected "
                                     "Annotations/Annotations.mat, {train,val,test}.csv "
                                     "(emotic_pre) or [archive/]annots_arrs/")
