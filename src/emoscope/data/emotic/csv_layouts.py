"""The two CSV layouts of EMOTIC.

Preprocessed (PyTorch reference, ``emotic_pre/``): ``{split}.csv`` with ``Index, Folder,
Filename, Image Size, BBox, Categorical_Labels, Continuous_Labels, Gender, Age`` (list cells as
Python literals; Image Size is [rows, cols]) and optional ``{split}_context_arr.npy``,
``_body_arr.npy``, ``_cat_arr.npy``, ``_cont_arr.npy`` aligned with the rows.

Kaggle: ``annots_arrs/annot_arrs_{split}.csv`` naming the whole-image array (``Arr_name``) and
the body-crop array (``Crop_name``) in ``img_arrs/``, the body box, ``Valence``, ``Arousal``,
``Dominance`` and one 0/1 column per category.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from emoscope.data.emotic.records import (
    ArraySource,
    Columns,
    EmoticData,
    EmoticPerson,
    RowProblem,
    SkippedRow,
    category_index,
    check_multi_hot,
    check_vad,
    clip_box,
    literal_list,
    multi_hot,
    positive_int,
    text_value,
)
from emoscope.errors import DataFormatError
from emoscope.labels import EMOTIC_CATEGORIES

log = logging.getLogger(__name__)


def read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"cannot read CSV ({str(err).splitlines()[0][:120]})") \
            from None


# ---------------------------------------------------------------- preprocessed CSV + NPY

def find_preprocessed(root: Path) -> Path | None:
    for folder in (root, root / "emotic_pre"):
        if any((folder / f"{s}.csv").is_file() for s in ("train", "val", "test")):
            return folder
    return None


def _image_roots(csv_dir: Path) -> list[Path]:
    """Where ``Folder/Filename`` may live: beside the CSVs or in a sibling ``emotic/``."""
    roots = [csv_dir, csv_dir / "emotic", csv_dir.parent / "emotic", csv_dir.parent]
    return [r for r in roots if r.is_dir()]


def _optional_arrays(csv_dir: Path, split: str, rows: int) -> dict[str, np.ndarray]:
    arrays = {}
    for name in ("context", "body", "cat", "cont"):
        path = csv_dir / f"{split}_{name}_arr.npy"
        if not path.is_file():
            continue
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise DataFormatError(path, f"cannot read array ({err})") from None
        if len(array) != rows:
            raise DataFormatError(path, f"{len(array)} rows but {split}.csv has {rows}")
        arrays[name] = array
    return arrays


def _find_image(roots: list[Path], folder: str, filename: str) -> Path | None:
    for root in roots:
        candidate = root / folder / filename
        if candidate.is_file():
            return candidate
    return None


def _checked_size(path: Path, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the file when ``Image Size`` was written as [cols, rows].

    The published cell is [rows, cols]; copies that swapped it would clip every box wrongly,
    so the file's header (cheap: no pixels are decoded) settles it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            actual = image.size
    except (OSError, UnidentifiedImageError):
        return width, height  # unreadable files fail with their own message when loaded
    if actual != (width, height) and actual == (height, width):
        log.debug("%s: Image Size is [cols, rows]; using the file's %dx%d", path, *actual)
        return actual
    return width, height


def _preprocessed_row(row: pd.Series, cols: dict[str, str], split: str, position: int,
                      roots: list[Path], arrays: dict[str, np.ndarray],
                      csv_path: Path) -> EmoticPerson:
    folder, filename = text_value(row[cols["folder"]]), text_value(row[cols["filename"]])
    size = literal_list(row[cols["size"]], "image size")
    if len(size) < 2:
        raise RowProblem(f"bad image size {size}")
    height, width = positive_int(size[0], "image height"), positive_int(size[1], "image width")
    image_path = _find_image(roots, folder, filename)
    if image_path is not None:
        width, height = _checked_size(image_path, width, height)
    box = clip_box(literal_list(row[cols["bbox"]], "body box"), width, height)
    categories = multi_hot(literal_list(row[cols["cat"]], "categories"))
    vad = check_vad(literal_list(row[cols["cont"]], "continuous labels"))
    if "cat" in arrays and not np.array_equal(np.asarray(arrays["cat"][position]) > 0.5,
                                              categories > 0.5):
        raise RowProblem(f"categories disagree with {split}_cat_arr.npy")
    if "cont" in arrays and not np.allclose(np.asarray(arrays["cont"][position], float), vad):
        raise RowProblem(f"continuous labels disagree with {split}_cont_arr.npy")
    image_array = body_array = None
    if image_path is None:
        if "context" not in arrays:
            raise RowProblem(f"missing image file: {folder}/{filename}")
        image_array = ArraySource(csv_path.parent / f"{split}_context_arr.npy", position)
        if "body" in arrays:
            body_array = ArraySource(csv_path.parent / f"{split}_body_arr.npy", position)
    return EmoticPerson(
        key=f"{split}/{folder}/{filename}", split=split, image_path=image_path, width=width,
        height=height, body_box=box, categories=categories, vad=vad,
        gender=text_value(row[cols["gender"]]) if cols.get("gender") else "",
        age=text_value(row[cols["age"]]) if cols.get("age") else "",
        image_array=image_array, body_array=body_array,
    )


def read_preprocessed_layout(root: Path, splits: tuple[str, ...]) -> EmoticData:
    """Persons from ``{split}.csv`` (+ arrays); rows that cannot be used are skipped."""
    csv_dir = find_preprocessed(root) or root
    data = EmoticData([], layout="preprocessed", root=root)
    roots = _image_roots(csv_dir)
    for split in splits:
        csv_path = csv_dir / f"{split}.csv"
        if not csv_path.is_file():
            raise DataFormatError(csv_path, "file not found")
        table = read_table(csv_path)
        columns = Columns(csv_path, table.columns)
        cols = {
            "folder": columns.require("Folder"),
            "filename": columns.require("Filename", "File Name"),
            "size": columns.require("Image Size", "ImageSize", "Image_Size"),
            "bbox": columns.require("BBox", "Bounding Box", "Body BBox", "Body_Bbox"),
            "cat": columns.require("Categorical_Labels", "Categorical Labels", "Categories"),
            "cont": columns.require("Continuous_Labels", "Continuous Labels", "Continuous"),
            "gender": columns.find("Gender"),
            "age": columns.find("Age"),
        }
        arrays = _optional_arrays(csv_dir, split, len(table))
        seen: dict[str, int] = {}
        for position, row in table.iterrows():
            label = f"row {position + 2}"  # 1-based, after the header line
            try:
                person = _preprocessed_row(row, cols, split, int(position), roots, arrays,
                                           csv_path)
            except RowProblem as problem:
                data.skipped.append(SkippedRow(csv_path.name, label, str(problem)))
                continue
            _add_numbered(data, seen, person)
    return data


def _add_numbered(data: EmoticData, seen: dict[str, int], person: EmoticPerson) -> None:
    """Append ``person`` with its image key made unique: the n-th person of an image gets #n."""
    ordinal = seen.get(person.key, 0)
    seen[person.key] = ordinal + 1
    person.key = f"{person.key}#{ordinal}"
    data.persons.append(person)


# ---------------------------------------------------------------- Kaggle annots_arrs

def find_kaggle(root: Path) -> Path | None:
    """The folder holding ``annots_arrs/`` and ``img_arrs/``."""
    for folder in (root, root / "archive"):
        if (folder / "annots_arrs").is_dir():
            return folder
    return None


_BOX_SPELLINGS = (
    ("X_min", "Xmin", "x1", "BBox_x1", "Left"),
    ("Y_min", "Ymin", "y1", "BBox_y1", "Top"),
    ("X_max", "Xmax", "x2", "BBox_x2", "Right"),
    ("Y_max", "Ymax", "y2", "BBox_y2", "Bottom"),
)


def _kaggle_columns(columns: Columns) -> dict[str, object]:
    cols: dict[str, object] = {
        "arr": columns.require("Arr_name", "Array Name", "Arr"),
        "crop": columns.find("Crop_name", "Crop Name", "Crop"),
        "filename": columns.find("Filename", "File Name"),
        "folder": columns.find("Folder"),
        "width": columns.find("Width", "Image Width"),
        "height": columns.find("Height", "Image Height"),
        "gender": columns.find("Gender"),
        "age": columns.find("Age"),
        "vad": [columns.require(n) for n in ("Valence", "Arousal", "Dominance")],
    }
    box = [columns.find(*spellings) for spellings in _BOX_SPELLINGS]
    if all(box):
        cols["box"] = box
    else:
        cols["bbox"] = columns.find("BBox", "Bounding Box", "Body BBox")
        if cols["bbox"] is None:
            columns.require("X_min")  # raises naming the missing box column
    by_index: dict[int, str] = {}
    for name in columns.names:
        index = category_index(str(name))
        if index is not None:
            by_index[index] = name
    missing = [EMOTIC_CATEGORIES.labels[i] for i in range(EMOTIC_CATEGORIES.num_classes)
               if i not in by_index]
    if missing:
        columns.require(missing[0])
    cols["categories"] = [by_index[i] for i in range(EMOTIC_CATEGORIES.num_classes)]
    return cols


def _array_shape(path: Path) -> tuple[int, ...]:
    try:
        return tuple(np.load(path, mmap_mode="r").shape)
    except (OSError, ValueError) as err:
        raise RowProblem(f"unreadable array {path.name} ({err.__class__.__name__})") from None


def _kaggle_row(row: pd.Series, cols: dict, split: str, array_dir: Path) -> EmoticPerson:
    arr_name = text_value(row[cols["arr"]])
    if not arr_name:
        raise RowProblem("missing Arr_name")
    arr_path = array_dir / arr_name
    if not arr_path.is_file():
        raise RowProblem(f"missing image array: {arr_path}")
    if cols["width"] and cols["height"]:
        width = positive_int(row[cols["width"]], "image width")
        height = positive_int(row[cols["height"]], "image height")
    else:
        shape = _array_shape(arr_path)
        height, width = shape[0], shape[1]
    if "box" in cols:
        raw_box = [row[c] for c in cols["box"]]
    else:
        raw_box = literal_list(row[cols["bbox"]], "body box")
    box = clip_box(raw_box, width, height)
    categories = check_multi_hot([row[c] if row[c] != "" else "nan" for c in cols["categories"]])
    vad = check_vad([row[c] if row[c] != "" else "nan" for c in cols["vad"]])
    body_array = None
    crop_name = text_value(row[cols["crop"]]) if cols["crop"] else ""
    if crop_name and (array_dir / crop_name).is_file():
        body_array = ArraySource(array_dir / crop_name)
    name = text_value(row[cols["filename"]]) if cols["filename"] else arr_name
    folder = text_value(row[cols["folder"]]) if cols["folder"] else ""
    return EmoticPerson(
        key=f"{split}/{folder}/{name}" if folder else f"{split}/{name}", split=split,
        image_path=None, width=width, height=height, body_box=box, categories=categories,
        vad=vad, gender=text_value(row[cols["gender"]]) if cols["gender"] else "",
        age=text_value(row[cols["age"]]) if cols["age"] else "",
        image_array=ArraySource(arr_path), body_array=body_array,
    )


def read_kaggle_layout(root: Path, splits: tuple[str, ...],
                       include_extra: bool = False) -> EmoticData:
    """Persons from ``annots_arrs/annot_arrs_{split}.csv``; unusable rows are skipped."""
    base = find_kaggle(root) or root
    data = EmoticData([], layout="kaggle", root=root)
    array_dir = base / "img_arrs"
    for split in splits:
        names = [f"annot_arrs_{split}.csv"]
        if split == "train" and include_extra:
            names.append("annot_arrs_extra_train.csv")
        for name in names:
            csv_path = base / "annots_arrs" / name
            if not csv_path.is_file():
                raise DataFormatError(csv_path, "file not found")
            table = read_table(csv_path)
            cols = _kaggle_columns(Columns(csv_path, table.columns))
            seen: dict[str, int] = {}
            for position, row in table.iterrows():
                try:
                    person = _kaggle_row(row, cols, split, array_dir)
                except RowProblem as problem:
                    data.skipped.append(SkippedRow(csv_path.name, f"row {position + 2}",
                                                   str(problem)))
                    continue
                _add_numbered(data, seen, person)
    return data
