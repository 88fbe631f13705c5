"""Tiny EMOTIC datasets in the three published layouts, written from one description.

Every image is a plain background with one or two persons; each person is a grey body box with
a real face (a crop of ``skimage.data.astronaut()``) at its top, so face detectors find it.
In the learnable variant the labels follow what is drawn:

- context: a red background sets category 0 (Affection) and valence 7 (else 3);
- body: a circle in the body box sets category 1 (Anger) and arousal 7 (else a square, 3);
- face: a green mark on the face sets category 2 (Annoyance) and dominance 7 (else 3);
- category 11 (Engagement) is always set, so no person is without categories.

``bad=True`` adds a train image whose persons are each broken in one way (box outside the
image, zero-area box, NaN valence, no categories) and a train image whose file is missing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from emoscope.labels import EMOTIC_CATEGORIES

WIDTH, HEIGHT = 200, 160
BODY_W, BODY_H = 84, 130
FACE_W, FACE_H = 56, 60
FACE_DX, FACE_DY = 14, 4  # face position inside the body box
CONTEXT_CAT, BODY_CAT, FACE_CAT, ALWAYS_CAT = 0, 1, 2, 11
FOLDERS = ("mscoco/images", "framesdb/images")
BAD_REASONS = ("body box outside the image", "zero-area body box", "missing continuous labels",
               "no categories", "missing image")


@dataclass
class FixturePerson:
    box: list[float]  # as published: may reach outside the image
    categories: list[str]
    vad: list[float]
    gender: str = "Female"
    age: str = "Adult"
    face_box: tuple[int, int, int, int] | None = None  # where the face was drawn
    annotators: list[list[str]] = field(default_factory=list)  # val/test: raw annotations


@dataclass
class FixtureImage:
    split: str
    folder: str
    filename: str
    rgb: np.ndarray
    persons: list[FixturePerson]
    write_file: bool = True

    @property
    def size(self) -> tuple[int, int]:  # (rows, cols) as published
        return self.rgb.shape[0], self.rgb.shape[1]


_FACE_CACHE: list[np.ndarray] = []


def astronaut_face(width: int = FACE_W, height: int = FACE_H, flip: bool = False) -> np.ndarray:
    """The astronaut's face with a little margin, resized to (height, width, 3)."""
    if not _FACE_CACHE:
        from skimage import data

        _FACE_CACHE.append(data.astronaut()[60:200, 160:290])
    face = Image.fromarray(_FACE_CACHE[0]).resize((width, height), Image.BILINEAR)
    face = np.asarray(face)
    return face[:, ::-1].copy() if flip else face


def _draw_person(canvas: np.ndarray, x1: int, y1: int, shape: str, mark: bool,
                 rng: np.random.Generator) -> tuple[int, int, int, int]:
    x2, y2 = min(x1 + BODY_W, canvas.shape[1]), min(y1 + BODY_H, canvas.shape[0])
    canvas[y1:y2, x1:x2] = rng.integers(90, 110, 3)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    cx, cy = x1 + BODY_W // 2, y1 + FACE_H + 36
    if shape == "circle":
        draw.ellipse([cx - 18, cy - 18, cx + 18, cy + 18], fill=(250, 250, 40))
    else:
        draw.rectangle([cx - 16, cy - 16, cx + 16, cy + 16], fill=(40, 40, 250))
    canvas[:] = np.asarray(image)
    fx, fy = x1 + FACE_DX, y1 + FACE_DY
    face = astronaut_face(flip=bool(rng.integers(2)))
    if mark:
        face = face.copy()
        face[4:16, 4:16] = (20, 230, 20)
    canvas[fy:fy + FACE_H, fx:fx + FACE_W] = face
    return fx, fy, fx + FACE_W, fy + FACE_H


def _categories(red: bool, circle: bool, mark: bool) -> list[str]:
    names = EMOTIC_CATEGORIES.labels
    chosen = [ALWAYS_CAT] + [c for c, on in ((CONTEXT_CAT, red), (BODY_CAT, circle),
                                            (FACE_CAT, mark)) if on]
    return [names[i] for i in sorted(chosen)]


def _image(split: str, index: int, rng: np.random.Generator, persons: int) -> FixtureImage:
    red = bool(rng.integers(2))
    background = (200, 40, 40) if red else (40, 160, 200)
    canvas = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    canvas[:] = np.clip(np.asarray(background) + rng.integers(-15, 16, (HEIGHT, WIDTH, 3)),
                        0, 255)
    people = []
    for k in range(persons):
        x1, y1 = 8 + 100 * k, 20 + int(rng.integers(0, 8))
        circle, mark = bool(rng.integers(2)), bool(rng.integers(2))
        face_box = _draw_person(canvas, x1, y1, "circle" if circle else "square", mark, rng)
        # The second person's published box reaches past the right edge: readers clip it.
        box = [float(x1), float(y1), float(x1 + BODY_W + (20 if k else 0)), float(y1 + BODY_H)]
        vad = [7.0 if red else 3.0, 7.0 if circle else 3.0, 7.0 if mark else 3.0]
        cats = _categories(red, circle, mark)
        person = FixturePerson(box, cats, vad, gender=("Male", "Female")[k % 2],
                               face_box=face_box)
        if split != "train":
            # Annotators disagree; the combined labels (used for evaluation) are the union.
            person.annotators = [cats[:1], cats]
        people.append(person)
    folder = FOLDERS[index % len(FOLDERS)]
    return FixtureImage(split, folder, f"{split}_{index:03d}.jpg", canvas, people)


def make_images(counts: dict[str, int] | None = None, seed: int = 0, persons: int = 2,
                bad: bool = False) -> list[FixtureImage]:
    """Images and persons for every split (``counts``: images per split)."""
    counts = counts or {"train": 4, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    images = [_image(split, i, rng, persons) for split, n in counts.items() for i in range(n)]
    if bad:
        images += _bad_images(rng)
    return images


def _bad_images(rng: np.random.Generator) -> list[FixtureImage]:
    broken = _image("train", 900, rng, 1)
    good = broken.persons[0]
    outside = FixturePerson([WIDTH + 10.0, 5.0, WIDTH + 60.0, 90.0], good.categories, good.vad)
    zero = FixturePerson([30.0, 40.0, 30.0, 120.0], good.categories, good.vad)
    nan_vad = FixturePerson(list(good.box), good.categories, [float("nan"), 5.0, 5.0])
    no_cats = FixturePerson(list(good.box), [], good.vad)
    broken.persons = [outside, zero, nan_vad, no_cats]
    missing = _image("train", 901, rng, 1)
    missing.write_file = False
    return [broken, missing]


def _save_images(images: list[FixtureImage], image_root: Path) -> None:
    for image in images:
        if image.write_file:
            path = image_root / image.folder / image.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            # PNG bytes under the published .jpg name: lossless, so every layout sees the
            # same pixels (PIL reads by content, not by suffix).
            Image.fromarray(image.rgb).save(path, format="PNG")


# ---------------------------------------------------------------- original .mat layout

def _struct_array(rows: list[dict], fields: tuple[str, ...]) -> np.ndarray:
    array = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for name in fields:
            array[0, i][name] = row[name]
    return array


def _cell(names: list[str]) -> np.ndarray:
    cell = np.empty((1, len(names)), dtype=object)
    for i, name in enumerate(names):
        cell[0, i] = name
    return cell


def _continuous(vad: list[float]) -> dict:
    names = ("valence", "arousal", "dominance")
    return {k: np.array([[v]], float) for k, v in zip(names, vad, strict=True)}


def _mat_person(person: FixturePerson, split: str) -> dict:
    row = {"body_bbox": np.array([person.box], float), "gender": person.gender,
           "age": person.age}
    if split == "train":
        row["annotations_categories"] = {"categories": _cell(person.categories)}
        row["annotations_continuous"] = _continuous(person.vad)
        return row
    annotators = person.annotators or [person.categories]
    row["annotations_categories"] = _struct_array(
        [{"categories": _cell(a)} for a in annotators], ("categories",))
    row["annotations_continuous"] = _struct_array(
        [_continuous(person.vad) for _ in annotators], ("valence", "arousal", "dominance"))
    row["combined_categories"] = _cell(person.categories)
    row["combined_continuous"] = _continuous(person.vad)
    return row


def write_mat_layout(root: Path, images: list[FixtureImage]) -> Path:
    """``root/emotic/<folder>/<file>`` + ``root/Annotations/Annotations.mat``."""
    from scipy.io import savemat

    _save_images(images, root / "emotic")
    structs = {}
    for split in ("train", "val", "test"):
        person_fields = ("body_bbox", "annotations_categories", "annotations_continuous",
                         "gender", "age")
        if split != "train":
            person_fields += ("combined_categories", "combined_continuous")
        rows = []
        for image in (i for i in images if i.split == split):
            rows.append({
                "filename": image.filename, "folder": image.folder,
                "image_size": {"n_row": np.array([[image.size[0]]], float),
                               "n_col": np.array([[image.size[1]]], float)},
                "original_database": {"name": image.folder.split("/")[0]},
                "person": _struct_array([_mat_person(p, split) for p in image.persons],
                                        person_fields),
            })
        structs[split] = _struct_array(
            rows, ("filename", "folder", "image_size", "original_database", "person"))
    path = root / "Annotations" / "Annotations.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), structs)
    return root


# ---------------------------------------------------------------- preprocessed CSV + NPY

PREPROCESSED_COLUMNS = ("Index", "Folder", "Filename", "Image Size", "BBox",
                        "Categorical_Labels", "Continuous_Labels", "Gender", "Age")


def _fmt(value: float) -> str:
    return "nan" if np.isnan(value) else f"{value:g}"


def _list_cell(values: list[float]) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))


def _body_crop(image: FixtureImage, person: FixturePerson) -> np.ndarray:
    x1, y1, x2, y2 = (int(round(v)) for v in person.box)
    x1, y1 = max(x1, 0), max(y1, 0)
    crop = image.rgb[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    return crop if crop.size else np.zeros((1, 1, 3), np.uint8)


def write_preprocessed_layout(root: Path, images: list[FixtureImage], arrays: bool = False,
                              image_files: bool = True, columns=PREPROCESSED_COLUMNS) -> Path:
    """``root/{split}.csv`` (+ ``{split}_*_arr.npy``) with the image folders beside them."""
    root.mkdir(parents=True, exist_ok=True)
    if image_files:
        _save_images(images, root)
    for split in ("train", "val", "test"):
        rows, context, body, cats, cont = [], [], [], [], []
        for image in (i for i in images if i.split == split):
            for person in image.persons:
                rows.append([len(rows), image.folder, image.filename,
                             f"[{image.size[0]}, {image.size[1]}]", _list_cell(person.box),
                             str(list(person.categories)), _list_cell(person.vad),
                             person.gender, person.age])
                context.append(_resize(image.rgb, 224))
                body.append(_resize(_body_crop(image, person), 128))
                cats.append([float(n in person.categories) for n in EMOTIC_CATEGORIES.labels])
                cont.append(person.vad)
        with open(root / f"{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
        if arrays:
            np.save(root / f"{split}_context_arr.npy", np.stack(context))
            np.save(root / f"{split}_body_arr.npy", np.stack(body))
            np.save(root / f"{split}_cat_arr.npy", np.asarray(cats, np.float32))
            np.save(root / f"{split}_cont_arr.npy", np.asarray(cont, np.float32))
    return root


# ---------------------------------------------------------------- Kaggle annots_arrs

KAGGLE_HEAD = ("Filename", "Folder", "Width", "Height", "Age", "Gender", "X_min", "Y_min",
               "X_max", "Y_max", "Arr_name", "Crop_name", "Valence", "Arousal", "Dominance")
# Kaggle copies list categories in the paper's figure order, not the canonical one.
KAGGLE_CATEGORY_ORDER = tuple(sorted(EMOTIC_CATEGORIES.labels, key=lambda n: (len(n), n)))


def write_kaggle_layout(root: Path, images: list[FixtureImage], head=KAGGLE_HEAD) -> Path:
    """``root/archive/annots_arrs/annot_arrs_{split}.csv`` + ``root/archive/img_arrs/*.npy``."""
    base = root / "archive"
    (base / "annots_arrs").mkdir(parents=True, exist_ok=True)
    (base / "img_arrs").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        rows = []
        for image in (i for i in images if i.split == split):
            for person in image.persons:
                n = len(rows)
                arr_name, crop_name = f"arr_{split}_{n}.npy", f"crop_{split}_{n}.npy"
                if image.write_file:
                    np.save(base / "img_arrs" / arr_name, image.rgb)
                    np.save(base / "img_arrs" / crop_name, _body_crop(image, person))
                values = {"Filename": image.filename, "Folder": image.folder,
                          "Width": image.size[1], "Height": image.size[0], "Age": person.age,
                          "Gender": person.gender, "Arr_name": arr_name,
                          "Crop_name": crop_name}
                values.update(zip(("X_min", "Y_min", "X_max", "Y_max"),
                                  (_fmt(v) for v in person.box), strict=True))
                vad = ("" if np.isnan(v) else _fmt(v) for v in person.vad)
                values.update(zip(("Valence", "Arousal", "Dominance"), vad, strict=True))
                cats = [int(name in person.categories) for name in KAGGLE_CATEGORY_ORDER]
                rows.append([values[h] for h in KAGGLE_HEAD] + cats)
        with open(base / "annots_arrs" / f"annot_arrs_{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(head) + list(KAGGLE_CATEGORY_ORDER))
            writer.writerows(rows)
    return root


WRITERS = {"mat": write_mat_layout, "preprocessed": write_preprocessed_layout,
           "kaggle": write_kaggle_layout}


def write_layout(layout: str, root: Path, images: list[FixtureImage], **options) -> Path:
    return WRITERS[layout](root, images, **options)


def write_face_cache(root: Path, images: list[FixtureImage], drop_every: int = 0) -> Path:
    """``ROOT/emotic_faces.csv`` with the faces where they were drawn (what ``emoscope prepare
    emotic`` would find); with ``drop_every=k`` every k-th person has no face."""
    from emoscope.data.emotic.face_cache import (
        FaceEntry,
        default_cache_path,
        person_id,
        save_face_cache,
    )
    from emoscope.data.emotic.reader import read_emotic

    drawn = {f"{i.split}/{i.folder}/{i.filename}#{j}": p.face_box
             for i in images for j, p in enumerate(i.persons)}
    persons = read_emotic(root).persons
    entries = {}
    for n, person in enumerate(persons):
        box = drawn.get(person.key)
        if drop_every and n % drop_every == 0:
            box = None
        entries[person_id(person)] = FaceEntry(box, 0.9 if box else 0.0, 90.0 if box else 0.0)
    path = default_cache_path(root)
    save_face_cache(path, persons, entries)
    return path
